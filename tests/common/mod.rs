//! Shared helpers for end-to-end tests: a real `docgate run` child process on loopback with
//! its own state directory, a blocking HTTP client, sample documents, and direct looks at
//! the state directory for checks the API cannot make.
#![allow(clippy::disallowed_methods)] // Tests inspect the database independently, read-only.
#![allow(dead_code)] // Each test binary uses a different subset.

pub mod axis;
pub mod browser;
pub mod clerk;
pub mod enrolled;
pub mod exchange;
pub mod http;
pub mod ocsp;
pub mod proxy;
pub mod rauc;
pub mod registers;
pub mod signing;
pub mod softhsm;
pub mod tsa;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::{multipart, Client};
use serde_json::Value;

/// The docgate binary Cargo built for these tests.
pub fn docgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_docgate"))
}

/// The unprivileged user the tests' daemons drop to when the tests run as root (CI does):
/// `docgate run` refuses root without `--drop-to`. tools/test.sh creates it; so does
/// [`run_args`] when it is missing.
pub const TEST_USER: &str = "docgate-test";

/// Whether these tests run as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The arguments of `docgate run` for `config`, as the tests run it. As an ordinary user:
/// `run --config CONFIG`. As root: the same with `--drop-to docgate-test`, after handing
/// that user every path under the temporary directory that the daemon's sandbox grants
/// (`system::sandbox::gateway_grants`: the configuration's directory, the files it names,
/// the state directory, SoftHSM2's token directory from `env`), so the dropped daemon can
/// read and write what it did as root. Called again at each start: files the test wrote
/// as root in between are handed over too.
pub fn run_args(config: &Path, env: &[(String, String)]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["run".into(), "--config".into(), config.into()];
    if is_root() {
        hand_to_test_user(config, env);
        args.extend(["--drop-to".into(), TEST_USER.into()]);
    }
    args
}

/// `docgate` with [`run_args`] (root: files handed to the test user first).
pub fn docgate_run(config: &Path, env: &[(String, String)]) -> Command {
    let mut command = docgate();
    command
        .args(run_args(config, env))
        .envs(env.iter().map(|(name, value)| (name, value)));
    command
}

/// The test user's uid and gid, creating the user when missing (a system user with no
/// home and no shell; `useradd` races with other test binaries are harmless).
pub fn test_user() -> (u32, u32) {
    let find = || nix::unistd::User::from_name(TEST_USER).ok().flatten();
    if find().is_none() {
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                TEST_USER,
            ])
            .status();
    }
    let user =
        find().unwrap_or_else(|| panic!("cannot create the test user {TEST_USER} (useradd)"));
    (user.uid.as_raw(), user.gid.as_raw())
}

/// Gives the test user what the sandbox grants under the temporary directory: each such
/// path, recursively, and the right to pass through its parents.
fn hand_to_test_user(config: &Path, env: &[(String, String)]) {
    use docgate::system::sandbox::{gateway_grants, Environment};
    let mut paths = vec![config.parent().unwrap_or(Path::new(".")).to_path_buf()];
    if let Ok(loaded) = docgate::system::config::GatewayConfig::load(config) {
        let environment = Environment::from_lookup(|name| {
            env.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into())
                .or_else(|| std::env::var_os(name))
        });
        paths.extend(
            gateway_grants(&loaded, &environment)
                .into_iter()
                .map(|grant| grant.path),
        );
    }
    for path in paths {
        hand_over_to_test_user(&path);
    }
}

/// The directories the tests make their files in: the system's temporary directory and
/// Cargo's (`target/tmp`, where the shared SoftHSM lives).
fn test_roots() -> Vec<PathBuf> {
    [
        std::env::temp_dir(),
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    ]
    .into_iter()
    .map(|root| root.canonicalize().unwrap_or(root))
    .collect()
}

/// As root: gives `path` (recursively) to the test user, and lets that user pass through
/// its parents up to the test root holding it. Only under [`test_roots`]: nothing else on
/// the machine is touched. Does nothing when not root.
pub fn hand_over_to_test_user(path: &Path) {
    if !is_root() {
        return;
    }
    let Ok(path) = path.canonicalize() else {
        return;
    };
    let Some(root) = test_roots()
        .into_iter()
        .find(|root| path.starts_with(root) && path != *root)
    else {
        return;
    };
    let (uid, gid) = test_user();
    chown_tree(&path, uid, gid);
    let mut parent = path.parent();
    while let Some(directory) =
        parent.filter(|directory| directory.starts_with(&root) && *directory != root)
    {
        allow_passing_through(directory);
        parent = directory.parent();
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    let _ = std::os::unix::fs::lchown(path, Some(uid), Some(gid));
    if path.is_symlink() || !path.is_dir() {
        return;
    }
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        chown_tree(&entry.path(), uid, gid);
    }
}

/// Adds the search (x) bit for others to a directory (temporary directories are 0700).
fn allow_passing_through(directory: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(directory) {
        let mode = metadata.permissions().mode();
        if mode & 0o001 == 0 {
            let _ =
                std::fs::set_permissions(directory, std::fs::Permissions::from_mode(mode | 0o001));
        }
    }
}

/// A gateway's directory: its config and state, kept across restarts.
pub struct GatewayDir {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub token: String,
    pub url: String,
    /// Environment `docgate run` needs (from `demo.json`, e.g. `SOFTHSM2_CONF`).
    pub env: Vec<(String, String)>,
}

impl GatewayDir {
    /// `docgate config init` in `dir` with a free loopback port; each `(key, value)` of
    /// `overrides` replaces the line `key = ...` of the written file.
    pub fn init(dir: &Path, overrides: &[(&str, &str)]) -> GatewayDir {
        GatewayDir::init_with(dir, &[], overrides)
    }

    /// Like [`Self::init`], with extra `config init` arguments (e.g. `--provisioned`).
    pub fn init_with(dir: &Path, init_args: &[&str], overrides: &[(&str, &str)]) -> GatewayDir {
        let port = free_port();
        let output = docgate()
            .args(["config", "init"])
            .args(init_args)
            .arg("--dir")
            .arg(dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .output()
            .expect("run docgate config init");
        assert!(
            output.status.success(),
            "config init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{name}: ")))
                .unwrap_or_else(|| panic!("no {name} line in {stdout}"))
                .to_string()
        };
        let config = PathBuf::from(field("config"));
        if !overrides.is_empty() {
            let text = std::fs::read_to_string(&config).expect("read config");
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            for (key, value) in overrides {
                let line = lines
                    .iter_mut()
                    .find(|line| line.starts_with(&format!("{key} =")))
                    .unwrap_or_else(|| panic!("no {key} in the config"));
                *line = format!("{key} = {value}");
            }
            std::fs::write(&config, lines.join("\n")).expect("write config");
        }
        GatewayDir {
            dir: dir.to_path_buf(),
            config,
            token: field("api_token"),
            url: format!("http://127.0.0.1:{port}"),
            env: Vec::new(),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.state_dir().join("blobs")
    }

    pub fn database(&self) -> PathBuf {
        self.state_dir().join("docgate.sqlite3")
    }

    /// Starts `docgate run` and waits until `/healthz` answers 200.
    pub fn start(&self) -> GatewayProcess {
        let child = docgate_run(&self.config, &self.env)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn docgate run");
        let mut process = GatewayProcess {
            child: Some(child),
            url: self.url.clone(),
            token: self.token.clone(),
            client: client(),
        };
        process.wait_ready(Duration::from_secs(30));
        process
    }
}

impl GatewayDir {
    /// Starts `docgate run` with `extra_env` too and waits until `/healthz` answers at all,
    /// whatever its code (a gateway whose token is out or whose disk is full still serves);
    /// `Err` says why not: it exited, or said nothing within `limit`.
    pub fn try_start(
        &self,
        extra_env: &[(String, String)],
        limit: Duration,
    ) -> Result<GatewayProcess, String> {
        let mut child = docgate_run(&self.config, &self.env)
            .envs(extra_env.iter().map(|(name, value)| (name, value)))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|error| format!("cannot spawn docgate run: {error}"))?;
        let client = client();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("docgate run exited at start: {status}"));
            }
            if client.get(format!("{}/healthz", self.url)).send().is_ok() {
                return Ok(GatewayProcess {
                    child: Some(child),
                    url: self.url.clone(),
                    token: self.token.clone(),
                    client,
                });
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("docgate run did not answer within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running `docgate run`. Killed (SIGKILL) on drop if still running.
pub struct GatewayProcess {
    child: Option<Child>,
    pub url: String,
    pub token: String,
    pub client: Client,
}

impl GatewayProcess {
    fn wait_ready(&mut self, limit: Duration) {
        if let Some(child) = self.child.as_mut() {
            wait_until_healthy(child, &self.client, &self.url, limit);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let status = child.wait().expect("wait for docgate");
        status.code()
    }

    /// `POST /api/v1/documents` with `meta` and files `(name, content type, bytes)`.
    pub fn post_document(
        &self,
        meta: &Value,
        files: &[(&str, &str, Vec<u8>)],
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        self.try_post_document(meta, files, idempotency_key)
            .expect("POST /api/v1/documents")
    }

    /// Like [`Self::post_document`], but a transport failure is an `Err`, not a panic.
    pub fn try_post_document(
        &self,
        meta: &Value,
        files: &[(&str, &str, Vec<u8>)],
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let mut form = multipart::Form::new().text("meta", meta.to_string());
        for (name, content_type, bytes) in files {
            let part = multipart::Part::bytes(bytes.clone())
                .file_name(name.to_string())
                .mime_str(content_type)
                .expect("mime");
            form = form.part("file", part);
        }
        let mut request = self
            .client
            .post(format!("{}/api/v1/documents", self.url))
            .bearer_auth(&self.token)
            .multipart(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().map(into_json)
    }

    /// An authorised GET; returns status and JSON body.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        into_json(self.get(path))
    }

    /// An authorised GET; returns status and raw body.
    pub fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let response = self.get(path);
        let status = response.status().as_u16();
        (status, response.bytes().expect("body").to_vec())
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .expect("GET")
    }

    /// Every document id, all pages.
    pub fn all_document_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/api/v1/documents?limit=500&cursor={cursor}"),
                None => "/api/v1/documents?limit=500".to_string(),
            };
            let (status, page) = self.get_json(&path);
            assert_eq!(status, 200, "{page}");
            for document in page["documents"].as_array().expect("documents") {
                ids.push(document["id"].as_str().expect("id").to_string());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return ids,
            }
        }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `url/healthz` until it answers 200; panics if `child` exits or `limit` passes.
pub fn wait_until_healthy(child: &mut Child, client: &Client, url: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("docgate run exited early: {status}");
        }
        let healthy = client
            .get(format!("{url}/healthz"))
            .send()
            .map(is_up)
            .unwrap_or(false);
        if healthy {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "docgate run did not become healthy in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a `/healthz` answer means "the gateway is up": 200, or 503 whose only reasons
/// are the axis link or the disk quota (a gateway with its link down still serves and
/// accepts documents; one over its quota still serves and sends its backlog).
pub fn is_up(response: reqwest::blocking::Response) -> bool {
    if response.status().is_success() {
        return true;
    }
    if response.status().as_u16() != 503 {
        return false;
    }
    let body: Value = response.json().unwrap_or(Value::Null);
    body["reasons"].as_array().is_some_and(|reasons| {
        !reasons.is_empty()
            && reasons
                .iter()
                .all(|reason| matches!(reason["component"].as_str(), Some("link" | "disk")))
    })
}

/// Appends an `[axis]` section to a gateway's config pointing at `url`, with a fresh test
/// PKI and secret under the gateway's directory (nothing needs to listen at `url`).
pub fn add_axis_section(gateway: &GatewayDir, url: &str, extra: &str) {
    let tls = gateway.dir.join("tls");
    std::fs::create_dir_all(&tls).expect("tls dir");
    let ca = docgate::demo::pki::TestCa::create("docgate test CA", &tls, "ca").expect("CA");
    ca.issue_client("001.01.10.H41", &tls, "gateway", None)
        .expect("client certificate");
    let secret = gateway.dir.join("axis-secret");
    std::fs::write(&secret, "test-secret-of-at-least-24-characters").expect("secret");
    let mut text = std::fs::read_to_string(&gateway.config).expect("read config");
    text.push_str(&format!(
        "\n[axis]\nurl = \"{url}\"\nsystem_id = \"001.01.10.H41\"\nsecret_file = \"axis-secret\"\n\
         ca = \"tls/ca.pem\"\ncertificate = \"tls/gateway.pem\"\nkey = \"tls/gateway.key\"\n{extra}"
    ));
    std::fs::write(&gateway.config, text).expect("write config");
}

/// A tokio runtime of `workers` threads and a listener it owns on a free loopback port,
/// for the servers the tests and benchmarks run in-process (a file server, a TSA, a raw
/// HTTPS baseline).
pub fn loopback_runtime(
    workers: usize,
) -> (
    tokio::runtime::Runtime,
    tokio::net::TcpListener,
    std::net::SocketAddr,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let address = listener.local_addr().expect("address");
    (runtime, listener, address)
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

pub fn into_json(response: reqwest::blocking::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("free port")
}

/// The DESIGN.md sample meta.
pub fn sample_meta() -> Value {
    serde_json::json!({
        "to": ["000.00.00.H41"],
        "subject": "Về việc báo cáo tình hình",
        "type": {"code": 1, "name": "Công văn"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch", "name": "Nguyễn Văn A"},
        "priority": 0,
        "due_date": "2026-12-31"
    })
}

/// A real one-page PDF whose text (and so whose bytes) depend on `tag`.
pub fn sample_pdf(tag: &str) -> Vec<u8> {
    docgate::demo::sample_pdf(tag).expect("sample pdf")
}

/// A valid one-page PDF of about `size` bytes: its bulk is one incompressible stream object
/// (seeded), so it can be signed and sealed like a real scan.
pub fn large_valid_pdf(size: usize, seed: u64) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut document = Document::with_version("1.7");
    let pages_id = document.new_object_id();
    let content = document.add_object(Stream::new(dictionary! {}, b"BT ET".to_vec()));
    let page = document.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    });
    document.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let mut rng = exchange::Rng::seeded(seed);
    let mut payload = Vec::with_capacity(size + 8);
    while payload.len() < size {
        payload.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    payload.truncate(size);
    document.add_object(Stream::new(dictionary! {}, payload));
    let catalog = document.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    document.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    document.save_to(&mut bytes).expect("write a PDF");
    bytes
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Every file under `dir` (recursively), as paths relative to it, sorted.
pub fn list_files(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.push(relative.display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// `PRAGMA integrity_check` through an independent read-only connection.
pub fn integrity_check(database: &Path) -> String {
    let connection =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open database read-only");
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check")
}
