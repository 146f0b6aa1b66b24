//! The sandbox of `docgate run`, end to end on the real binary: who it runs as (root and
//! capabilities refused, `--drop-to` honoured and checked in /proc), and, with the
//! `fault-injection` feature, what the running daemon may and may not do once sandboxed
//! (files outside its grants, writes outside its state directory, programs, system calls
//! outside its allow-list). The mechanisms alone are also tested in
//! `src/system/sandbox/tests.rs`, in child processes of the unit-test binary.
//!
//! The tests about root need root (CI runs as root); as another user they check what
//! they can and say what they skipped.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{client, docgate, is_root, run_args, test_user, GatewayDir, TEST_USER};

/// Fields of /proc/PID/status.
fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status")
}

/// `id` four times (real, effective, saved, file system), as /proc shows Uid and Gid.
fn four(id: u32) -> String {
    vec![id.to_string(); 4].join(" ")
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` (a `docgate run` that must refuse to start) and returns its exit code
/// and stderr; panics if it is still running after 20 s.
fn refused(mut command: Command) -> (Option<i32>, String) {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docgate run");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("docgate run did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn nothing_listens(url: &str) -> bool {
    client().get(format!("{url}/healthz")).send().is_err()
}

#[test]
fn as_root_without_drop_to_it_refuses_and_binds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    if !is_root() {
        eprintln!("not root: only --drop-to from an ordinary user is checked here");
        let mut command = docgate();
        command
            .args(["run", "--config"])
            .arg(&gateway.config)
            .args(["--drop-to", "root"]);
        let (code, stderr) = refused(command);
        assert_eq!(code, Some(77), "{stderr}");
        assert!(
            stderr.contains("only root can become another user"),
            "{stderr}"
        );
        return;
    }
    let mut command = docgate();
    command.args(["run", "--config"]).arg(&gateway.config);
    let (code, stderr) = refused(command);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("refuses to run as root") && stderr.contains("--drop-to docgate"),
        "{stderr}"
    );
    assert!(nothing_listens(&gateway.url), "the port was bound");
}

#[test]
fn with_drop_to_it_serves_as_that_user_with_nothing_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    let stderr_path = dir.path().join("stderr.log");
    let mut child = common::docgate_run(&gateway.config, &[])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn docgate run");
    common::wait_until_healthy(&mut child, &client(), &gateway.url, Duration::from_secs(30));
    let status = proc_status(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).expect("stderr");

    // Every id is the user's (real, effective, saved, file system); no groups; no
    // capability in any set; no new privileges; two seccomp filters.
    let expected_uid = if is_root() {
        test_user().0
    } else {
        nix::unistd::getuid().as_raw()
    };
    let uid = status_field(&status, "Uid");
    assert_eq!(uid, four(expected_uid), "{status}");
    if is_root() {
        let gid = test_user().1;
        assert_eq!(status_field(&status, "Gid"), four(gid));
        assert_eq!(status_field(&status, "Groups"), "", "{status}");
        assert!(
            log.contains(&format!("now running as {TEST_USER}")),
            "{log}"
        );
        // Root also gave up the bounding set, so nothing can come back by exec.
        assert_eq!(status_field(&status, "CapBnd"), "0000000000000000");
    }
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(
            status_field(&status, set),
            "0000000000000000",
            "{set}: {status}"
        );
    }
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2", "filter mode");
    assert_eq!(status_field(&status, "Seccomp_filters"), "2");
    assert!(
        log.contains("sandbox: Landlock ABI") && log.contains("seccomp allow-list"),
        "the enforced ABI is logged at INFO: {log}"
    );
}

#[test]
fn a_capability_left_is_refused() {
    if !is_root() {
        eprintln!("not root: cannot hand an ambient capability to an ordinary user; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    run_args(&gateway.config, &[]); // hands the files to the test user
    let (uid, gid) = test_user();
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            "--inh-caps=+net_bind_service",
            "--ambient-caps=+net_bind_service",
        ])
        .arg(env!("CARGO_BIN_EXE_docgate"))
        .args(["run", "--config"])
        .arg(&gateway.config);
    let (code, stderr) = refused(command);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("refuses to run with capabilities cap_net_bind_service"),
        "{stderr}"
    );
    assert!(nothing_listens(&gateway.url), "the port was bound");

    // --drop-to is for root only; and it never drops to an unknown user or to root.
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .arg(env!("CARGO_BIN_EXE_docgate"))
        .args(["run", "--config"])
        .arg(&gateway.config)
        .args(["--drop-to", "nobody"]);
    let (code, stderr) = refused(command);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("only root can become another user"),
        "{stderr}"
    );
    for (user, expected) in [
        ("no-such-user-docgate", "there is no such user"),
        ("root", "that user is root"),
    ] {
        let mut command = docgate();
        command
            .args(["run", "--config"])
            .arg(&gateway.config)
            .args(["--drop-to", user]);
        let (code, stderr) = refused(command);
        assert_eq!(code, Some(77), "{stderr}");
        assert!(stderr.contains(expected), "{user}: {stderr}");
    }
}

/// The probe hook (fault injection) makes the sandboxed daemon try what it must not do.
#[cfg(feature = "fault-injection")]
#[test]
fn the_sandboxed_daemon_reads_writes_and_calls_only_what_it_is_granted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway_dir = dir.path().join("gateway");
    let gateway = GatewayDir::init(&gateway_dir, &[]);
    // A secret beside the configuration directory, readable by everyone as far as file
    // permissions go: only the sandbox keeps the daemon out.
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "not for the gateway").expect("secret");
    let state_file = gateway.state_dir().join("probe-written");
    let config_dir_file = gateway_dir.join("probe-written");
    let temp_file = std::env::temp_dir().join(format!("docgate-probe-{}", std::process::id()));
    let probes = [
        format!("read:{}", gateway.config.display()),
        format!("read:{}", secret.display()),
        "read:/etc/shadow".to_owned(),
        format!("write:{}", state_file.display()),
        format!("write:{}", config_dir_file.display()),
        format!("write:{}", temp_file.display()),
        "exec:/bin/true".to_owned(),
        "inet-socket".to_owned(),
        "packet-socket".to_owned(),
        "personality".to_owned(),
        "setuid0".to_owned(),
        "resolve:localhost".to_owned(),
    ];
    let stderr_path = dir.path().join("stderr.log");
    let mut child = common::docgate_run(&gateway.config, &[])
        .env("DOCGATE_FAULT_SANDBOX_PROBE", probes.join(";"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn docgate run");
    common::wait_until_healthy(&mut child, &client(), &gateway.url, Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).expect("stderr");
    let outcome = |probe: &str| {
        log.lines()
            .find_map(|line| {
                line.split_once(&format!("sandbox probe {probe}: "))
                    .map(|(_, outcome)| outcome.to_owned())
            })
            .unwrap_or_else(|| panic!("no outcome for {probe} in {log}"))
    };
    let allowed = |probe: &str| assert_eq!(outcome(probe), "allowed", "{probe}");
    let denied = |probe: &str, why: &str| {
        let outcome = outcome(probe);
        assert!(
            outcome.starts_with("denied") && outcome.contains(why),
            "{probe}: {outcome}"
        );
    };
    // Landlock: the configuration yes, a secret beside it no, /etc/shadow no (as the
    // test user it is unreadable anyway; as an ordinary user too); writes only in state.
    allowed(&probes[0]);
    denied(&probes[1], "Permission denied");
    denied(&probes[2], "Permission denied");
    allowed(&probes[3]);
    denied(&probes[4], "Permission denied");
    denied(&probes[5], "Permission denied");
    assert!(!config_dir_file.exists() && !temp_file.exists());
    assert_eq!(
        std::fs::read_to_string(&state_file).expect("written in state"),
        "probe\n"
    );
    // No program runs (Landlock refuses exec, seccomp refuses fork and execve).
    denied(&probes[6], "");
    // seccomp: an AF_INET socket yes; AF_PACKET, personality and setuid no, with EPERM.
    allowed(&probes[7]);
    for probe in &probes[8..11] {
        denied(probe, "EPERM");
    }
    // A host-name lookup through glibc (/etc/hosts, nsswitch, its modules) still works.
    allowed(&probes[11]);
}
