//! Headless Chromium driven through ChromeDriver's W3C WebDriver protocol:
//! JSON over HTTP, spoken with reqwest. The benchmark harness times the audit
//! log page in it, and the page's tests (crates/evident/tests/ui.rs) drive it;
//! the few commands they use need no driver crate and its TLS stack.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::{Value, json};

/// Debian's Chromium and ChromeDriver (packages chromium and chromium-driver).
pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether Chromium and ChromeDriver are installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// One browser: a ChromeDriver process and its session, both ended on drop.
pub struct Session {
    driver: Child,
    base: String,
    id: String,
    http: Client,
    _profile: tempfile::TempDir,
}

impl Session {
    /// Starts headless Chromium with a fresh profile; `extra` is merged into
    /// its `goog:chromeOptions`, `window` is `width,height`.
    pub fn start(extra: Value, window: &str) -> anyhow::Result<Session> {
        if !available() {
            bail!(
                "{CHROMIUM} or {CHROMEDRIVER} is missing: install Debian's chromium and chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = Client::builder().timeout(Duration::from_secs(60)).build()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|response| response.json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                let _ = driver.kill();
                bail!("chromedriver did not start within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir()?;
        // Without the networking flags Chromium keeps calling home, which this
        // kind of closed machine refuses.
        let mut options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                format!("--window-size={window}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if let (Some(options), Some(extra)) = (options.as_object_mut(), extra.as_object()) {
            options.extend(extra.clone());
        }
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": options,
            }}}))
            .send()
            .context("creating a browser session")?
            .json()?;
        let Some(id) = created["value"]["sessionId"].as_str().map(str::to_owned) else {
            let _ = driver.kill();
            bail!("chromedriver made no session: {created}");
        };
        Ok(Session {
            driver,
            base,
            id,
            http,
            _profile: profile,
        })
    }

    /// Sends one WebDriver command of this session; its `value`.
    pub fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.id);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .with_context(|| format!("WebDriver {path}"))?
            .json()?;
        if answer["value"]["error"].is_string() {
            bail!("WebDriver {path}: {}", answer["value"]);
        }
        Ok(answer["value"].clone())
    }

    /// Loads a page and waits for it.
    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))?;
        Ok(())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> anyhow::Result<Value> {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.id))
            .send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
