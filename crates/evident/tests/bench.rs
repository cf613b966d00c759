//! The benchmark harness keeps working: one small run end to end (no timing is asserted).

mod common;

use std::process::Command;

use common::binary;

#[test]
fn the_harness_measures_every_figure_and_writes_its_report() {
    harness_run("sqlite");
}

#[test]
fn the_harness_measures_evident_on_postgresql() {
    harness_run("postgres");
}

/// One small run on `backend`, checked figure by figure.
fn harness_run(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let shared = common::repo_root().join("../shared");
    let mut command = Command::new(binary());
    command.arg("bench");
    if let Ok(server) = std::env::var("EVIDENT_TEST_POSTGRES") {
        command.args(["--postgres", &server]);
    }
    let output = command
        .args([
            "--events",
            "3000",
            "--runs",
            "3",
            "--baselines",
            "recorded",
            "--backend",
            backend,
            "--shared",
        ])
        .arg(&shared)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--out-dir")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "batch 100, 1 client",
        "batch 1000, 16 clients",
        "single events, 64 clients",
        "bulk load",
        "store alone, in-process",
        "partner with its sub-accounts",
        "free text, rare term",
        "exact total of the largest tenant",
        "CSV export of the largest tenant",
        "NDJSON export of the largest tenant",
        "Bundle export of the largest tenant",
        "evident verify --bundle",
        "evident verify --store",
        "peak server RSS",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    assert!(
        text.contains("×"),
        "ratios to the recorded baselines: {text}"
    );

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["backend"], backend);
    // Every generated event was sent exactly once, across the scenarios and the bulk load.
    let ingested: u64 = results["ingest"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&results["bulk_load"]])
        .map(|scenario| scenario["events"].as_u64().unwrap())
        .sum();
    assert_eq!(ingested, 3000);
    assert_eq!(results["ingest"].as_array().unwrap().len(), 7);
    // The server's CPU time and the disk's bytes written, per scenario, where
    // the store is in its process.
    let costs: Vec<&serde_json::Value> = results["ingest"]
        .as_array()
        .unwrap()
        .iter()
        .chain([&results["bulk_load"]])
        .map(|scenario| &scenario["server"])
        .collect();
    if backend == "sqlite" {
        let cpu: f64 = costs
            .iter()
            .map(|cost| cost["cpu_s"].as_f64().unwrap())
            .sum();
        // 3,000 events journaled, applied and indexed: more than a clock tick.
        assert!(cpu >= 0.01, "{costs:?}");
        assert!(text.contains("server CPU µs/event"), "{text}");
        // On a block device (a major number other than 0, which tmpfs and
        // overlays have), the bytes written too: at least the events' own.
        use std::os::unix::fs::MetadataExt as _;
        let device = std::fs::metadata(dir.path()).unwrap().dev();
        if rustix::fs::major(device) != 0 {
            let written: u64 = costs
                .iter()
                .map(|cost| cost["written_bytes"].as_u64().unwrap())
                .sum();
            assert!(written >= 3000 * 500, "{costs:?}");
        }
    } else {
        assert!(costs.iter().all(|cost| cost.is_null()), "{costs:?}");
    }
    // Queries at a tenth of the events and at all of them, each way, every run answered.
    let sizes: Vec<u64> = results["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|at| at["stored_events"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [300, 3000]);
    let last = &results["queries"][1]["results"];
    assert_eq!(last.as_array().unwrap().len(), 8);
    assert_eq!(last[0]["page"]["runs"], 3);
    assert_eq!(
        last[0]["last_total"], results["largest_tenant_rows"],
        "the newest page's total is the largest tenant's size"
    );
    // The audit log page was timed for every view, over HTTP and in Chromium
    // (which the test setup installs).
    assert_eq!(last[0]["ui_page"]["runs"], 3);
    let page_loads = results["page_loads"].as_array().unwrap();
    assert_eq!(page_loads.len(), 8);
    assert!(
        page_loads
            .iter()
            .all(|page| page["load"]["p50_ms"].as_f64().unwrap() > 0.0)
    );
    // Each export held exactly the tenant's rows (the harness checks that), with the
    // server's memory sampled meanwhile; the bundle and the store verified.
    let exports = results["exports"].as_array().unwrap();
    assert_eq!(exports.len(), 3);
    for export in exports {
        assert_eq!(export["rows"], results["largest_tenant_rows"]);
        assert!(export["server_rss_bytes"].as_u64().unwrap() > 0);
        assert!(export["first_byte_ms"].as_f64().unwrap() > 0.0);
    }
    assert!(results["verify_bundle_events_per_s"].as_f64().unwrap() > 0.0);
    assert!(results["verify_events_per_s"].as_f64().unwrap() > 0.0);
    assert!(results["peak_rss_bytes"].as_u64().unwrap() > 0);
    // The server's memory, phase by phase, in the order the run went.
    let phases: Vec<&str> = results["memory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|phase| {
            assert!(phase["peak_anonymous_bytes"].as_u64().unwrap() > 0);
            phase["phase"].as_str().unwrap()
        })
        .collect();
    let scenarios: Vec<&str> = results["ingest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|scenario| scenario["scenario"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = ["first tenth loaded", "queries at a tenth"]
        .into_iter()
        .chain(scenarios)
        .chain([
            "bulk load",
            "queries at the full size",
            "the audit log page in Chromium",
            "csv export",
            "ndjson export",
            "bundle export",
        ])
        .collect();
    assert_eq!(phases, expected);
    assert!(
        text.contains("The server's memory, phase by phase"),
        "{text}"
    );
    let bytes_per_event = results["bytes_per_event"].as_f64().unwrap();
    assert!(bytes_per_event > 0.0);
    // Where the bytes go: every table, index and file, adding up to the whole.
    let parts = results["stored_parts"].as_array().unwrap();
    let bytes: u64 = parts
        .iter()
        .map(|part| part["bytes"].as_u64().unwrap())
        .sum();
    let events = results["events"].as_f64().unwrap();
    assert!(
        (bytes as f64 / events - bytes_per_event).abs() < 1e-9,
        "{parts:?}"
    );
    assert!(parts.len() > 10, "{parts:?}");
    assert!(text.contains("Where the bytes go"), "{text}");
    assert!(results["store_only_events_per_s"].as_f64().unwrap() > 0.0);
    for plot in ["ingest.svg", "queries.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{plot}: {svg}"
        );
    }
    let markdown = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(markdown.contains("| scenario |"), "{markdown}");
}
