//! The benchmark harness keeps working: one small run (no timing is asserted).

mod common;

use std::process::Command;

use common::binary;

#[test]
fn the_harness_runs_every_ingest_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let baselines = common::repo_root().join("../shared/bench/baselines.json");
    let output = Command::new(binary())
        .args([
            "bench",
            "--events",
            "500",
            "--baselines",
            baselines.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for scenario in [
        "batch 100, 1 client",
        "batch 1000, 16 clients",
        "single events, 64 clients",
    ] {
        assert!(text.contains(scenario), "{text}");
    }
    assert!(
        text.contains("×"),
        "ratios to the recorded baselines: {text}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(results["ingest"].as_array().unwrap().len(), 7);
    // Whole requests: three scenarios of 5 × 100, three of one 1,000-event batch, 100 single events.
    assert_eq!(results["events"], 3 * 500 + 3 * 1000 + 100);
}
