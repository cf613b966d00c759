//! `evident migrate`: brings a store's schema to this build's version.
//! `evident serve` does the same at start; this runs it on its own, before
//! an upgrade is rolled out, and says what it did.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use evident_store::SqliteStore;
use evident_store::sqlite::SCHEMA_VERSION;

use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the store lives [default: ./evident-data].
    #[arg(long, env = "EVIDENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let data_dir = args
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let before = SqliteStore::schema_version(&data_dir)
        .with_context(|| format!("reading the store in {}", data_dir.display()))?;
    SqliteStore::open(&data_dir)
        .with_context(|| format!("migrating the store in {}", data_dir.display()))?;
    let place = data_dir.display();
    match before {
        None | Some(0) => {
            println!("created the store in {place} at schema version {SCHEMA_VERSION}")
        }
        Some(found) if found == SCHEMA_VERSION => {
            println!("the store in {place} is at schema version {SCHEMA_VERSION}: nothing to do")
        }
        Some(found) => {
            println!(
                "migrated the store in {place} from schema version {found} to {SCHEMA_VERSION}"
            )
        }
    }
    Ok(ExitCode::SUCCESS)
}
