//! systemd integration with real parts: `docgate run` talks to a notification socket the
//! test binds (READY, WATCHDOG, STATUS, STOPPING, in that order, at the right moments); the
//! watchdog falls silent when the store writer is wedged (the `fault-injection` feature's
//! hook); `systemd-analyze` rates and verifies the unit, `systemd-sysusers` and
//! `systemd-tmpfiles` apply our files to a scratch root; and under a journal (a socket the
//! test binds at `/run/systemd/journal/socket` inside a private mount namespace) each log
//! event arrives with its fields, and no secret or document content appears anywhere.

mod common;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{add_axis_section, client, sample_meta, sample_pdf, GatewayDir};
use reqwest::blocking::multipart;
use serde_json::Value;

/// The axis secret `add_axis_section` writes (must never be logged).
const AXIS_SECRET: &str = "test-secret-of-at-least-24-characters";

/// A datagram socket the test listens on; a thread hands every datagram over with the
/// instant it arrived.
struct Listener {
    messages: mpsc::Receiver<(Instant, Vec<u8>)>,
}

impl Listener {
    fn bind(path: &Path) -> Listener {
        let socket = UnixDatagram::bind(path).expect("bind a datagram socket");
        let (sender, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 256 * 1024];
            while let Ok(length) = socket.recv(&mut buffer) {
                if sender
                    .send((Instant::now(), buffer[..length].to_vec()))
                    .is_err()
                {
                    return;
                }
            }
        });
        Listener { messages }
    }

    /// The next datagram within `limit`.
    fn next(&self, limit: Duration) -> Option<(Instant, Vec<u8>)> {
        self.messages.recv_timeout(limit).ok()
    }

    /// Every notification (as text) arriving within `window`.
    fn collect(&self, window: Duration) -> Vec<(Instant, String)> {
        let end = Instant::now() + window;
        let mut collected = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left) {
                Some((at, bytes)) => collected.push((at, String::from_utf8_lossy(&bytes).into())),
                None => break,
            }
        }
        collected
    }

    /// Waits for a notification containing `needle`; panics after `limit`.
    fn wait_for(&self, needle: &str, limit: Duration) -> (Instant, String) {
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            if let Some((at, bytes)) = self.next(left) {
                let text = String::from_utf8_lossy(&bytes).to_string();
                if text.contains(needle) {
                    return (at, text);
                }
            }
        }
        panic!("no notification with {needle:?} within {limit:?}");
    }
}

/// `docgate run` with its stderr in a file; SIGKILLed on drop if still running.
struct Daemon {
    child: Child,
    stderr: PathBuf,
}

impl Daemon {
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|status| status.code())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_daemon(mut command: Command, stderr: &Path) -> Daemon {
    let file = File::create(stderr).expect("stderr file");
    let child = command
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn docgate run");
    Daemon {
        child,
        stderr: stderr.to_path_buf(),
    }
}

fn run_command(gateway: &GatewayDir) -> Command {
    let mut command = common::docgate_run(&gateway.config, &[]);
    command
        .env_remove("JOURNAL_STREAM")
        .env_remove("WATCHDOG_PID");
    command
}

/// `POST /api/v1/documents` with the sample meta and a PDF; the new document's id.
fn post_document(gateway: &GatewayDir, tag: &str) -> String {
    let form = multipart::Form::new()
        .text("meta", sample_meta().to_string())
        .part(
            "file",
            multipart::Part::bytes(sample_pdf(tag))
                .file_name("van-ban.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    let response = client()
        .post(format!("{}/api/v1/documents", gateway.url))
        .bearer_auth(&gateway.token)
        .multipart(form)
        .send()
        .expect("POST a document");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().expect("JSON answer");
    body["id"].as_str().expect("id").to_string()
}

fn healthz_answers(url: &str) -> bool {
    client()
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .map(common::is_up)
        .unwrap_or(false)
}

/// No log output may hold the API token, the axis secret or a document's subject.
fn assert_no_secret(output: &str, gateway: &GatewayDir) {
    assert!(!output.contains(&gateway.token), "the API token was logged");
    assert!(!output.contains(AXIS_SECRET), "the axis secret was logged");
    let subject = sample_meta()["subject"]
        .as_str()
        .expect("subject")
        .to_string();
    assert!(!output.contains(&subject), "a document subject was logged");
}

#[test]
fn ready_watchdog_status_and_stopping_arrive_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    // An axis nobody answers at: the sync scheduler runs (and is watched), the link is down.
    add_axis_section(&gateway, "https://127.0.0.1:9/", "");
    let notify = Listener::bind(&dir.path().join("notify.sock"));
    let mut command = run_command(&gateway);
    command
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "1000000")
        .env("RUST_LOG", "debug");
    let mut daemon = spawn_daemon(command, &dir.path().join("stderr.log"));

    // READY=1 comes first, and only once the API answers.
    let (_, first) = notify
        .next(Duration::from_secs(60))
        .expect("a first notification");
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.contains("READY=1"), "first notification: {first:?}");
    assert!(
        healthz_answers(&gateway.url),
        "READY=1 came before /healthz answered"
    );
    assert!(
        first.contains("STATUS=link down; nothing waiting to send; no incoming awaiting the clerk"),
        "{first:?}"
    );

    // WATCHDOG=1 every half interval (0.5 s), while writer and scheduler are alive — for
    // longer than a heartbeat may stay silent (3 s), so a scheduler whose heartbeat
    // stopped (a task that ended, a request stuck) would show here.
    let pings: Vec<Instant> = notify
        .collect(Duration::from_secs(6))
        .into_iter()
        .filter(|(_, text)| text.contains("WATCHDOG=1"))
        .map(|(at, _)| at)
        .collect();
    assert!(pings.len() >= 9, "{} pings in 6 s", pings.len());
    let longest_gap = pings
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default();
    assert!(
        longest_gap < Duration::from_millis(1_200),
        "{longest_gap:?}"
    );

    // The STATUS= line follows the queue.
    let id = post_document(&gateway, "systemd status");
    let (_, status) = notify.wait_for("waiting to send (oldest", Duration::from_secs(15));
    assert!(
        status.contains("STATUS=link down; 1 waiting to send (oldest "),
        "{status:?}"
    );

    // SIGTERM: STOPPING=1, then a clean exit.
    let stopping = std::thread::spawn(move || {
        notify.wait_for("STOPPING=1", Duration::from_secs(30));
    });
    assert_eq!(daemon.terminate(), Some(0));
    stopping.join().expect("STOPPING=1 arrived");

    let output = daemon.stderr_text();
    assert!(
        output.contains(&id),
        "the document's state changes are logged"
    );
    assert_no_secret(&output, &gateway);
}

/// A new box (`config init --provisioned`, not enrolled) is a started service under
/// systemd: READY=1 once its enrolment page answers, watchdog pings, a STATUS= line saying
/// what to do. Without READY=1 `Type=notify` would time the start out and restart it
/// forever, which is what the appliance's first boot did before.
#[test]
fn a_box_waiting_for_enrolment_is_ready_and_pings_the_watchdog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init_with(dir.path(), &["--provisioned"], &[]);
    let notify = Listener::bind(&dir.path().join("notify.sock"));
    let mut command = run_command(&gateway);
    command
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "1000000");
    let mut daemon = spawn_daemon(command, &dir.path().join("stderr.log"));

    let (_, first) = notify
        .next(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("no notification: {}", daemon.stderr_text()));
    let first = String::from_utf8_lossy(&first).to_string();
    assert!(first.contains("READY=1"), "first notification: {first:?}");
    assert!(
        first.contains("STATUS=not provisioned: enrol this box"),
        "{first:?}"
    );
    let health = client()
        .get(format!("{}/healthz", gateway.url))
        .send()
        .expect("GET /healthz");
    assert_eq!(health.status().as_u16(), 503, "not provisioned yet");

    let pings = notify
        .collect(Duration::from_secs(3))
        .into_iter()
        .filter(|(_, text)| text.contains("WATCHDOG=1"))
        .count();
    assert!(pings >= 4, "{pings} watchdog pings in 3 s");

    let stopping = std::thread::spawn(move || {
        notify.wait_for("STOPPING=1", Duration::from_secs(30));
    });
    assert_eq!(daemon.terminate(), Some(0));
    stopping.join().expect("STOPPING=1 arrived");
}

#[cfg(feature = "fault-injection")]
#[test]
fn the_watchdog_stops_when_the_store_writer_is_wedged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    let notify = Listener::bind(&dir.path().join("notify.sock"));
    let wedge = dir.path().join("wedge-the-writer");
    let mut command = run_command(&gateway);
    command
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "1000000")
        .env("DOCGATE_FAULT_WEDGE_WRITER", &wedge)
        .env("RUST_LOG", "info");
    let daemon = spawn_daemon(command, &dir.path().join("stderr.log"));
    notify.wait_for("READY=1", Duration::from_secs(60));
    let before = notify.collect(Duration::from_secs(2));
    assert!(
        before
            .iter()
            .filter(|(_, text)| text == "WATCHDOG=1\n")
            .count()
            >= 2,
        "{before:?}"
    );

    // The writer stops at its next turn (≤ 1 s); its heartbeat is stale after 3 s, so
    // from 5 s on no ping may arrive.
    File::create(&wedge).expect("wedge trigger");
    let _settling = notify.collect(Duration::from_secs(5));
    let after = notify.collect(Duration::from_secs(4));
    assert!(
        after.iter().all(|(_, text)| !text.contains("WATCHDOG=1")),
        "pings went on with a wedged writer: {after:?}"
    );
    // The STATUS= line still comes (reads do not need the writer): the task itself lives.
    assert!(
        after.iter().any(|(_, text)| text.contains("STATUS=")),
        "{after:?}"
    );
    let output = daemon.stderr_text();
    assert!(
        output.contains("not pinging the systemd watchdog") && output.contains("store writer"),
        "{output}"
    );
}

#[cfg(not(feature = "fault-injection"))]
#[test]
fn the_watchdog_stops_when_the_store_writer_is_wedged() {
    panic!(
        "this test wedges the store writer through a hook compiled in only with \
         `--features fault-injection`; run `cargo test --features fault-injection --test systemd` \
         (tools/test.sh does)"
    );
}

/// `systemd-analyze`, or a clear failure saying what to install.
fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package `systemd`) must be installed")
}

fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn the_unit_rates_two_or_lower_and_verifies() {
    let unit = repository_file("systemd/docgate.service");
    let rating = systemd_analyze(&["security", "--offline=true", "--no-pager"], &unit);
    let text = String::from_utf8_lossy(&rating.stdout).to_string()
        + &String::from_utf8_lossy(&rating.stderr);
    let score: f64 = text
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for docgate.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");

    // `verify` insists the executables exist: point them at the binary under test.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("docgate.service");
    let binary = env!("CARGO_BIN_EXE_docgate");
    let original = std::fs::read_to_string(&unit).expect("read the unit");
    std::fs::write(&copy, original.replace("/usr/bin/docgate", binary)).expect("write unit");
    let verified = systemd_analyze(&["verify"], &copy);
    let complaints = String::from_utf8_lossy(&verified.stderr).to_string();
    assert!(verified.status.success(), "verify failed:\n{complaints}");
    assert!(
        !complaints.contains("docgate.service"),
        "verify complained:\n{complaints}"
    );
}

/// The system calls a `SystemCallFilter=` entry names: a `@group` expanded by
/// `systemd-analyze syscall-filter` (nested groups included), or a single call.
fn expand_syscall_filter(entry: &str) -> Vec<String> {
    if !entry.starts_with('@') {
        return vec![entry.to_owned()];
    }
    let output = Command::new("systemd-analyze")
        .args(["syscall-filter", "--no-pager", entry])
        .output()
        .expect("systemd-analyze syscall-filter");
    assert!(output.status.success(), "{output:?}");
    // The group's own name comes first, unindented; its members follow, indented.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with(' '))
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .flat_map(|line| {
            if line.starts_with('@') {
                expand_syscall_filter(line)
            } else {
                vec![line.to_owned()]
            }
        })
        .collect()
}

/// The system calls the unit's `SystemCallFilter=` lines allow, applied in order as
/// systemd does: the first line is an allow-list, later lines add (or, with `~`, remove).
fn unit_allowed_syscalls(unit: &str) -> std::collections::BTreeSet<String> {
    let mut allowed = std::collections::BTreeSet::new();
    for value in unit
        .lines()
        .filter_map(|line| line.trim().strip_prefix("SystemCallFilter="))
    {
        let (remove, list) = match value.strip_prefix('~') {
            Some(list) => (true, list),
            None => (false, value),
        };
        for entry in list.split_whitespace() {
            for call in expand_syscall_filter(entry) {
                if remove {
                    allowed.remove(&call);
                } else {
                    allowed.insert(call);
                }
            }
        }
    }
    allowed
}

/// Under the unit, systemd's filter sits outside the daemon's own: every call the daemon
/// makes to sandbox itself, and every call its allow-list lets it make afterwards, must
/// get through systemd's filter too, or the daemon cannot start (the appliance's boot test
/// found `seccomp` and the Landlock calls missing) or fails later with EPERM.
#[test]
fn the_units_system_call_filter_lets_the_daemon_sandbox_itself_and_run() {
    let unit = std::fs::read_to_string(repository_file("systemd/docgate.service")).expect("unit");
    let allowed = unit_allowed_syscalls(&unit);
    assert!(
        allowed.contains("read") && allowed.len() > 100,
        "{allowed:?}"
    );
    let list: Value = serde_json::from_str(
        &std::fs::read_to_string(repository_file("src/system/sandbox/syscalls.json"))
            .expect("syscalls.json"),
    )
    .expect("syscalls.json is JSON");
    let daemon_calls = list["docgate"]["filter"]
        .as_array()
        .expect("the allow-list")
        .iter()
        .filter_map(|entry| entry["syscall"].as_str());
    // Calls only `--drop-to` makes, while still root: never under the unit (User=docgate).
    let only_as_root = ["setgroups", "setresgid", "setresuid", "setgid", "setuid"];
    let sandboxing = [
        "prctl",
        "seccomp",
        "landlock_create_ruleset",
        "landlock_add_rule",
        "landlock_restrict_self",
    ];
    let refused: Vec<&str> = daemon_calls
        .filter(|call| !only_as_root.contains(call))
        .chain(sandboxing)
        .filter(|call| !allowed.contains(*call))
        .collect();
    assert!(
        refused.is_empty(),
        "systemd/docgate.service's SystemCallFilter= refuses calls the daemon makes: {refused:?}"
    );
}

#[test]
fn sysusers_and_tmpfiles_make_the_user_and_directories() {
    let root = tempfile::tempdir().expect("tempdir");
    for (kind, file) in [
        ("sysusers.d", "systemd/sysusers.d/docgate.conf"),
        ("tmpfiles.d", "systemd/tmpfiles.d/docgate.conf"),
    ] {
        let target = root.path().join("usr/lib").join(kind);
        std::fs::create_dir_all(&target).expect("mkdir");
        std::fs::copy(repository_file(file), target.join("docgate.conf")).expect("copy");
    }
    std::fs::create_dir_all(root.path().join("etc")).expect("etc");
    let root_arg = format!("--root={}", root.path().display());
    for (tool, extra) in [
        ("systemd-sysusers", &[][..]),
        ("systemd-tmpfiles", &["--create"][..]),
    ] {
        let output = Command::new(tool)
            .arg(&root_arg)
            .args(extra)
            .arg("docgate.conf")
            .output()
            .unwrap_or_else(|error| panic!("{tool} (Debian package `systemd`): {error}"));
        assert!(
            output.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).expect("passwd");
    let user = passwd
        .lines()
        .find(|line| line.starts_with("docgate:"))
        .expect("a docgate user");
    let uid: u32 = user
        .split(':')
        .nth(2)
        .and_then(|v| v.parse().ok())
        .expect("uid");
    assert!(
        user.ends_with(":/var/lib/docgate:/usr/sbin/nologin"),
        "{user}"
    );
    let look = |path: &str| {
        let metadata = std::fs::metadata(root.path().join(path)).expect(path);
        (metadata.mode() & 0o7777, metadata.uid(), metadata.gid())
    };
    assert_eq!(look("var/lib/docgate"), (0o700, uid, uid));
    assert_eq!(look("etc/docgate"), (0o750, 0, uid));
    assert_eq!(look("etc/docgate/credentials"), (0o700, 0, 0));
    assert_eq!(look("run/docgate"), (0o755, 0, 0));
}

/// Reads one datagram of the journal's native protocol into (field, value) pairs.
fn journal_fields(datagram: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = datagram;
    while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
        let line = String::from_utf8_lossy(&rest[..end]).to_string();
        rest = &rest[end + 1..];
        if let Some((name, value)) = line.split_once('=') {
            fields.push((name.to_string(), value.to_string()));
            continue;
        }
        let length_bytes: [u8; 8] = rest[..8].try_into().expect("a length");
        let length = u64::from_le_bytes(length_bytes) as usize;
        let value = String::from_utf8_lossy(&rest[8..8 + length]).to_string();
        rest = &rest[8 + length + 1..];
        fields.push((line, value));
    }
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn under_journald_events_carry_their_fields_and_no_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    add_axis_section(&gateway, "https://127.0.0.1:9/", "");
    // The journal's socket, seen by the daemon at /run/systemd/journal/socket: a private
    // mount namespace puts a fresh /run over the real one and our directory at
    // /run/systemd, so nothing outside the test changes.
    let systemd_dir = dir.path().join("run-systemd");
    std::fs::create_dir_all(systemd_dir.join("journal")).expect("mkdir");
    let journal = Listener::bind(&systemd_dir.join("journal/socket"));
    // JOURNAL_STREAM names the stream systemd would connect to stderr: here, a file.
    let stderr_path = dir.path().join("stderr.log");
    let stderr = File::create(&stderr_path).expect("stderr file");
    let metadata = stderr.metadata().expect("stat stderr");
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd && \
             mount --bind \"$1\" /run/systemd && shift && exec \"$@\"",
        )
        .arg("sh")
        .arg(&systemd_dir)
        .arg(env!("CARGO_BIN_EXE_docgate"))
        .args(common::run_args(&gateway.config, &[]))
        .env(
            "JOURNAL_STREAM",
            format!("{}:{}", metadata.dev(), metadata.ino()),
        )
        .env("RUST_LOG", "debug")
        .env_remove("NOTIFY_SOCKET");
    drop(stderr);
    let daemon = spawn_daemon(command, &stderr_path);

    let mut events: Vec<Vec<(String, String)>> = Vec::new();
    let wait_for = |message: &str, events: &mut Vec<Vec<(String, String)>>| {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = events
                .iter()
                .find(|fields| field(fields, "MESSAGE") == Some(message))
            {
                return found.clone();
            }
            let left = end
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| {
                    panic!(
                    "no journal event {message:?} (is `unshare --mount` allowed? it needs root); \
                     stderr: {}",
                    daemon.stderr_text()
                )
                });
            if let Some((_, datagram)) = journal.next(left) {
                if !datagram.is_empty() {
                    events.push(journal_fields(&datagram));
                }
            }
        }
    };
    let ready = wait_for("gateway ready", &mut events);
    assert_eq!(field(&ready, "ORGAN_ID"), Some("000.00.01.H41"));
    assert_eq!(field(&ready, "SYSLOG_IDENTIFIER"), Some("docgate"));
    assert_eq!(field(&ready, "PRIORITY"), Some("5"));

    let id = post_document(&gateway, "journal fields");
    let accepted = wait_for("outgoing document accepted", &mut events);
    assert_eq!(field(&accepted, "DOCUMENT_ID"), Some(id.as_str()));
    assert_eq!(field(&accepted, "STATE"), Some("accepted"));
    let packed = wait_for("document packed", &mut events);
    assert_eq!(field(&packed, "DOCUMENT_ID"), Some(id.as_str()));
    assert_eq!(field(&packed, "STATE"), Some("packed"));
    let sent = wait_for("packet handed to the axis", &mut events);
    assert_eq!(field(&sent, "DOCUMENT_ID"), Some(id.as_str()));
    assert_eq!(field(&sent, "STATE"), Some("sent"));
    let failed = wait_for("sending failed; will retry", &mut events);
    assert_eq!(field(&failed, "ERROR_KIND"), Some("axis_transient"));

    // Everything the daemon said, to the journal and to stderr, holds no secret.
    let everything: String = events
        .iter()
        .flatten()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect::<String>()
        + &daemon.stderr_text();
    assert_no_secret(&everything, &gateway);
    // Under the journal nothing is written to stderr as plain lines.
    assert!(
        !daemon.stderr_text().contains("gateway ready"),
        "{}",
        daemon.stderr_text()
    );
}

/// The appliance image's own units (image/rootfs): systemd ignores a key in the wrong
/// section with only a warning, and the box then silently lacks it (the boot fallback's
/// `SuccessAction=` in `[Service]` never rebooted; found by tools/image-update-test).
#[test]
fn the_image_units_have_no_key_systemd_would_ignore() {
    let units = repository_file("image/rootfs/usr/lib/systemd/system");
    let mut checked = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&units).expect("image units") {
        let path = entry.expect("entry").path();
        let is_unit = matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("service" | "path" | "timer" | "socket")
        );
        if !is_unit {
            continue;
        }
        let output = systemd_analyze(&["verify", "--man=no"], &path);
        let text = String::from_utf8_lossy(&output.stderr).to_string();
        problems.extend(
            text.lines()
                .filter(|line| {
                    line.contains("Unknown key")
                        || line.contains("Unknown section")
                        || line.contains("Invalid")
                        || line.contains("Failed to parse")
                })
                .map(str::to_string),
        );
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} units under {}",
        units.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
