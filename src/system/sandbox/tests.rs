//! The sandbox's mechanisms applied for real. A sandbox cannot be undone, so each test that
//! applies one runs again in a child process of this test binary (libtest's `--exact`,
//! with `CHILD` set), applies it there and tries what must fail; the parent checks the
//! child passed and really ran that one test.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};

use super::*;

/// Set in the child process: the directory the test works in.
const CHILD: &str = "DOCGATE_SANDBOX_TEST_CHILD";

/// Runs `test` (this module's test function name) in a child process with `dir`, and
/// asserts it passed.
fn run_in_child(test: &str, dir: &Path) {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, rest)| rest);
    let name = format!("{module}::{test}");
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([&name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .output()
        .expect("run the child");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// The directory the parent handed to this child, or `None` in the parent.
fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

fn denied(result: std::io::Result<impl Sized>, what: &str) {
    match result {
        Ok(_) => panic!("{what} was allowed"),
        Err(error) => assert_eq!(
            error.kind(),
            std::io::ErrorKind::PermissionDenied,
            "{what}: {error}"
        ),
    }
}

#[test]
fn landlock_keeps_the_process_to_its_grants() {
    let Some(dir) = child_dir() else {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["config", "state/a", "state/b", "outside"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::write(dir.path().join("config/docgate.toml"), "x").expect("write");
        std::fs::write(dir.path().join("outside/secret"), "secret").expect("write");
        std::fs::write(dir.path().join("state/a/blob"), "blob").expect("write");
        run_in_child("landlock_keeps_the_process_to_its_grants", dir.path());
        return;
    };
    let grant = |path: &str, writable| Grant {
        path: dir.join(path),
        writable,
        why: "test",
    };
    let outcome = files::restrict(
        &[grant("config", false), grant("state", true)],
        &Environment::default(),
    )
    .expect("restrict");
    assert!(
        matches!(outcome, FilesOutcome::Enforced { .. }),
        "this kernel has Landlock: {outcome:?}"
    );
    // Reading: the granted directory yes, a file beside it no.
    assert_eq!(
        std::fs::read_to_string(dir.join("config/docgate.toml")).expect("read config"),
        "x"
    );
    denied(std::fs::read(dir.join("outside/secret")), "reading outside");
    denied(std::fs::read_dir(dir.join("outside")), "listing outside");
    // Writing: the state directory yes (create, rename across directories, remove),
    // the read-only configuration and anything else no.
    std::fs::write(dir.join("state/new"), "new").expect("write in state");
    std::fs::rename(dir.join("state/a/blob"), dir.join("state/b/blob")).expect("rename");
    std::fs::remove_file(dir.join("state/new")).expect("remove in state");
    denied(
        std::fs::write(dir.join("config/new"), "x"),
        "writing config",
    );
    denied(
        std::fs::write(dir.join("config/docgate.toml"), "changed"),
        "changing config",
    );
    denied(
        std::fs::write(dir.join("outside/new"), "x"),
        "writing outside",
    );
    denied(
        std::fs::write("/tmp/docgate-landlock-test", "x"),
        "writing /tmp",
    );
    // Executing: nothing (no grant carries the right).
    let program = dir.join("state/program");
    std::fs::write(&program, "#!/bin/sh\n").expect("write program");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    denied(Command::new(&program).status(), "executing");
}

#[test]
fn seccomp_refuses_calls_outside_the_allow_list_with_eperm() {
    let Some(dir) = child_dir() else {
        // Without the filter the same calls succeed here (or fail otherwise than by
        // the filter), so what the child sees is the filter's doing.
        assert!(nix::sys::personality::get().is_ok());
        run_in_child(
            "seccomp_refuses_calls_outside_the_allow_list_with_eperm",
            Path::new("/"),
        );
        return;
    };
    let _ = dir;
    let root = nix::unistd::geteuid().is_root();
    // The daemon's listener is bound before the filters; so is this one.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
    let address = listener.local_addr().expect("address");
    syscalls::restrict().expect("install the filters");
    // Refused with EPERM: calls the daemon never makes.
    assert_eq!(
        nix::sys::personality::get(),
        Err(Errno::EPERM),
        "personality"
    );
    assert_eq!(
        nix::unistd::setuid(nix::unistd::Uid::from_raw(0)),
        Err(Errno::EPERM),
        "setuid(0) (allowed to root without the filter)"
    );
    assert_eq!(
        socket::socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::empty(),
            None
        )
        .err(),
        Some(Errno::EPERM),
        "an AF_PACKET socket (root: {root})"
    );
    assert_eq!(
        socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::empty(),
            None
        )
        .err(),
        Some(Errno::EPERM),
        "an AF_NETLINK socket"
    );
    // No new listening port: bind and listen are the daemon's before the sandbox only.
    let another = std::net::TcpListener::bind("127.0.0.1:0");
    assert_eq!(
        another.map_err(|error| error.raw_os_error()).err(),
        Some(Some(Errno::EPERM as i32)),
        "binding a new port"
    );
    // No new process: fork, vfork and clone without CLONE_THREAD are refused.
    assert!(Command::new("/bin/true").status().is_err(), "spawning");
    // Allowed: what the daemon does.
    let inet = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    );
    assert!(inet.is_ok(), "an AF_INET socket: {inet:?}");
    let connected = std::net::TcpStream::connect(address);
    assert!(connected.is_ok(), "connect: {connected:?}");
    let accepted = listener.accept();
    assert!(accepted.is_ok(), "accept: {accepted:?}");
    let thread = std::thread::spawn(|| 6 * 7).join();
    assert_eq!(
        thread.ok(),
        Some(42),
        "a thread (clone3 refused, clone allowed)"
    );
    let me = std::fs::read(std::env::current_exe().expect("exe"));
    assert!(me.is_ok(), "reading a file");
}

#[test]
fn dropping_to_a_user_leaves_no_way_back_to_root() {
    let Some(dir) = child_dir() else {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("not root: dropping to another user cannot be tried; skipped");
            return;
        }
        run_in_child(
            "dropping_to_a_user_leaves_no_way_back_to_root",
            Path::new("/"),
        );
        return;
    };
    let _ = dir;
    let dropped = drop_to("nobody").expect("drop to nobody");
    assert_ne!(dropped.uid, 0);
    assert_eq!(nix::unistd::geteuid().as_raw(), dropped.uid);
    assert!(nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).is_err());
    assert!(!Privileges::of_this_process().expect("read").is_privileged());
    assert!(
        nix::sys::prctl::get_no_new_privs().expect("read"),
        "no new privileges"
    );
    denied(
        std::fs::read("/etc/shadow"),
        "reading /etc/shadow as nobody",
    );
}

#[test]
fn the_allow_list_compiles_gives_a_reason_for_every_call_and_leaves_out_the_dangerous_ones() {
    syscalls::compile().expect("syscalls.json compiles for this architecture");
    let policy: serde_json::Value =
        serde_json::from_str(syscalls::POLICY_JSON).expect("syscalls.json is JSON");
    assert_eq!(
        policy["docgate"]["default_action"],
        serde_json::json!({"errno": 1})
    );
    for rule in policy["docgate"]["filter"].as_array().expect("rules") {
        let comment = rule["comment"].as_str().unwrap_or("");
        assert!(comment.len() >= 8, "no reason given for {rule}");
    }
    let allowed = syscalls::allowed_names();
    assert!(allowed.len() > 50, "{allowed:?}");
    for forbidden in [
        "execve",
        "execveat",
        "fork",
        "vfork",
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "unshare",
        "setns",
        "setuid",
        "setgid",
        "setresuid",
        "setresgid",
        "setgroups",
        "capset",
        "personality",
        "bpf",
        "perf_event_open",
        "init_module",
        "finit_module",
        "delete_module",
        "kexec_load",
        "reboot",
        "swapon",
        "keyctl",
        "add_key",
        "request_key",
        "iopl",
        "ioperm",
        "userfaultfd",
        "io_uring_setup",
        "mknod",
        "mknodat",
        "chown",
        "fchownat",
        "settimeofday",
        "clock_settime",
        "acct",
        "quotactl",
        "syslog",
    ] {
        assert!(
            !allowed.iter().any(|name| name == forbidden),
            "{forbidden} is allowed"
        );
    }
}

#[test]
fn the_gateway_grants_name_the_configuration_and_write_only_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc");
    let pki = dir.path().join("pki");
    for sub in [&etc, &pki] {
        std::fs::create_dir_all(sub).expect("mkdir");
    }
    for file in ["root.pem", "seal.key"] {
        std::fs::write(pki.join(file), "pem").expect("write");
    }
    let config = format!(
        "[gateway]\norgan_id = \"000.00.01.H41\"\norgan_name = \"UBND\"\nstate_dir = \"{}\"\n\
         [api]\nlisten = \"127.0.0.1:8480\"\ntoken = \"0123456789abcdef0123456789abcdef\"\n\
         [signing]\nkey_file = \"../pki/seal.key\"\ntrust_roots = [\"../pki/root.pem\"]\n",
        dir.path().join("state").display()
    );
    let path = etc.join("docgate.toml");
    std::fs::write(&path, config).expect("write");
    let config = GatewayConfig::load(&path).expect("valid");
    let grants = gateway_grants(&config, &Environment::default());
    let read_only = |path: &Path| {
        grants
            .iter()
            .any(|grant| grant.path == path && !grant.writable)
    };
    assert!(read_only(&etc), "{grants:#?}");
    assert!(read_only(&etc.join("../pki")), "{grants:#?}");
    assert!(read_only(Path::new("/usr")) && read_only(Path::new("/etc/resolv.conf")));
    assert!(
        read_only(Path::new("/run/docgate")),
        "the default update status file's directory: {grants:#?}"
    );
    let writable: Vec<&Path> = grants
        .iter()
        .filter(|grant| grant.writable)
        .map(|grant| grant.path.as_path())
        .collect();
    assert_eq!(
        writable,
        [dir.path().join("state").as_path(), Path::new("/dev/null")],
        "only the state directory is written (no SoftHSM2 here)"
    );
    assert!(grants.iter().all(|grant| !grant.why.is_empty()));
}
