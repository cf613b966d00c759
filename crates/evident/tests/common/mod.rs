//! The one test helper for black-box tests: a real `evident serve` process
//! on a free port with its own temporary data directory.
#![allow(dead_code)] // each test binary uses a different part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

/// The operator key every test server starts with.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijklmnop";

/// The repository's root, found at run time (so a moved checkout works).
pub fn repo_root() -> PathBuf {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    Path::new(&crate_dir).join("../..")
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_evident")
}

pub struct TestServer {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    /// Keeps the data directory alive for the server's lifetime (None when borrowed).
    _temp: Option<tempfile::TempDir>,
    pub http: Client,
    /// stdout lines after "listening on ..." (a Mutex so that tests can share the server across threads).
    pub stdout: Mutex<mpsc::Receiver<String>>,
}

impl TestServer {
    /// A server on a fresh data directory.
    pub fn start() -> TestServer {
        TestServer::start_with(&[], &[])
    }

    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let mut server = TestServer::start_in(&data_dir, args, env);
        server._temp = Some(temp);
        server
    }

    /// A server on `data_dir` (which may hold an earlier server's data).
    pub fn start_in(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        TestServer::spawn(data_dir, args, env, None)
    }

    /// A server on a fresh data directory whose log (at debug level) goes to `log`.
    pub fn start_logging(args: &[&str], env: &[(&str, &str)], log: &Path) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = temp.path().join("data");
        let mut server = TestServer::spawn(&data_dir, args, env, Some(log));
        server._temp = Some(temp);
        server
    }

    fn spawn(
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> TestServer {
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("EVIDENT_ADMIN_KEY", ADMIN_KEY)
            .env("EVIDENT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("log file");
            command
                .stderr(Stdio::from(file))
                .env("EVIDENT_LOG", "debug");
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting evident serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = line.strip_prefix("listening on ") {
                        break address.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("the server did not report its address within 30 s");
                }
            }
        };
        TestServer {
            child,
            url,
            data_dir: data_dir.to_owned(),
            _temp: None,
            http: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("http client"),
            stdout: Mutex::new(lines),
        }
    }

    pub fn get(&self, path: &str, key: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn post(&self, path: &str, key: &str) -> RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn patch(&self, path: &str, key: &str) -> RequestBuilder {
        self.http
            .patch(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    pub fn delete(&self, path: &str, key: &str) -> RequestBuilder {
        self.http
            .delete(format!("{}{path}", self.url))
            .bearer_auth(key)
    }

    /// Creates a tenant with the admin key; panics unless 201.
    pub fn create_tenant(&self, id: &str, parent: Option<&str>) {
        let name = format!("{} Inc", id);
        let response = self
            .post("/v1/tenants", ADMIN_KEY)
            .json(&json!({"id": id, "name": name, "parent": parent}))
            .send()
            .expect("request");
        assert_eq!(
            response.status(),
            201,
            "creating tenant {id}: {:?}",
            response.text()
        );
    }

    /// Creates a key with the admin key and returns it.
    pub fn create_key(&self, tenant: Option<&str>, scopes: &[&str]) -> String {
        let answer = expect_json(
            self.post("/v1/keys", ADMIN_KEY)
                .json(&json!({"name": "test key", "tenant": tenant, "scopes": scopes}))
                .send()
                .expect("request"),
            201,
        );
        answer["key"].as_str().expect("key in answer").to_owned()
    }

    /// Ingests events (a batch) with the admin key; returns the receipts.
    pub fn ingest(&self, tenant: &str, events: &[Value]) -> Vec<Value> {
        let answer = expect_json(
            self.post(&format!("/v1/tenants/{tenant}/events"), ADMIN_KEY)
                .json(&json!({ "events": events }))
                .send()
                .expect("request"),
            201,
        );
        answer["events"].as_array().expect("receipts").clone()
    }

    /// GET with the admin key, expecting 200 JSON.
    pub fn get_json(&self, path: &str) -> Value {
        expect_json(self.get(path, ADMIN_KEY).send().expect("request"), 200)
    }

    /// Every event of a tenant (oldest first), paging with a cursor.
    pub fn all_events(&self, tenant: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/tenants/{tenant}/events?sort=asc&limit=1000");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get_json(&path);
            events.extend(page["events"].as_array().expect("events").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return events,
            }
        }
    }

    /// Sends SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `KILL`, `HUP`) without waiting.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status();
        assert!(status.is_ok_and(|status| status.success()), "kill -{name}");
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not stop within 30 s of SIGTERM");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts the status and returns the JSON body.
pub fn expect_json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// Asserts a problem+json answer with this status and returns it.
pub fn expect_problem(response: Response, status: u16) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let problem = expect_json(response, status);
    assert_eq!(
        content_type, "application/problem+json",
        "problem content type"
    );
    assert_eq!(problem["status"], status);
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|kind| kind.starts_with("urn:evident:problem:"))
    );
    problem
}

/// A realistic valid event; `n` varies it.
pub fn event(n: usize) -> Value {
    let people = [
        ("usr_ada", "Ada Lovelace", "ada@acme.example"),
        ("usr_grace", "Grace Hopper", "grace@acme.example"),
    ];
    let (id, name, email) = people[n % people.len()];
    json!({
        "action": if n.is_multiple_of(3) { "license.revoked" } else { "user.login" },
        "occurred_at": format!("2026-05-{:02}T10:{:02}:00Z", 1 + n % 28, n % 60),
        "actor": {"type": "user", "id": id, "name": name, "email": email},
        "targets": [{"type": "license", "id": format!("lic_{n}"), "name": format!("Pro seat {n}")}],
        "context": {"ip": format!("203.0.113.{}", n % 250), "user_agent": "Mozilla/5.0"},
        "channel": if n.is_multiple_of(2) { "portal" } else { "api" },
        "description": format!("{name} acted on seat {n}"),
        "metadata": {"pool": "enterprise", "n": n}
    })
}

/// `evident migrate` and `evident serve`, each with `store_args` (where the
/// store is), both refuse a store of schema version `found`, naming it.
pub fn assert_newer_schema_refused(store_args: &[&std::ffi::OsStr], found: i64) {
    for command in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let output = Command::new(binary())
            .args(command)
            .args(store_args)
            .env("EVIDENT_LOG", "error")
            .env("EVIDENT_ADMIN_KEY", ADMIN_KEY)
            .output()
            .expect("running evident");
        assert!(!output.status.success(), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("schema version {found}"))
                && stderr.contains("upgrade Evident"),
            "{command:?}: {stderr}"
        );
    }
}

/// Polls `check` until it returns Some, or panics after `seconds`.
pub fn wait_for<T>(seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Percent-encodes a query parameter's value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
