//! A clerk at the HTTP level: creates accounts with `docgate clerk add`, keeps the
//! cookies a browser would keep, never follows redirects (tests look at them), and reads
//! the CSRF token out of the pages it gets.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::redirect::Policy;

use super::docgate;

/// `docgate clerk add --config CONFIG USERNAME --password-file` with `password`.
pub fn add_clerk(config: &Path, username: &str, password: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    let output = docgate()
        .args(["clerk", "add", "--config"])
        .arg(config)
        .args([username, "--name", "Văn thư thử nghiệm", "--password-file"])
        .arg(&file)
        .output()
        .expect("run docgate clerk add");
    assert!(
        output.status.success(),
        "clerk add failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A browser-like session with the clerk pages, at the HTTP level.
pub struct ClerkClient {
    pub url: String,
    client: Client,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` line seen, for checking the attributes.
    pub set_cookie_lines: Vec<String>,
}

impl ClerkClient {
    pub fn new(url: &str) -> ClerkClient {
        ClerkClient::with_builder(url, Client::builder())
    }

    /// Like [`ClerkClient::new`], from a client builder (e.g. one trusting a certificate).
    pub fn with_builder(url: &str, builder: reqwest::blocking::ClientBuilder) -> ClerkClient {
        ClerkClient {
            url: url.to_string(),
            client: builder.redirect(Policy::none()).build().expect("client"),
            cookies: BTreeMap::new(),
            set_cookie_lines: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for line in headers.get_all(SET_COOKIE) {
            let line = line.to_str().expect("ascii cookie").to_string();
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || line.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
            self.set_cookie_lines.push(line);
        }
    }

    /// GET `path`: status, `Location` and body.
    pub fn get(&mut self, path: &str) -> (u16, Option<String>, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .send()
            .expect("GET");
        self.finish(response)
    }

    /// POST a form to `path` as a same-origin browser would (with `Origin`), unless
    /// `origin` says otherwise.
    pub fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (u16, Option<String>, String) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.url))
            .header("cookie", self.cookie_header())
            .form(fields);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().expect("POST");
        self.finish(response)
    }

    /// The `Origin` a page of this gateway sends.
    pub fn own_origin(&self) -> String {
        self.url.clone()
    }

    fn finish(&mut self, response: Response) -> (u16, Option<String>, String) {
        self.keep_cookies(response.headers());
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().expect("ascii").to_string());
        (status, location, response.text().expect("body"))
    }

    /// Logs in through the form; the answer to the POST.
    pub fn try_login(&mut self, username: &str, password: &str) -> (u16, Option<String>, String) {
        let (status, _, page) = self.get("/clerk/login");
        assert_eq!(status, 200, "{page}");
        let csrf = csrf_token(&page).expect("the login form has a csrf field");
        let origin = self.own_origin();
        self.post_form(
            "/clerk/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
            Some(&origin),
        )
    }

    /// Logs in and asserts it worked.
    pub fn login(&mut self, username: &str, password: &str) {
        let (status, location, page) = self.try_login(username, password);
        assert_eq!(status, 303, "login failed: {page}");
        assert_eq!(location.as_deref(), Some("/clerk/incoming"));
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_token(page: &str) -> Option<String> {
    let start = page.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_string())
}
