//! A real browser for tests: Debian's `chromedriver` on a free loopback port drives a
//! headless `chromium` over WebDriver (the `fantoccini` client). Synchronous like the other
//! helpers: each call blocks on the browser's own small tokio runtime, so a test can mix it
//! with the blocking HTTP client of `GatewayProcess`.
//!
//! ```ignore
//! let browser = Browser::start("status_page", PHONE);
//! browser.goto(&gateway.url);
//! assert_eq!(browser.text("#overall"), "Hoạt động bình thường");
//! browser.screenshot("status");
//! ```
//!
//! Elements are named by CSS selectors; a selector that matches nothing is a panic naming
//! it (use [`Browser::count`] to ask whether something is there). Screenshots go to
//! `target/browser-screenshots/<test>-<page>-<width>.png`, kept by CI as artefacts.

use std::fs::File;
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use fantoccini::wd::{Capabilities, TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;

pub use fantoccini::cookies::Cookie;

/// What to do when the browser is missing: the tests fail rather than skip.
const INSTALL_HINT: &str = "install chromium and chromium-driver (tools/test.sh does it as root)";

/// How long a wait for an element, a page load or the driver may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// The size of the page's viewport, in CSS pixels, and whether it is a phone's (a mobile
/// viewport honours `<meta name="viewport">`, as a real phone does: without that tag the
/// page is laid out 980 px wide and overflows).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub width: u32,
    pub height: u32,
    pub mobile: bool,
}

/// A small phone, held upright.
pub const PHONE: Window = Window {
    width: 360,
    height: 800,
    mobile: true,
};

/// An office desktop.
pub const DESKTOP: Window = Window {
    width: 1280,
    height: 900,
    mobile: false,
};

/// One headless Chromium session and its chromedriver. Dropping it ends the session and
/// kills chromedriver's whole process group, so no browser process outlives the test.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    test: String,
    window: Window,
    /// The browser profile and the driver's log; removed after the driver is gone.
    _scratch: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile and a `window`-sized
    /// viewport; `test` names the screenshots. Panics with [`INSTALL_HINT`] when the browser
    /// or its driver is not installed.
    pub fn start(test: &str, window: Window) -> Browser {
        let chromium = find_program("chromium");
        let chromedriver = find_program("chromedriver");
        let scratch = tempfile::tempdir().expect("browser tempdir");
        let log = scratch.path().join("driver.log");
        let port = super::free_port();
        let mut driver = spawn_driver(&chromedriver, port, &log);
        wait_for_port(&mut driver, port, &log);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime for the browser");
        let capabilities = capabilities(&chromium, &scratch.path().join("profile"), window);
        let connected = runtime.block_on(
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        );
        let mut browser = Browser {
            runtime,
            client: None,
            driver,
            test: test.to_string(),
            window,
            _scratch: scratch,
        };
        match connected {
            Ok(client) => browser.client = Some(client),
            Err(error) => panic!(
                "cannot start headless chromium through chromedriver: {error}\n{}",
                read_log(&log)
            ),
        }
        let timeouts = TimeoutConfiguration::new(Some(PATIENCE), Some(PATIENCE), None);
        browser.run("set timeouts", |client| async move {
            client.update_timeouts(timeouts).await
        });
        browser
    }

    /// Loads `url` and waits until it has loaded.
    pub fn goto(&self, url: &str) {
        self.run(&format!("go to {url}"), |client| async move {
            client.goto(url).await
        });
    }

    /// The address of the page now shown.
    pub fn current_url(&self) -> String {
        self.run("read the URL", |client| async move {
            client.current_url().await
        })
        .to_string()
    }

    /// The page's `<title>`.
    pub fn title(&self) -> String {
        self.run(
            "read the title",
            |client| async move { client.title().await },
        )
    }

    /// Clicks the element `css` as a person would (it must be visible); a click that
    /// follows a link or submits a form returns once the new page has loaded.
    pub fn click(&self, css: &str) {
        self.run(&format!("click {css}"), |client| async move {
            client.find(Locator::Css(css)).await?.click().await
        });
    }

    /// Replaces the text of the input or textarea `css` with `text`, typed key by key.
    pub fn fill(&self, css: &str, text: &str) {
        self.run(&format!("fill {css}"), |client| async move {
            let field = client.find(Locator::Css(css)).await?;
            field.clear().await?;
            field.send_keys(text).await
        });
    }

    /// Chooses `file` in the `<input type="file">` `css` (the path is made absolute).
    pub fn upload(&self, css: &str, file: &Path) {
        let path = std::fs::canonicalize(file)
            .unwrap_or_else(|error| panic!("file to upload {}: {error}", file.display()));
        let path = path.to_str().expect("a UTF-8 path to upload").to_string();
        self.run(&format!("upload into {css}"), |client| async move {
            client.find(Locator::Css(css)).await?.send_keys(&path).await
        });
    }

    /// Submits the form `css` by clicking its first submit button.
    pub fn submit(&self, css: &str) {
        self.run(&format!("submit {css}"), |client| async move {
            let form = client.form(Locator::Css(css)).await?;
            form.submit_with(Locator::Css(
                "button:not([type]), button[type=submit], input[type=submit]",
            ))
            .await
        });
    }

    /// Waits (up to 30 s) until an element matches `css`, e.g. after a click.
    pub fn wait_for(&self, css: &str) {
        self.run(&format!("wait for {css}"), |client| async move {
            client
                .wait()
                .at_most(PATIENCE)
                .for_element(Locator::Css(css))
                .await
                .map(drop)
        });
    }

    /// Waits (up to 30 s) until the first element matching `css` shows `needle`, reading it
    /// again while the page changes under it (after a form is submitted, the old page may
    /// still answer, or its element go stale, before the new one is there).
    pub fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let started = std::time::Instant::now();
        loop {
            let seen = self.runtime.block_on(async {
                let element = self.client().find(Locator::Css(css)).await?;
                element.text().await
            });
            match seen {
                Ok(text) if text.contains(needle) => return text,
                Ok(text) if started.elapsed() > PATIENCE => {
                    panic!("browser: {css} never showed {needle:?}; it shows {text:?}")
                }
                Err(error) if started.elapsed() > PATIENCE => {
                    panic!("browser: {css} never showed {needle:?}: {error}")
                }
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// The rendered text of the first element matching `css` (as a person sees it:
    /// hidden parts left out, whitespace collapsed).
    pub fn text(&self, css: &str) -> String {
        self.run(&format!("read the text of {css}"), |client| async move {
            client.find(Locator::Css(css)).await?.text().await
        })
    }

    /// The rendered text of every element matching `css`, in document order.
    pub fn texts(&self, css: &str) -> Vec<String> {
        self.run(&format!("read the texts of {css}"), |client| async move {
            let mut texts = Vec::new();
            for element in client.find_all(Locator::Css(css)).await? {
                texts.push(element.text().await?);
            }
            Ok(texts)
        })
    }

    /// The attribute `name` of the first element matching `css`, if it has one.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.run(&format!("read {name} of {css}"), |client| async move {
            client.find(Locator::Css(css)).await?.attr(name).await
        })
    }

    /// How many elements match `css` (0 when none: never a panic).
    pub fn count(&self, css: &str) -> usize {
        self.run(&format!("count {css}"), |client| async move {
            client
                .find_all(Locator::Css(css))
                .await
                .map(|found| found.len())
        })
    }

    /// The cookies the browser holds for the page now shown (including HttpOnly ones).
    pub fn cookies(&self) -> Vec<Cookie<'static>> {
        self.run("read the cookies", |client| async move {
            client.get_all_cookies().await
        })
    }

    /// The text of an open alert, confirm or prompt dialog, if one is open.
    pub fn dialog(&self) -> Option<String> {
        let client = self.client();
        match self.runtime.block_on(client.get_alert_text()) {
            Ok(text) => Some(text),
            Err(error) if error.is_no_such_alert() => None,
            Err(error) => panic!("browser: read a dialog: {error}"),
        }
    }

    /// Runs `script` in the page (`return …` gives the result; `args` are `arguments[i]`).
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.run("run a script", |client| async move {
            client.execute(script, args).await
        })
    }

    /// `document.documentElement.scrollWidth`: wider than the window means the page
    /// scrolls sideways.
    pub fn scroll_width(&self) -> u64 {
        let width = self.execute("return document.documentElement.scrollWidth", vec![]);
        width.as_u64().expect("scrollWidth is a number")
    }

    /// The window this browser was started with.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Saves a PNG of the whole page (beyond the viewport too) as
    /// `target/browser-screenshots/<test>-<page>-<width>.png` and returns its path.
    pub fn screenshot(&self, page: &str) -> PathBuf {
        let answer = self.run("take a screenshot", |client| async move {
            let command = ChromeDevTools {
                method: "Page.captureScreenshot",
                params: json!({"format": "png", "captureBeyondViewport": true}),
            };
            client.issue_cmd(command).await
        });
        let png = answer["data"]
            .as_str()
            .and_then(|data| base64::engine::general_purpose::STANDARD.decode(data).ok())
            .unwrap_or_else(|| panic!("browser: no PNG in the screenshot answer {answer}"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
        std::fs::create_dir_all(&dir).expect("create target/browser-screenshots");
        let path = dir.join(format!("{}-{page}-{}.png", self.test, self.window.width));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }

    fn client(&self) -> Client {
        self.client.clone().expect("a browser session")
    }

    /// Runs one WebDriver exchange to completion; an error is a panic naming `what`.
    fn run<T, F>(&self, what: &str, exchange: impl FnOnce(Client) -> F) -> T
    where
        F: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        self.runtime
            .block_on(exchange(self.client()))
            .unwrap_or_else(|error| panic!("browser: {what}: {error}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            // Ask chromedriver to quit Chromium; the group kill below is the backstop.
            let _ = self
                .runtime
                .block_on(async { tokio::time::timeout(PATIENCE, client.close()).await });
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `name` on `PATH`, or a panic saying what to install.
fn find_program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: {INSTALL_HINT}"))
}

/// chromedriver on `port`, logging to `log`, in a process group of its own (Chromium and
/// its helpers join it, so one signal ends them all).
fn spawn_driver(chromedriver: &Path, port: u16, log: &Path) -> Child {
    let output = File::create(log).expect("create the driver log");
    Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(output.try_clone().expect("driver log"))
        .stderr(output)
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run {}: {error}: {INSTALL_HINT}",
                chromedriver.display()
            )
        })
}

/// Waits until chromedriver listens on `port`; panics with its log if it exits or hangs.
fn wait_for_port(driver: &mut Child, port: u16, log: &Path) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = driver.try_wait() {
            panic!(
                "chromedriver exited at start ({status}):\n{}",
                read_log(log)
            );
        }
        assert!(
            started.elapsed() < PATIENCE,
            "chromedriver did not listen on port {port}:\n{}",
            read_log(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Headless Chromium with a fresh profile in `profile` and a `window`-sized viewport. The
/// test machine may reach loopback only, so Chromium makes no background requests and
/// resolves no name but `localhost` (and `127.0.0.1`, which the rule would map too).
fn capabilities(chromium: &Path, profile: &Path, window: Window) -> Capabilities {
    let mut args = vec![
        "--headless=new".to_string(),
        "--disable-gpu".to_string(),
        "--disable-dev-shm-usage".to_string(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={},{}", window.width, window.height),
        "--no-first-run".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1".to_string(),
    ];
    if running_as_root() {
        // Chromium's sandbox refuses to run as root.
        args.push("--no-sandbox".to_string());
    }
    // Headless windows are at least 500 px wide and keep room for browser chrome, so the
    // viewport is set by device emulation rather than by the window size.
    let metrics = json!({
        "width": window.width,
        "height": window.height,
        "pixelRatio": 1.0,
        "mobile": window.mobile,
        "touch": window.mobile,
    });
    let options = json!({
        "binary": chromium,
        "args": args,
        "mobileEmulation": {"deviceMetrics": metrics},
    });
    let mut capabilities = Capabilities::new();
    capabilities.insert("browserName".to_string(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".to_string(), options);
    capabilities
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user).
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

fn read_log(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    format!("chromedriver log {}:\n{text}", log.display())
}

/// One Chrome DevTools Protocol call through chromedriver's `goog/cdp/execute` endpoint
/// (a full-page screenshot is not in WebDriver itself).
#[derive(Debug)]
struct ChromeDevTools {
    method: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for ChromeDevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/goog/cdp/execute"))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.method, "params": self.params});
        (http::Method::POST, Some(body.to_string()))
    }
}
