//! The audit log page in headless Chromium: each query's view opened as a
//! page and timed from the start of the navigation to its load event, so
//! that the figure holds the browser's parsing, styling, layout and the
//! page's script as well as the server's answer.

use std::time::Duration;

use anyhow::ensure;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::json;

use super::queries::{QUERIES, parameters};
use super::workload::Workload;
use super::{Latency, latency};
use crate::browser::Session;

#[derive(Debug, Clone, Serialize)]
pub struct PageLoad {
    pub key: String,
    pub label: String,
    /// Navigation start to the load event, 50 rows with the exact total.
    pub load: Latency,
}

pub fn run(
    url: &str,
    key: &str,
    workload: &Workload,
    runs: usize,
) -> anyhow::Result<Vec<PageLoad>> {
    let session = Session::start(json!({}), "1280,900")?;
    session.goto(&format!("{url}/ui/sign-in"))?;
    session.run(
        "document.getElementById('key').value = arguments[0]; document.querySelector('form').submit();",
        json!([key]),
    )?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while session.run("return location.pathname;", json!([]))? == json!("/ui/sign-in") {
        ensure!(
            std::time::Instant::now() < deadline,
            "the page's sign-in did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rng = StdRng::seed_from_u64(11);
    let mut results = Vec::new();
    for kind in &QUERIES {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (tenant, mut params) = parameters(kind.key, workload, &mut rng);
            params.push(("per_page", "50".to_owned()));
            let page = reqwest::Url::parse_with_params(&format!("{url}/ui/t/{tenant}"), &params)?;
            session.goto(page.as_str())?;
            let timing = session.run(
                "const navigation = performance.getEntriesByType('navigation')[0];
                 return [navigation.loadEventEnd - navigation.startTime, document.querySelector('.paging .summary') !== null];",
                json!([]),
            )?;
            ensure!(
                timing[1] == json!(true),
                "the page for {} shows no events list",
                kind.key
            );
            let millis = timing[0].as_f64().unwrap_or_default().max(0.0);
            samples.push(Duration::from_secs_f64(millis / 1000.0));
        }
        results.push(PageLoad {
            key: kind.key.to_owned(),
            label: kind.label.to_owned(),
            load: latency(samples),
        });
    }
    Ok(results)
}
