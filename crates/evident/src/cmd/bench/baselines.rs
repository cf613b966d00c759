//! The do-it-yourself baselines of ../shared/bench: measured in the same run
//! (`--baselines run`: its PostgreSQL and SQLite scripts on the same events),
//! or read from the recorded baselines.json.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineMode {
    /// Run the baseline scripts now, on the same events and machine.
    Run,
    /// Read ../shared/bench/baselines.json (or `--baselines-file`).
    Recorded,
    /// No baselines, no ratios.
    None,
}

/// `{"postgresql": {...}, "sqlite": {...}, "source": "..."}` in baselines.json's shape.
pub fn obtain(
    mode: BaselineMode,
    file: Option<&Path>,
    shared: &Path,
    count: usize,
    runs: usize,
    dsn: &str,
    work_dir: &Path,
) -> anyhow::Result<Value> {
    match mode {
        BaselineMode::None => Ok(Value::Null),
        BaselineMode::Recorded => {
            let file = file.map_or_else(|| shared.join("bench/baselines.json"), Path::to_owned);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut recorded: Value = serde_json::from_str(&text)?;
            // An earlier run's results.json holds the baselines it measured.
            if recorded.get("baselines").is_some() {
                recorded = recorded["baselines"].take();
            }
            let when = recorded["measured"]
                .as_str()
                .unwrap_or("in an earlier run")
                .to_owned();
            recorded["source"] = json!(format!("recorded in {} ({when})", file.display()));
            Ok(recorded)
        }
        BaselineMode::Run => {
            ensure_python_packages()?;
            let scripts = shared.join("bench");
            let pg_out = work_dir.join("baseline-pg.json");
            let sqlite_out = work_dir.join("baseline-sqlite.json");
            let count = count.to_string();
            let runs = runs.to_string();
            let insert_count = (count.parse::<usize>()? / 5).max(1).to_string();
            run_script(
                &scripts.join("baseline_pg.py"),
                &[
                    "--count",
                    &count,
                    "--insert-count",
                    &insert_count,
                    "--runs",
                    &runs,
                    "--dsn",
                    dsn,
                    "--json",
                    &pg_out.to_string_lossy(),
                ],
            )?;
            run_script(
                &scripts.join("baseline_sqlite.py"),
                &[
                    "--count",
                    &count,
                    "--runs",
                    &runs,
                    "--dir",
                    &work_dir.join("baseline-sqlite").to_string_lossy(),
                    "--json",
                    &sqlite_out.to_string_lossy(),
                ],
            )?;
            let read = |file: &Path| -> anyhow::Result<Value> {
                Ok(serde_json::from_str(&std::fs::read_to_string(file)?)?)
            };
            Ok(json!({
                "source": "measured in this run, on the same events",
                "measured": format!("on {}", jiff::Timestamp::now().strftime("%Y-%m-%d")),
                "postgresql": read(&pg_out)?,
                "sqlite": read(&sqlite_out)?,
            }))
        }
    }
}

fn ensure_python_packages() -> anyhow::Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import psycopg, orjson"])
        .status()
        .context("running python3")?
        .success();
    if !present {
        eprintln!("installing psycopg and orjson for the baseline scripts");
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "psycopg[binary]", "orjson"])
            .status()?;
        if !status.success() {
            bail!("pip could not install psycopg and orjson");
        }
    }
    Ok(())
}

fn run_script(script: &Path, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("running {}", script.display());
    // From its own folder, where it imports its neighbours.
    let status = Command::new("python3")
        .arg(script.file_name().context("the script's name")?)
        .args(args)
        .current_dir(script.parent().context("the script's folder")?)
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("{} failed: {status}", script.display());
    }
    Ok(())
}
