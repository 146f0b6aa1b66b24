//! The clerk pages' security at the HTTP level, against a real `docgate run`: anonymous
//! requests refused, CSRF-less and cross-site posts refused and changing nothing, brute
//! force locked out, sessions ending on logout, password change and removal, cookies with
//! the right attributes, and values from documents escaped. (The pages in a real browser:
//! tests/browser_clerk.rs.)

mod common;

use common::clerk::{add_clerk, csrf_token, ClerkClient};
use common::{docgate, GatewayDir, GatewayProcess};
use serde_json::{json, Value};

const PASSWORD: &str = "mật khẩu đủ dài 2026";

struct Box {
    _dir: tempfile::TempDir,
    gateway: GatewayDir,
    process: GatewayProcess,
}

fn start() -> Box {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    add_clerk(&gateway.config, "vanthu", PASSWORD);
    let process = gateway.start();
    Box {
        _dir: dir,
        gateway,
        process,
    }
}

/// An outgoing document through the local API whose every text field is hostile markup.
fn hostile_document(process: &GatewayProcess) -> String {
    let meta = json!({
        "to": ["000.00.00.H41"],
        "subject": "<script>alert('subject')</script><img src=x onerror=alert(1)>",
        "type": {"code": 1, "name": "Công văn<b>x</b>"},
        "code_number": null,
        "code_notation": "UBND-VP",
        "signer": {"competence": "TM.", "position": "Chủ tịch<i>", "name": "\"><script>alert(2)</script>"},
    });
    let (status, body) = process.post_document(
        &meta,
        &[("a<b>.pdf", "application/pdf", common::sample_pdf("hostile"))],
        None,
    );
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().expect("id").to_string()
}

#[test]
fn anonymous_visitors_see_no_clerk_page_and_no_file() {
    let gateway = start();
    let id = hostile_document(&gateway.process);
    let mut anonymous = ClerkClient::new(&gateway.process.url);
    for path in [
        "/clerk".to_string(),
        "/clerk/incoming".to_string(),
        "/clerk/outgoing".to_string(),
        "/clerk/upload".to_string(),
        "/clerk/registers".to_string(),
        "/clerk/registers/out?year=2026&format=csv".to_string(),
        format!("/clerk/documents/{id}"),
        format!("/clerk/documents/{id}/files/1"),
    ] {
        let (status, location, body) = anonymous.get(&path);
        assert_eq!(status, 303, "{path}");
        assert_eq!(location.as_deref(), Some("/clerk/login"), "{path}");
        assert!(body.is_empty(), "{path} leaked {body}");
    }
    let origin = anonymous.own_origin();
    for path in [
        format!("/clerk/documents/{id}/recall"),
        "/clerk/logout".into(),
    ] {
        let (status, _, body) =
            anonymous.post_form(&path, &[("csrf", "x"), ("reason", "r")], Some(&origin));
        assert_eq!(status, 403, "{path}: {body}");
    }
    // A forged session cookie is no session.
    anonymous
        .cookies
        .insert("docgate_session".into(), "0".repeat(64));
    assert_eq!(anonymous.get("/clerk/incoming").0, 303);
    // The API's bearer token does not open the clerk pages either.
    let response = common::client()
        .get(format!(
            "{}/clerk/documents/{id}/files/1",
            gateway.process.url
        ))
        .bearer_auth(&gateway.process.token)
        .send()
        .expect("GET");
    assert!(
        response.url().path().ends_with("/clerk/login"),
        "sent to the login page"
    );
    assert!(!response.text().expect("body").contains("%PDF"));
    // Nothing of the document reached anyone: the recall did not happen.
    let (_, document) = gateway.process.get_json(&format!("/api/v1/documents/{id}"));
    assert!(document["cancelled"].is_null(), "{document}");
}

#[test]
fn logging_in_sets_a_strict_http_only_cookie_and_logging_out_ends_the_session() {
    let gateway = start();
    let mut clerk = ClerkClient::new(&gateway.process.url);
    clerk.login("vanthu", PASSWORD);
    let session_line = clerk
        .set_cookie_lines
        .iter()
        .find(|line| line.starts_with("docgate_session="))
        .expect("a session cookie")
        .clone();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/clerk"] {
        assert!(session_line.contains(attribute), "{session_line}");
    }
    let token = clerk.cookies["docgate_session"].clone();
    assert_eq!(token.len(), 64, "256 random bits, hex");
    let (status, _, page) = clerk.get("/clerk/incoming");
    assert_eq!(status, 200);
    assert!(
        page.contains("Văn thư thử nghiệm"),
        "the clerk's name is shown"
    );
    let headers = common::client()
        .get(format!("{}/clerk/incoming", gateway.process.url))
        .header("cookie", format!("docgate_session={token}"))
        .send()
        .expect("GET");
    let csp = headers.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(headers.headers()["x-frame-options"], "DENY");
    assert_eq!(headers.headers()["cache-control"], "no-store");

    // Logout needs the CSRF token too.
    let origin = clerk.own_origin();
    let (status, _, _) = clerk.post_form("/clerk/logout", &[("csrf", "wrong")], Some(&origin));
    assert_eq!(status, 403);
    assert_eq!(clerk.get("/clerk/incoming").0, 200, "still logged in");
    let csrf = csrf_token(&page).expect("csrf");
    let (status, location, _) = clerk.post_form("/clerk/logout", &[("csrf", &csrf)], Some(&origin));
    assert_eq!((status, location.as_deref()), (303, Some("/clerk/login")));
    // The old cookie, replayed, opens nothing.
    let mut replay = ClerkClient::new(&gateway.process.url);
    replay.cookies.insert("docgate_session".into(), token);
    assert_eq!(replay.get("/clerk/incoming").0, 303);
}

#[test]
fn a_new_password_or_a_removed_account_ends_the_clerks_sessions() {
    let gateway = start();
    let mut clerk = ClerkClient::new(&gateway.process.url);
    clerk.login("vanthu", PASSWORD);
    assert_eq!(clerk.get("/clerk/outgoing").0, 200);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pw");
    std::fs::write(&file, "một mật khẩu mới hoàn toàn\n").expect("write");
    let output = docgate()
        .args(["clerk", "passwd", "--config"])
        .arg(&gateway.gateway.config)
        .args(["vanthu", "--password-file"])
        .arg(&file)
        .output()
        .expect("clerk passwd");
    assert!(output.status.success());
    assert_eq!(clerk.get("/clerk/outgoing").0, 303, "the old session ended");
    let list = docgate()
        .args(["clerk", "list", "--config"])
        .arg(&gateway.gateway.config)
        .output()
        .expect("clerk list");
    let list = String::from_utf8(list.stdout).expect("utf-8");
    assert_eq!(
        list, "vanthu\tVăn thư thử nghiệm\n",
        "names only, never a hash"
    );
    // A weak password and a duplicate account are refused with a reason, and change nothing.
    let before = std::fs::read(gateway.gateway.dir.join("clerks.toml")).expect("accounts");
    std::fs::write(&file, "ngắn\n").expect("write");
    let weak = docgate()
        .args(["clerk", "add", "--config"])
        .arg(&gateway.gateway.config)
        .args(["ketoan", "--password-file"])
        .arg(&file)
        .output()
        .expect("clerk add");
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("too short"));
    let duplicate = docgate()
        .args(["clerk", "add", "--config"])
        .arg(&gateway.gateway.config)
        .arg("vanthu")
        .output()
        .expect("clerk add");
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read(gateway.gateway.dir.join("clerks.toml")).expect("accounts"),
        before
    );
    assert_eq!(
        clerk.try_login("vanthu", PASSWORD).0,
        401,
        "the old password is gone"
    );
    clerk.login("vanthu", "một mật khẩu mới hoàn toàn");
    let output = docgate()
        .args(["clerk", "remove", "--config"])
        .arg(&gateway.gateway.config)
        .arg("vanthu")
        .output()
        .expect("clerk remove");
    assert!(output.status.success());
    assert_eq!(
        clerk.get("/clerk/outgoing").0,
        303,
        "a removed clerk is logged out"
    );
}

#[test]
fn posts_without_the_csrf_token_or_from_another_site_are_refused_and_change_nothing() {
    let gateway = start();
    let id = hostile_document(&gateway.process);
    let mut clerk = ClerkClient::new(&gateway.process.url);
    clerk.login("vanthu", PASSWORD);
    let (_, _, page) = clerk.get(&format!("/clerk/documents/{id}"));
    let csrf = csrf_token(&page).expect("csrf");
    let origin = clerk.own_origin();
    let recall = format!("/clerk/documents/{id}/recall");
    let refused = [
        (vec![("reason", "no token")], Some(origin.as_str())),
        (
            vec![("csrf", "0123"), ("reason", "wrong token")],
            Some(origin.as_str()),
        ),
        (
            vec![("csrf", csrf.as_str()), ("reason", "cross-site")],
            Some("http://evil.example"),
        ),
    ];
    for (fields, origin) in refused {
        let (status, _, body) = clerk.post_form(&recall, &fields, origin);
        assert_eq!(status, 403, "{fields:?}: {body}");
    }
    // A login form posted from another site is refused before any password is checked.
    let (status, _, _) = clerk.post_form(
        "/clerk/login",
        &[
            ("csrf", "x"),
            ("username", "vanthu"),
            ("password", PASSWORD),
        ],
        Some("http://evil.example"),
    );
    assert_eq!(status, 403);
    let (_, document) = gateway.process.get_json(&format!("/api/v1/documents/{id}"));
    assert!(
        document["cancelled"].is_null(),
        "nothing changed: {document}"
    );
    assert!(
        document["requests"].as_array().is_some_and(Vec::is_empty),
        "{document}"
    );

    // With the token, the same recall goes through (never sent: withdrawn at once).
    let (status, location, body) = clerk.post_form(
        &recall,
        &[("csrf", &csrf), ("reason", "gửi nhầm")],
        Some(&origin),
    );
    assert_eq!(status, 303, "{body}");
    assert_eq!(
        location,
        Some(format!("/clerk/documents/{id}?done=withdrawn"))
    );
    let (_, document) = gateway.process.get_json(&format!("/api/v1/documents/{id}"));
    assert_eq!(document["cancelled"]["reason"], "gửi nhầm", "{document}");
}

#[test]
fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let gateway = start();
    let mut attacker = ClerkClient::new(&gateway.process.url);
    for attempt in 0..5 {
        let (status, _, page) = attacker.try_login("vanthu", &format!("đoán sai số {attempt}"));
        assert_eq!(status, 401, "attempt {attempt}");
        assert!(page.contains("Sai tên đăng nhập hoặc mật khẩu"));
    }
    let (status, _, page) = attacker.try_login("vanthu", PASSWORD);
    assert_eq!(status, 429, "locked: {page}");
    assert!(page.contains("tạm khoá"), "{page}");
    assert!(!attacker.cookies.contains_key("docgate_session"));
    // An unknown username answers exactly like a wrong password (no account discovery).
    let mut other = ClerkClient::new(&gateway.process.url);
    let (status, _, page) = other.try_login("khongtontai", "bất kỳ mật khẩu nào");
    assert_eq!(status, 401);
    assert!(page.contains("Sai tên đăng nhập hoặc mật khẩu"));
    // A login without the login form's cookie token is refused.
    let (status, _, _) = other.post_form(
        "/clerk/login",
        &[
            ("csrf", "x"),
            ("username", "vanthu"),
            ("password", PASSWORD),
        ],
        None,
    );
    assert_eq!(status, 403);
}

#[test]
fn every_value_from_a_document_is_escaped() {
    let gateway = start();
    let id = hostile_document(&gateway.process);
    let mut clerk = ClerkClient::new(&gateway.process.url);
    clerk.login("vanthu", PASSWORD);
    for path in [
        "/clerk/outgoing".to_string(),
        format!("/clerk/documents/{id}"),
    ] {
        let (status, _, page) = clerk.get(&path);
        assert_eq!(status, 200, "{path}");
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(
            !page.contains("<b>x</b>") && !page.contains("Chủ tịch<i>"),
            "{path}"
        );
        assert!(
            page.contains("&lt;script&gt;alert("),
            "{path}: shown as text"
        );
    }
    let (_, _, page) = clerk.get(&format!("/clerk/documents/{id}"));
    assert!(page.contains("a&lt;b&gt;.pdf"), "the file name, as text");
}

#[test]
fn the_upload_form_refuses_a_forged_post_before_reading_files() {
    let gateway = start();
    let mut clerk = ClerkClient::new(&gateway.process.url);
    clerk.login("vanthu", PASSWORD);
    let cookie = format!("docgate_session={}", clerk.cookies["docgate_session"]);
    let form = reqwest::blocking::multipart::Form::new()
        .text("csrf", "forged")
        .text("to", "000.00.00.H41")
        .part(
            "file",
            reqwest::blocking::multipart::Part::bytes(common::sample_pdf("x")).file_name("x.pdf"),
        );
    let response = common::client()
        .post(format!("{}/clerk/upload", gateway.process.url))
        .header("cookie", &cookie)
        .multipart(form)
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 403);
    let (_, list) = gateway.process.get_json("/api/v1/documents?direction=out");
    assert_eq!(list["documents"], Value::Array(vec![]), "nothing stored");
    let blobs = common::list_files(&gateway.gateway.blobs_dir());
    assert!(blobs.is_empty(), "nothing staged or kept: {blobs:?}");
}

#[test]
fn over_https_the_session_cookie_is_secure_and_plain_http_gets_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gateway = GatewayDir::init(dir.path(), &[]);
    add_clerk(&gateway.config, "vanthu", PASSWORD);
    let mut params =
        rcgen::CertificateParams::new(vec!["docgate.local".to_string()]).expect("params");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().expect("ip")));
    let key = rcgen::KeyPair::generate().expect("key");
    let certificate = params.self_signed(&key).expect("certificate");
    std::fs::write(dir.path().join("lan.pem"), certificate.pem()).expect("write");
    std::fs::write(dir.path().join("lan-key.pem"), key.serialize_pem()).expect("write");
    let text = std::fs::read_to_string(&gateway.config).expect("config");
    let text = text.replacen(
        "[api]\n",
        "[api]\ntls_certificate = \"lan.pem\"\ntls_key = \"lan-key.pem\"\n",
        1,
    );
    std::fs::write(&gateway.config, text).expect("config");
    let check = docgate()
        .args(["config", "check", "--config"])
        .arg(&gateway.config)
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let _daemon = KillOnDrop(
        common::docgate_run(&gateway.config, &[])
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let https_url = gateway.url.replace("http://", "https://");
    let trusting = || {
        reqwest::blocking::Client::builder().add_root_certificate(
            reqwest::Certificate::from_pem(certificate.pem().as_bytes()).expect("pem"),
        )
    };
    let probe = trusting().build().expect("client");
    let up = common::exchange::wait_for(std::time::Duration::from_secs(30), || {
        probe.get(format!("{https_url}/healthz")).send().ok()
    });
    assert!(up.is_some(), "the gateway answers over HTTPS");

    let mut clerk = ClerkClient::with_builder(&https_url, trusting());
    clerk.login("vanthu", PASSWORD);
    let line = clerk
        .set_cookie_lines
        .iter()
        .find(|line| line.starts_with("docgate_session="))
        .expect("session cookie")
        .clone();
    assert!(
        line.contains("Secure") && line.contains("HttpOnly"),
        "{line}"
    );
    assert_eq!(clerk.get("/clerk/incoming").0, 200);

    // Plain HTTP on the same port gets no page.
    let plain = reqwest::blocking::Client::new()
        .get(format!("{}/clerk/login", gateway.url))
        .send();
    assert!(plain
        .map(|response| !response.status().is_success())
        .unwrap_or(true));
    // `docgate status` reaches the daemon over HTTPS, pinned to the configured certificate.
    let status = docgate()
        .args(["status", "--json", "--config"])
        .arg(&gateway.config)
        .output()
        .expect("status");
    assert_ne!(
        status.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let facts: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert!(facts["checks"].is_array(), "{facts}");
}

/// A daemon that is killed however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
