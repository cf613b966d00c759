//! `evident store copy --from DIR|URL --to URL|DIR`: moves a whole store
//! between SQLite and PostgreSQL (either way), then checks that every
//! tenant's log has the same root at the destination.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use evident_store::PostgresStore;
use indicatif::{ProgressBar, ProgressStyle};

use crate::store::Location;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every tenant, key, catalog, setting, event, Merkle node and
    /// checkpoint into an empty store, then compare every tenant's root.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The store to copy: a data directory or a PostgreSQL URL (read, never changed).
    #[arg(long, value_name = "DIR|URL")]
    pub from: Location,
    /// The store to fill: a PostgreSQL URL or a data directory; created or
    /// migrated, and it must hold no tenant yet.
    #[arg(long, value_name = "URL|DIR")]
    pub to: Location,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(command: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Copy(args) = command;
    if args.from == args.to {
        bail!("--from and --to name the same store");
    }
    let from = args
        .from
        .open_read_only()
        .with_context(|| format!("opening {}", args.from))?;
    let to = args
        .to
        .open()
        .with_context(|| format!("opening {}", args.to))?;
    let progress = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    progress.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} events, {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut done_before = 0;
    let mut current = String::new();
    let copied = evident_store::copy::copy(from.as_ref(), to.as_ref(), &mut |tenant, done| {
        if tenant != current {
            done_before = progress.position();
            current = tenant.to_owned();
            progress.set_message(tenant.to_owned());
        }
        progress.set_position(done_before + done);
    })
    .with_context(|| format!("copying {} to {}", args.from, args.to))?;
    progress.finish_and_clear();
    if let Location::Postgres(url) = &args.to {
        PostgresStore::vacuum_analyze(url)
            .with_context(|| format!("analysing {} after the copy", args.to))?;
    }
    for log in &copied {
        println!(
            "ok {} {} {}",
            log.tenant,
            log.head.tree_size,
            BASE64.encode(log.head.root_hash)
        );
    }
    let events: u64 = copied.iter().map(|log| log.head.tree_size).sum();
    eprintln!(
        "copied {} tenants and {events} events from {} to {}; every root is identical",
        copied.len(),
        args.from,
        args.to
    );
    Ok(ExitCode::SUCCESS)
}
