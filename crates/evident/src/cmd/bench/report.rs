//! The results as tables (for the terminal and for docs/PERFORMANCE.md) and
//! plots. Every ratio reads "times better than the baseline": throughput
//! divided by theirs, or their latency or size divided by ours.

use serde_json::Value;

use super::Results;
use super::ingest::IngestResult;
use super::plot::{Chart, Series};

struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn number(value: f64) -> String {
    let rounded = value.round() as i64;
    let digits = rounded.abs().to_string();
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if rounded < 0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

fn millis(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1}")
    }
}

/// How many times better `ours` is than `theirs`.
fn ratio(ours: f64, theirs: Option<f64>, higher_is_better: bool) -> String {
    match theirs {
        Some(theirs) if theirs > 0.0 && ours > 0.0 => {
            let times = if higher_is_better {
                ours / theirs
            } else {
                theirs / ours
            };
            if times >= 10.0 {
                format!("{times:.0}×")
            } else {
                format!("{times:.2}×")
            }
        }
        _ => "–".to_owned(),
    }
}

fn figure(baselines: &Value, engine: &str, path: &[&str]) -> Option<f64> {
    path.iter()
        .fold(&baselines[engine], |value, key| &value[*key])
        .as_f64()
}

/// The baseline query whose figures an Evident query is held to (free text: the indexed one).
fn baseline_query(key: &str) -> &str {
    match key {
        "text_common" => "text_common_trigram",
        "text_rare" => "text_rare_trigram",
        other => other,
    }
}

fn tables(results: &Results) -> Vec<Table> {
    let baselines = &results.baselines;
    let pg_insert = figure(
        baselines,
        "postgresql",
        &["ingest_events_per_s", "insert_500_rows_1_client"],
    );
    let pg_copy = figure(baselines, "postgresql", &["ingest_events_per_s", "copy"]);
    let sqlite_insert = figure(
        baselines,
        "sqlite",
        &["ingest_events_per_s", "executemany_5000_per_tx"],
    );
    let mut tables = Vec::new();
    let ingest_row = |result: &IngestResult| {
        vec![
            result.scenario.clone(),
            number(result.events as f64),
            number(result.events_per_s),
            millis(result.latency.p50_ms),
            millis(result.latency.p99_ms),
            ratio(result.events_per_s, pg_insert, true),
            ratio(result.events_per_s, pg_copy, true),
            ratio(result.events_per_s, sqlite_insert, true),
            result.server.map_or("–".to_owned(), |server| {
                format!("{:.1}", server.cpu_s * 1e6 / result.events as f64)
            }),
            result
                .server
                .and_then(|server| server.written_bytes)
                .map_or("–".to_owned(), |written| {
                    format!("{:.1}", written as f64 / 1024.0 / result.events as f64)
                }),
        ]
    };
    tables.push(Table {
        title: format!(
            "Ingest over loopback HTTP, Evident on {} (durable acknowledgements, Merkle log on; the server's CPU time and the disk's bytes written an event include applying them)",
            results.backend.name()
        ),
        header: [
            "scenario",
            "events",
            "events/s",
            "p50 ms",
            "p99 ms",
            "vs PG INSERT 500",
            "vs PG COPY",
            "vs SQLite 5,000/tx",
            "server CPU µs/event",
            "KiB to disk/event",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: results
            .ingest
            .iter()
            .chain(std::iter::once(&results.bulk_load))
            .map(ingest_row)
            .chain(std::iter::once(vec![
                "store alone, in-process, no HTTP (the bound)".to_owned(),
                number((results.events / 10) as f64),
                number(results.store_only_events_per_s),
                "–".to_owned(),
                "–".to_owned(),
                ratio(results.store_only_events_per_s, pg_insert, true),
                ratio(results.store_only_events_per_s, pg_copy, true),
                ratio(results.store_only_events_per_s, sqlite_insert, true),
                "–".to_owned(),
                "–".to_owned(),
            ]))
            .collect(),
    });
    for (number_of, at) in results.queries.iter().enumerate() {
        let last = number_of + 1 == results.queries.len();
        let mut rows = Vec::new();
        let mut push = |label: &str,
                        ours: super::Latency,
                        ours_total: Option<super::Latency>,
                        ui: Option<super::Latency>,
                        key: &str| {
            let pg = figure(baselines, "postgresql", &["queries", key, "p99_ms"]);
            let sqlite = figure(baselines, "sqlite", &["queries", key, "p99_ms"]);
            let mut row = vec![label.to_owned(), millis(ours.p50_ms), millis(ours.p99_ms)];
            for measured in [ours_total, ui] {
                match measured {
                    Some(latency) => row.extend([millis(latency.p50_ms), millis(latency.p99_ms)]),
                    None => row.extend(["–".to_owned(), "–".to_owned()]),
                }
            }
            if last {
                row.extend([
                    pg.map_or("–".to_owned(), millis),
                    ratio(ours.p99_ms, pg, false),
                    sqlite.map_or("–".to_owned(), millis),
                    ratio(ours.p99_ms, sqlite, false),
                ]);
            }
            rows.push(row);
        };
        for query in &at.results {
            push(
                &query.label,
                query.page,
                Some(query.with_total),
                Some(query.ui_page),
                baseline_query(&query.key),
            );
        }
        if let Some(newest) = at.results.iter().find(|query| query.key == "newest_page") {
            push(
                "exact total of the largest tenant",
                newest.with_total,
                None,
                None,
                "exact_total_largest",
            );
        }
        let mut header: Vec<String> = [
            "query",
            "p50 ms",
            "p99 ms",
            "with total p50",
            "with total p99",
            "UI page p50",
            "UI page p99",
        ]
        .map(str::to_owned)
        .to_vec();
        if last {
            header.extend(["PG p99", "vs PG", "SQLite p99", "vs SQLite"].map(str::to_owned));
        }
        tables.push(Table {
            title: format!(
                "Queries over loopback HTTP, Evident on {}, at {} events ({} runs each; free-text baselines with their trigram indexes)",
                results.backend.name(),
                number(at.stored_events as f64),
                at.results.first().map_or(0, |query| query.page.runs)
            ),
            header,
            rows,
        });
    }
    if !results.page_loads.is_empty() {
        tables.push(Table {
            title: format!(
                "The audit log page in headless Chromium at {} events: navigation to load event, 50 rows with the exact total ({} runs each)",
                number(results.events as f64),
                results.page_loads[0].load.runs
            ),
            header: ["view", "p50 ms", "p99 ms"].map(str::to_owned).to_vec(),
            rows: results
                .page_loads
                .iter()
                .map(|page| {
                    vec![
                        page.label.clone(),
                        millis(page.load.p50_ms),
                        millis(page.load.p99_ms),
                    ]
                })
                .collect(),
        });
    }
    let mut rows = Vec::new();
    for export in &results.exports {
        let (pg, sqlite) = if export.format == "CSV" {
            (
                figure(baselines, "postgresql", &["csv_export_rows_per_s"]),
                figure(baselines, "sqlite", &["csv_export_rows_per_s"]),
            )
        } else {
            (None, None)
        };
        rows.push(vec![
            format!(
                "{} export of the largest tenant ({} rows), rows/s (first byte {} ms, server RSS {} → {} MB)",
                export.format,
                number(export.rows as f64),
                format!("{:.1}", export.first_byte_ms),
                number(export.server_rss_before_bytes as f64 / 1e6),
                number(export.server_rss_bytes as f64 / 1e6)
            ),
            number(export.rows_per_s),
            pg.map_or("–".to_owned(), number),
            ratio(export.rows_per_s, pg, true),
            sqlite.map_or("–".to_owned(), number),
            ratio(export.rows_per_s, sqlite, true),
        ]);
    }
    rows.push(vec![
        "evident verify --bundle of that tenant, events/s".to_owned(),
        number(results.verify_bundle_events_per_s),
        "–".to_owned(),
        "–".to_owned(),
        "–".to_owned(),
        "–".to_owned(),
    ]);
    rows.push(vec![
        "evident verify --store, events/s".to_owned(),
        number(results.verify_events_per_s),
        "–".to_owned(),
        "–".to_owned(),
        "–".to_owned(),
        "–".to_owned(),
    ]);
    let with_trigram = |engine: &str, trigram: &str| {
        Some(
            figure(baselines, engine, &["bytes_per_event"])?
                + figure(baselines, engine, &[trigram])?,
        )
    };
    let pg_bytes = with_trigram("postgresql", "trigram_bytes_per_event");
    let sqlite_bytes = with_trigram("sqlite", "trigram_bytes_per_event");
    rows.push(vec![
        "bytes on disk per event (baselines: table, indexes and trigram index)".to_owned(),
        number(results.bytes_per_event),
        pg_bytes.map_or("–".to_owned(), number),
        ratio(results.bytes_per_event, pg_bytes, false),
        sqlite_bytes.map_or("–".to_owned(), number),
        ratio(results.bytes_per_event, sqlite_bytes, false),
    ]);
    for (label, bytes) in [
        ("peak server RSS, MB", results.peak_rss_bytes),
        (
            "peak server RSS without mapped database pages, MB",
            results.peak_anonymous_rss_bytes,
        ),
    ] {
        rows.push(vec![
            label.to_owned(),
            number(bytes as f64 / 1e6),
            "–".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
            "–".to_owned(),
        ]);
    }
    tables.push(Table {
        title: "Output, verification and size".to_owned(),
        header: [
            "figure",
            "Evident",
            "PostgreSQL",
            "vs PG",
            "SQLite",
            "vs SQLite",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });
    if !results.memory.is_empty() {
        tables.push(Table {
            title: "The server's memory, phase by phase".to_owned(),
            header: ["phase", "peak RSS without mapped database pages, MB"]
                .map(str::to_owned)
                .to_vec(),
            rows: results
                .memory
                .iter()
                .map(|phase| {
                    vec![
                        phase.phase.clone(),
                        number(phase.peak_anonymous_bytes as f64 / 1e6),
                    ]
                })
                .collect(),
        });
    }
    if !results.stored_parts.is_empty() {
        tables.push(stored_parts_table(results));
    }
    tables
}

/// Bytes an event by table, index and file; those under a tenth of a byte
/// an event summed as one row.
fn stored_parts_table(results: &Results) -> Table {
    let events = results.events.max(1) as f64;
    let total: u64 = results.stored_parts.iter().map(|part| part.bytes).sum();
    let row = |name: &str, bytes: u64| {
        vec![
            name.to_owned(),
            format!("{:.1}", bytes as f64 / events),
            format!("{:.1}%", 100.0 * bytes as f64 / total.max(1) as f64),
        ]
    };
    let (large, small): (Vec<_>, Vec<_>) = results
        .stored_parts
        .iter()
        .partition(|part| part.bytes as f64 / events >= 0.1);
    let mut rows: Vec<Vec<String>> = large
        .iter()
        .map(|part| row(&part.name, part.bytes))
        .collect();
    if !small.is_empty() {
        let bytes = small.iter().map(|part| part.bytes).sum();
        rows.push(row(&format!("{} smaller parts", small.len()), bytes));
    }
    rows.push(row("all", total));
    Table {
        title: "Where the bytes go".to_owned(),
        header: ["table, index or file", "bytes an event", "share"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    }
}

fn preamble(results: &Results) -> String {
    format!(
        "evident bench on {}: {} events, {} tenants (largest {}: {} events; partner {} with its sub-accounts: {}); {} cores, {}; SQLite {}; {}\nbaselines: {}\n",
        results.backend.name(),
        number(results.events as f64),
        results.tenants,
        results.largest_tenant,
        number(results.largest_tenant_rows as f64),
        results.partner,
        number(results.partner_family_rows as f64),
        results.machine["cores"],
        results.machine["cpu"].as_str().unwrap_or("?"),
        results.machine["sqlite"].as_str().unwrap_or("?"),
        results.machine["postgresql"]
            .as_str()
            .unwrap_or("no PostgreSQL"),
        results.baselines["source"].as_str().unwrap_or("none"),
    )
}

/// Aligned columns for a terminal.
pub fn text(results: &Results) -> String {
    let mut out = preamble(results);
    for table in tables(results) {
        let columns = table.header.len();
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                std::iter::once(&table.header)
                    .chain(&table.rows)
                    .map(|row| row.get(column).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        out.push_str(&format!("\n{}\n", table.title));
        for row in std::iter::once(&table.header).chain(&table.rows) {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(column, cell)| {
                    let pad = widths[column].saturating_sub(cell.chars().count());
                    if column == 0 {
                        format!("{cell}{}", " ".repeat(pad))
                    } else {
                        format!("{}{cell}", " ".repeat(pad))
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}

/// GitHub-flavoured Markdown tables.
pub fn markdown(results: &Results) -> String {
    let mut out = preamble(results).replace('\n', "\n\n");
    for table in tables(results) {
        out.push_str(&format!("**{}**\n\n", table.title));
        out.push_str(&format!("| {} |\n", table.header.join(" | ")));
        let align: Vec<&str> = (0..table.header.len())
            .map(|column| if column == 0 { "---" } else { "---:" })
            .collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for row in &table.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out.push('\n');
    }
    out
}

/// Ingest throughput against the number of concurrent clients, beside the baselines.
pub fn ingest_plot(results: &Results) -> String {
    let mut series = Vec::new();
    for batch in [100, 1000] {
        series.push(Series {
            label: format!("Evident, batches of {batch}"),
            points: results
                .ingest
                .iter()
                .filter(|result| result.batch == batch)
                .map(|result| (result.clients as f64, result.events_per_s))
                .collect(),
            dashed: false,
        });
    }
    series.push(Series {
        label: "Evident, single events".to_owned(),
        points: results
            .ingest
            .iter()
            .filter(|result| result.batch == 1)
            .map(|result| (result.clients as f64, result.events_per_s))
            .collect(),
        dashed: false,
    });
    let baselines = &results.baselines;
    for (label, engine, key) in [
        (
            "PG multi-row INSERT, 1 client",
            "postgresql",
            "insert_500_rows_1_client",
        ),
        (
            "PG multi-row INSERT, 4 clients",
            "postgresql",
            "insert_500_rows_4_client",
        ),
        ("PG COPY", "postgresql", "copy"),
        (
            "SQLite executemany 5,000/tx",
            "sqlite",
            "executemany_5000_per_tx",
        ),
    ] {
        if let Some(rate) = figure(baselines, engine, &["ingest_events_per_s", key]) {
            series.push(Series {
                label: label.to_owned(),
                points: vec![(1.0, rate), (64.0, rate)],
                dashed: true,
            });
        }
    }
    Chart {
        title: format!(
            "Ingest throughput, {} events",
            number(results.events as f64)
        ),
        x_label: "concurrent clients".to_owned(),
        y_label: "events/s".to_owned(),
        x_log: true,
        y_log: false,
        series,
    }
    .svg()
}

/// p99 of each query against the number of stored events.
pub fn queries_plot(results: &Results) -> String {
    let Some(first) = results.queries.first() else {
        return String::new();
    };
    let series = first
        .results
        .iter()
        .map(|query| Series {
            label: query.label.clone(),
            points: results
                .queries
                .iter()
                .filter_map(|at| {
                    let found = at.results.iter().find(|other| other.key == query.key)?;
                    Some((at.stored_events as f64, found.with_total.p99_ms.max(0.001)))
                })
                .collect(),
            dashed: false,
        })
        .collect();
    Chart {
        title: "Query p99 (page with its exact total) against stored events".to_owned(),
        x_label: "stored events".to_owned(),
        y_label: "p99 ms".to_owned(),
        x_log: true,
        y_log: true,
        series,
    }
    .svg()
}
