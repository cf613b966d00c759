//! Query latency over loopback HTTP: the baselines' queries, each as a keyset
//! page of 50 and as a numbered page with its exact total.

use std::time::{Duration, Instant};

use anyhow::ensure;
use jiff::{Span, Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::workload::Workload;
use super::{Latency, latency};

/// One query of the suite: its name in baselines.json and how it draws parameters.
pub struct QueryKind {
    pub key: &'static str,
    pub label: &'static str,
}

pub const QUERIES: [QueryKind; 8] = [
    QueryKind {
        key: "newest_page",
        label: "newest page (50) of the largest tenant",
    },
    QueryKind {
        key: "two_actions",
        label: "filtered by two actions",
    },
    QueryKind {
        key: "actor_email",
        label: "by actor email",
    },
    QueryKind {
        key: "one_month",
        label: "one-month range",
    },
    QueryKind {
        key: "target",
        label: "by target (type + id)",
    },
    QueryKind {
        key: "partner_descendants",
        label: "partner with its sub-accounts",
    },
    QueryKind {
        key: "text_common",
        label: "free text, common term",
    },
    QueryKind {
        key: "text_rare",
        label: "free text, rare term",
    },
];

#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    pub key: String,
    pub label: String,
    /// The page alone (keyset paging, `limit=50`).
    pub page: Latency,
    /// The first numbered page with its exact total (`page=1&per_page=50`).
    pub with_total: Latency,
    /// Rows of the last run's total, so that a reader sees what was counted.
    pub last_total: u64,
    /// The audit log page (`/ui/`) showing the same view: 50 rows with
    /// "Page X of Y (Z total)", the whole HTML read, signed in by cookie.
    pub ui_page: Latency,
}

/// Signs in to the audit log page and returns its session cookie.
fn ui_session(http: &reqwest::blocking::Client, url: &str, key: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{url}/ui/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={key}"))
        .send()?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::to_owned);
    cookie.ok_or_else(|| {
        anyhow::anyhow!(
            "the sign-in answered {} without a session",
            response.status()
        )
    })
}

/// The events' time span starts here (the generator's `END - SPAN`).
fn span_start() -> Timestamp {
    "2025-11-01T00:00:00Z"
        .parse()
        .expect("a valid constant timestamp")
}

/// The tenant and filter parameters of one run of `kind`.
pub(super) fn parameters(
    kind: &str,
    workload: &Workload,
    rng: &mut StdRng,
) -> (String, Vec<(&'static str, String)>) {
    let mut tenant = workload.largest.clone();
    let pick = |items: &[String], rng: &mut StdRng| items.choose(rng).cloned().unwrap_or_default();
    let params = match kind {
        "two_actions" => {
            let chosen: Vec<String> = workload.actions.choose_multiple(rng, 2).cloned().collect();
            vec![("action", chosen.join(","))]
        }
        "actor_email" => vec![("actor", pick(&workload.emails, rng))],
        "one_month" => {
            let from = span_start() + Span::new().hours(24 * rng.random_range(0..=330));
            let to = from + (24 * 30).hours();
            vec![("from", from.to_string()), ("to", to.to_string())]
        }
        "target" => {
            let (kind, id) = workload.targets.choose(rng).cloned().unwrap_or_default();
            vec![("target", format!("{kind}:{id}"))]
        }
        "partner_descendants" => {
            tenant = workload.partner.clone();
            vec![("include", "descendants".to_owned())]
        }
        "text_common" => vec![("q", "offboarding".to_owned())],
        "text_rare" => {
            let (_, id) = workload.targets.choose(rng).cloned().unwrap_or_default();
            vec![("q", id)]
        }
        _ => Vec::new(),
    };
    (tenant, params)
}

/// Sends a request and reads its whole body: its status, the body, and the
/// time from sending to the body's last byte.
fn fetch(
    request: reqwest::blocking::RequestBuilder,
) -> anyhow::Result<(reqwest::StatusCode, Vec<u8>, Duration)> {
    let started = Instant::now();
    let response = request.send()?;
    let status = response.status();
    let body = response.bytes()?;
    let elapsed = started.elapsed();
    Ok((status, body.to_vec(), elapsed))
}

/// Unmeasured requests before each query's measured runs, each way: the
/// first requests of a kind meet a new connection, statements not yet
/// prepared and pages not yet cached, which the steady state measured here
/// does not.
const WARM_UP_RUNS: usize = 10;

/// Runs every query `runs` times each way, after [`WARM_UP_RUNS`] unmeasured.
pub fn run(
    url: &str,
    key: &str,
    workload: &Workload,
    runs: usize,
) -> anyhow::Result<Vec<QueryResult>> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    // Redirects are not followed: the sign-in answers 303 with its cookie.
    let no_redirects = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = ui_session(&no_redirects, url, key)?;
    let mut rng = StdRng::seed_from_u64(7);
    // Warm-up requests draw their own parameters, so the measured ones stay as they were.
    let mut warm_up_rng = StdRng::seed_from_u64(8);
    let mut results = Vec::new();
    for kind in &QUERIES {
        // One request of the API; its latency, and the total a numbered page gives.
        let api = |numbered: bool, rng: &mut StdRng| -> anyhow::Result<(Duration, u64)> {
            let (tenant, mut params) = parameters(kind.key, workload, rng);
            if numbered {
                params.extend([("page", "1".to_owned()), ("per_page", "50".to_owned())]);
            } else {
                params.push(("limit", "50".to_owned()));
            }
            let (status, body, elapsed) = fetch(
                http.get(format!("{url}/v1/tenants/{tenant}/events"))
                    .bearer_auth(key)
                    .query(&params),
            )?;
            ensure!(
                status == 200,
                "{} answered {status}: {}",
                kind.key,
                String::from_utf8_lossy(&body)
            );
            let mut total = 0;
            if numbered {
                let page: serde_json::Value = serde_json::from_slice(&body)?;
                total = page["total"].as_u64().unwrap_or_default();
            }
            Ok((elapsed, total))
        };
        // One request of the audit log page.
        let ui = |rng: &mut StdRng| -> anyhow::Result<Duration> {
            let (tenant, mut params) = parameters(kind.key, workload, rng);
            params.push(("per_page", "50".to_owned()));
            let (status, body, elapsed) = fetch(
                no_redirects
                    .get(format!("{url}/ui/t/{tenant}"))
                    .header("cookie", &cookie)
                    .query(&params),
            )?;
            ensure!(
                status == 200 && String::from_utf8_lossy(&body).contains(" total)"),
                "the page for {} answered {status}",
                kind.key
            );
            Ok(elapsed)
        };
        let timed = |numbered: bool,
                     rng: &mut StdRng,
                     warm_up_rng: &mut StdRng|
         -> anyhow::Result<(Latency, u64)> {
            for _ in 0..WARM_UP_RUNS {
                api(numbered, warm_up_rng)?;
            }
            let mut samples = Vec::with_capacity(runs);
            let mut total = 0;
            for _ in 0..runs {
                let (elapsed, last) = api(numbered, rng)?;
                samples.push(elapsed);
                total = last;
            }
            Ok((latency(samples), total))
        };
        let (page, _) = timed(false, &mut rng, &mut warm_up_rng)?;
        let (with_total, last_total) = timed(true, &mut rng, &mut warm_up_rng)?;
        for _ in 0..WARM_UP_RUNS {
            ui(&mut warm_up_rng)?;
        }
        let samples = (0..runs)
            .map(|_| ui(&mut rng))
            .collect::<anyhow::Result<Vec<Duration>>>()?;
        results.push(QueryResult {
            key: kind.key.to_owned(),
            label: kind.label.to_owned(),
            page,
            with_total,
            last_total,
            ui_page: latency(samples),
        });
    }
    Ok(results)
}
