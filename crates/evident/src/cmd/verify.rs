//! `evident verify --store DIR|URL`: recompute every tenant's log from its
//! events and check it against the stored tree and every signed checkpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use evident_core::log::audit::{AuditReport, StoredLog, audit};
use evident_core::log::bundle::BundleChecker;
use evident_core::log::checkpoint::Checkpoint;
use evident_core::log::merkle::verify_consistency;
use evident_core::log::note::{Signer, Verifier, open};
use evident_store::Store;

use crate::signing_key::KEY_FILE;
use crate::store::Location;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["store", "consistency", "bundle"])))]
pub struct VerifyArgs {
    /// The store to verify, opened read-only: a data directory or a PostgreSQL URL.
    #[arg(long, value_name = "DIR|URL")]
    pub store: Option<Location>,
    /// Two checkpoints (signed note files) of one log, older first: detects a rollback or a fork.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub consistency: Vec<PathBuf>,
    /// An export bundle (NDJSON with proofs and its checkpoint), checked offline with --key.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// With --consistency: fetch the consistency proof from this server (uses EVIDENT_KEY).
    #[arg(long)]
    pub server: Option<String>,
    /// With --server: the API key.
    #[arg(long, env = "EVIDENT_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
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
    if !args.consistency.is_empty() {
        return consistency(&args);
    }
    if let Some(bundle) = &args.bundle {
        return verify_bundle_file(bundle, args.key.as_deref());
    }
    let Some(location) = args.store.clone() else {
        bail!("give --store DIR|URL or --consistency OLD NEW")
    };
    let verifier = match (&args.key, &location) {
        (Some(key), _) => {
            Verifier::parse(key.trim()).map_err(|error| anyhow::anyhow!("--key: {error}"))?
        }
        (None, Location::Postgres(_)) => {
            bail!(
                "give --key (the servers' verifier key, `evident checkpoint --key`): the signing key is never in the database"
            )
        }
        (None, Location::Dir(store_dir)) => {
            let path = store_dir.join(KEY_FILE);
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
    let store = location
        .open_read_only()
        .with_context(|| format!("opening {location}"))?;
    let store = store.as_ref();
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
    // Tenants are independent: audit them on every core, largest first (so
    // that no large one is left to run alone at the end), print them in order.
    // The sizes only order the work: each audit reads its tenant's head again
    // just before its rows, so that a live store's appends meanwhile are not
    // taken for rows beyond the log.
    let mut largest_first: Vec<(u64, usize)> = Vec::with_capacity(tenants.len());
    for (index, tenant) in tenants.iter().enumerate() {
        let size = store.tree_head(tenant)?.map_or(0, |head| head.tree_size);
        largest_first.push((size, index));
    }
    largest_first.sort_by(|left, right| right.cmp(left));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let mut reports: Vec<(usize, anyhow::Result<AuditReport>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(tenants.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((_, index)) = largest_first.get(next).copied() else {
                            return done;
                        };
                        let tenant = &tenants[index];
                        done.push((index, audit_tenant(store, tenant, &kept, &verifier)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a verify worker panicked"))
            .collect()
    });
    reports.sort_by_key(|(index, _)| *index);
    let mut failed = 0;
    for (index, report) in reports {
        let tenant = &tenants[index];
        let report = report?;
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

/// Recomputes one tenant's leaves from its events and audits its log.
fn audit_tenant(
    store: &dyn Store,
    tenant: &str,
    kept: &[String],
    verifier: &Verifier,
) -> anyhow::Result<AuditReport> {
    let head = store
        .tree_head(tenant)?
        .with_context(|| format!("tenant {tenant}"))?;
    let mut recomputed = Vec::new();
    let mut next_seq = 0;
    loop {
        let page = store.event_leaf_hashes(tenant, next_seq, PAGE)?;
        let done = page.len() < PAGE as usize;
        if let Some((last, _)) = page.last() {
            next_seq = last + 1;
        }
        recomputed.extend(page);
        if done {
            break;
        }
    }
    // Events inserted beyond the log's size are read too: the pages run over every stored seq from 0.
    let leaf_hashes = store.leaf_hashes(tenant)?;
    let mut checkpoints: Vec<String> = store
        .checkpoints(tenant, 0)?
        .into_iter()
        .map(|checkpoint| checkpoint.note)
        .collect();
    checkpoints.extend(kept.iter().cloned());
    Ok(audit(
        &StoredLog {
            tenant,
            tree_size: head.tree_size,
            stored_root: head.root_hash,
            recomputed: &recomputed,
            leaf_hashes: &leaf_hashes,
            checkpoints: &checkpoints,
        },
        std::slice::from_ref(verifier),
    ))
}

/// Opens a checkpoint file with the key.
fn read_checkpoint(path: &std::path::Path, verifier: &Verifier) -> anyhow::Result<Checkpoint> {
    let note =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let opened = open(note.as_bytes(), std::slice::from_ref(verifier))
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    Checkpoint::parse(&opened.text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

/// `--consistency OLD NEW`: both signed by the key, one log, and NEW extends OLD.
fn consistency(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let Some(key) = &args.key else {
        bail!("--consistency needs --key VKEY")
    };
    let verifier =
        Verifier::parse(key.trim()).map_err(|error| anyhow::anyhow!("--key: {error}"))?;
    let (old, new) = (
        read_checkpoint(&args.consistency[0], &verifier)?,
        read_checkpoint(&args.consistency[1], &verifier)?,
    );
    if old.origin != new.origin {
        println!(
            "FAILED: the checkpoints are of two logs ({} and {})",
            old.origin, new.origin
        );
        return Ok(ExitCode::FAILURE);
    }
    if new.tree_size < old.tree_size {
        println!(
            "FAILED: rolled back: size {} after size {}",
            new.tree_size, old.tree_size
        );
        return Ok(ExitCode::FAILURE);
    }
    let proof = if old.tree_size == new.tree_size || old.tree_size == 0 {
        Vec::new()
    } else {
        let Some(server) = &args.server else {
            bail!(
                "checking sizes {} → {} needs the consistency proof: give --server URL",
                old.tree_size,
                new.tree_size
            )
        };
        let tenant = old.origin.rsplit('/').next().unwrap_or_default();
        let url = format!(
            "{}/v1/tenants/{tenant}/log/proof/consistency?from={}&to={}",
            server.trim_end_matches('/'),
            old.tree_size,
            new.tree_size
        );
        let mut request = reqwest::blocking::Client::new().get(url);
        if let Some(api_key) = &args.api_key {
            request = request.bearer_auth(api_key);
        }
        let answer: serde_json::Value = crate::client::send(request)?;
        answer["hashes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|hash| {
                let bytes = BASE64.decode(hash.as_str().unwrap_or_default())?;
                bytes
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("a proof hash is not 32 bytes"))
            })
            .collect::<anyhow::Result<Vec<[u8; 32]>>>()?
    };
    let consistent = if old.tree_size == 0 {
        true
    } else {
        verify_consistency(
            old.tree_size,
            new.tree_size,
            &old.root_hash,
            &new.root_hash,
            &proof,
        )
        .is_ok()
    };
    if consistent {
        println!("ok {} {} → {}", new.origin, old.tree_size, new.tree_size);
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "FAILED: {} at size {} does not extend size {}: a fork or a rewritten log",
            new.origin, new.tree_size, old.tree_size
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Bundle lines checked per batch.
const BUNDLE_BATCH: usize = 8192;

/// `--bundle FILE --key VKEY`.
fn verify_bundle_file(path: &std::path::Path, key: Option<&str>) -> anyhow::Result<ExitCode> {
    let Some(key) = key else {
        bail!("--bundle needs --key VKEY")
    };
    let verifier =
        Verifier::parse(key.trim()).map_err(|error| anyhow::anyhow!("--key: {error}"))?;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    // Line by line, so memory stays flat whatever the bundle's size; each batch of
    // lines is hashed and proved on every core, then taken in order.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(file))
        .enumerate()
        .map(|(index, line)| line.map(|line| (index + 1, line)))
        .filter(|line| {
            line.as_ref()
                .map_or(true, |(_, text)| !text.trim().is_empty())
        });
    let Some(first) = lines.next() else {
        println!("FAILED: the bundle is empty");
        return Ok(ExitCode::FAILURE);
    };
    let (_, first) = first.with_context(|| format!("reading {}", path.display()))?;
    let mut checker = match BundleChecker::new(&first, std::slice::from_ref(&verifier)) {
        Ok(checker) => checker,
        Err(problem) => {
            println!("FAILED: {problem}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    loop {
        let batch = (&mut lines)
            .take(BUNDLE_BATCH)
            .collect::<Result<Vec<(usize, String)>, _>>()
            .with_context(|| format!("reading {}", path.display()))?;
        if batch.is_empty() {
            break;
        }
        let shared = &checker;
        let checked: Vec<_> = std::thread::scope(|scope| {
            let parts: Vec<_> = batch
                .chunks(batch.len().div_ceil(workers))
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(number, line)| (*number, shared.check_entry(*number, line)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|part| part.join().expect("a bundle check thread panicked"))
                .collect()
        });
        for (number, entry) in checked {
            checker.accept(number, entry);
        }
    }
    let report = checker.finish();
    if report.problems.is_empty() {
        println!(
            "ok {} {} events against a checkpoint of size {}",
            report.origin, report.events, report.tree_size
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "FAILED {} ({} events, checkpoint size {})",
        report.origin, report.events, report.tree_size
    );
    for problem in &report.problems {
        println!("  {problem}");
    }
    Ok(ExitCode::FAILURE)
}
