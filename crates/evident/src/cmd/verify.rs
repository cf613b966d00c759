//! `evident verify --store DIR`: recompute every tenant's log from its events
//! and check it against the stored tree and every signed checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use evident_core::log::audit::{StoredLog, audit};
use evident_core::log::note::{Signer, Verifier};
use evident_store::{SqliteStore, Store};

use crate::signing_key::KEY_FILE;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A data directory to verify (opened read-only).
    #[arg(long)]
    pub store: PathBuf,
    /// The verifier key of the checkpoints (`evident checkpoint --key`) [default: from the data dir's signing key].
    #[arg(long)]
    pub key: Option<String>,
    /// A checkpoint kept by an auditor (a signed note file); may be repeated.
    #[arg(long)]
    pub checkpoint: Vec<PathBuf>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

const PAGE: u32 = 10_000;

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let verifier = match &args.key {
        Some(key) => {
            Verifier::parse(key.trim()).map_err(|error| anyhow::anyhow!("--key: {error}"))?
        }
        None => {
            let path = args.store.join(KEY_FILE);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("no --key given and {} cannot be read", path.display()))?;
            Signer::parse(text.trim())
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
                .verifier()
        }
    };
    let mut kept = Vec::new();
    for path in &args.checkpoint {
        kept.push(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
    }
    let store = SqliteStore::open_read_only(&args.store)
        .with_context(|| format!("opening the store in {}", args.store.display()))?;
    let mut tenants: Vec<String> = store
        .tenants()?
        .into_iter()
        .map(|tenant| tenant.id)
        .collect();
    if let Some(only) = &args.tenant {
        if !tenants.contains(only) {
            bail!("no tenant {only:?} in the store");
        }
        tenants = vec![only.clone()];
    }
    let mut failed = 0;
    for tenant in &tenants {
        let head = store
            .tree_head(tenant)?
            .with_context(|| format!("tenant {tenant}"))?;
        let mut leaves = Vec::new();
        loop {
            let page = store.leaves(tenant, leaves.len() as u64, PAGE)?;
            let done = page.len() < PAGE as usize;
            leaves.extend(page);
            if done {
                break;
            }
        }
        // Events inserted beyond the log's size are read too: leaves() reads every stored seq from 0.
        let leaf_hashes = store.leaf_hashes(tenant)?;
        let mut checkpoints: Vec<String> = store
            .checkpoints(tenant, 0)?
            .into_iter()
            .map(|checkpoint| checkpoint.note)
            .collect();
        checkpoints.extend(kept.iter().cloned());
        let report = audit(
            &StoredLog {
                tenant,
                tree_size: head.tree_size,
                stored_root: head.root_hash,
                leaves: &leaves,
                leaf_hashes: &leaf_hashes,
                checkpoints: &checkpoints,
            },
            std::slice::from_ref(&verifier),
        );
        if report.is_ok() {
            let root = report
                .root
                .map(|root| BASE64.encode(root))
                .unwrap_or_default();
            println!("ok {tenant} {} {root}", report.tree_size);
        } else {
            failed += 1;
            println!("FAILED {tenant} {}", report.tree_size);
            for problem in &report.problems {
                println!("  {problem}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} tenant logs do not verify", tenants.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
