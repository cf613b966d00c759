//! `evident`: the server, its command-line client, and the demo.

mod browser;
mod client;
mod cmd;
mod config;
mod demo_data;
mod signing_key;
mod store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc: memory freed by one thread's work is reused by the next and given
/// back to the system, where glibc kept a heap per busy thread (a server at
/// 1M events peaked at 143 MB of anonymous memory with it, 188 MB with glibc's).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "evident", version, about = "Evident: the audit log service", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (on the embedded store, or PostgreSQL with --store).
    Serve(cmd::serve::ServeArgs),
    /// Bring a store's schema to this build's version (serve does it at start too).
    Migrate(cmd::migrate::MigrateArgs),
    /// Load a realistic demo data set and serve it.
    Demo(cmd::demo::DemoArgs),
    /// Manage tenants (accounts and sub-accounts).
    #[command(subcommand)]
    Tenants(cmd::tenants::TenantsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Send events from an NDJSON file.
    Ingest(cmd::ingest::IngestArgs),
    /// Query a tenant's events with the query language.
    Query(cmd::query::QueryArgs),
    /// Export a tenant's events (any filter) as CSV, NDJSON or a verifiable bundle.
    Export(cmd::export::ExportArgs),
    /// Print the verifier key or a tenant's latest signed checkpoint.
    Checkpoint(cmd::checkpoint::CheckpointArgs),
    /// Measure ingest throughput and latency (docs/PERFORMANCE.md).
    Bench(cmd::bench::BenchArgs),
    /// Verify a store's logs offline: every leaf, node and signed checkpoint.
    Verify(cmd::verify::VerifyArgs),
    /// Check a catalog file, or show a tenant's catalog.
    #[command(subcommand)]
    Catalog(cmd::catalog::CatalogCommand),
    /// Move a whole store between SQLite and PostgreSQL.
    #[command(subcommand)]
    Store(cmd::store::StoreCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => cmd::serve::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Migrate(args) => cmd::migrate::run(args),
        Command::Tenants(command) => cmd::tenants::run(command),
        Command::Keys(command) => cmd::keys::run(command),
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::Query(args) => cmd::query::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Catalog(command) => cmd::catalog::run(command),
        Command::Checkpoint(args) => cmd::checkpoint::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Store(command) => cmd::store::run(command),
    };
    match result {
        Ok(code) => code,
        // A reader that stopped reading (`| head`) is not a failure.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_command_and_flag_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
