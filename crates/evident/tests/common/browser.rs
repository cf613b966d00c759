//! The page tests' browser: the binary's WebDriver session (src/browser.rs)
//! with the commands the tests use, each failure a panic.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::webdriver::Session;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser for tests: every WebDriver failure is a test failure.
pub struct Browser {
    session: Session,
}

impl Browser {
    /// A desktop window 1280 px wide.
    pub fn desktop() -> Browser {
        Browser::start(json!({}), "1280,900")
    }

    /// A desktop window that blocks third-party cookies, as Chrome's setting does.
    pub fn blocking_third_party_cookies() -> Browser {
        Browser::start(
            json!({"prefs": {"profile.cookie_controls_mode": 1, "profile.block_third_party_cookies": true}}),
            "1280,900",
        )
    }

    /// A phone: 375 CSS px wide, as Chromium's mobile emulation lays it out.
    pub fn phone() -> Browser {
        Browser::start(
            json!({"mobileEmulation": {"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 1.0}}}),
            "375,812",
        )
    }

    fn start(extra: Value, window: &str) -> Browser {
        Browser {
            session: Session::start(extra, window)
                .unwrap_or_else(|error| panic!("{error:#} (.ci/run installs them)")),
        }
    }

    fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.session
            .command(method, path, body)
            .unwrap_or_else(|error| panic!("{error:#}"))
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body))
    }

    /// Loads a page and waits for it.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Runs an async script: its last argument is the callback that returns the value.
    pub fn run_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// The text of the first element matching `css`, or None.
    pub fn text(&self, css: &str) -> Option<String> {
        self.run(
            "const found = document.querySelector(arguments[0]); return found ? found.textContent : null;",
            json!([css]),
        )
        .as_str()
        .map(str::to_owned)
    }

    fn element(&self, css: &str) -> String {
        let found = self.post("/element", json!({ "using": "css selector", "value": css }));
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// Runs the next commands inside the iframe matching `css`.
    pub fn enter_frame(&self, css: &str) {
        let element = self.element(css);
        self.post("/frame", json!({ "id": { ELEMENT: element } }));
    }

    pub fn leave_frame(&self) {
        self.post("/frame/parent", json!({}));
    }

    pub fn click(&self, css: &str) {
        let element = self.element(css);
        self.post(&format!("/element/{element}/click"), json!({}));
    }

    /// Replaces a field's text with `text`, typed key by key.
    pub fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css);
        self.post(&format!("/element/{element}/clear"), json!({}));
        self.post(
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    /// Presses a key (e.g. "\u{E007}" for Enter) where the focus is.
    pub fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
            ]}]}),
        );
    }

    /// Does `act`, which leaves the page, and waits until the next page has loaded.
    pub fn navigating(&self, act: impl FnOnce()) {
        self.run("window.__evidentOldPage = true;", json!([]));
        act();
        self.wait_until(
            "window.__evidentOldPage === undefined && document.readyState === 'complete'",
            "the next page",
        );
    }

    /// The Back button; the page may come back from the browser's cache, so
    /// this waits for the address to change rather than for a fresh load.
    pub fn back(&self) {
        let before = self.url();
        self.post("/back", json!({}));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.url() == before
            || self.run("return document.readyState;", json!([])) != json!("complete")
        {
            assert!(
                Instant::now() < deadline,
                "waited 20 s to go back from {before}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a JavaScript expression is true, for at most 20 s.
    pub fn wait_until(&self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let script = format!("try {{ return !!({expression}); }} catch (e) {{ return false; }}");
        while self.run(&script, json!([])) != json!(true) {
            assert!(Instant::now() < deadline, "waited 20 s for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }));
    }

    /// A PNG of the whole page (the window widened to the page's height).
    pub fn screenshot(&self, path: &Path) -> Vec<u8> {
        let encoded = self.command(reqwest::Method::GET, "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot dir");
        }
        std::fs::write(path, &png).expect("writing the screenshot");
        png
    }
}

/// A PNG's width and height, from its IHDR chunk.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[1..4], b"PNG", "not a PNG");
    let number = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (number(16), number(20))
}
