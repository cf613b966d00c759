//! `evident demo`: a realistic audit log to explore, served at once.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use evident_core::access::Scope;
use evident_core::catalog::CatalogFile;
use evident_core::event::validate_event;
use evident_core::redact::Redactor;
use evident_core::{EventLimits, NewEvent};
use evident_server::auth::{hash_key, mint_key, mint_key_id};
use evident_server::catalogs::{Catalogs, prepare};
use evident_server::checkpointer::Checkpointer;
use evident_server::ui::session::SessionKey;
use evident_store::{AppendBatch, NewApiKey, NewTenant, SqliteStore, Store};
use indicatif::ProgressBar;
use jiff::Timestamp;

use crate::cmd::serve::serve;
use crate::config::{FileConfig, ServerFlags, init_logging};
use crate::demo_data::{demo_catalog, demo_events, demo_tenants};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo's store lives (reused on the next run).
    #[arg(long, default_value = "./evident-demo")]
    pub data_dir: PathBuf,
    /// How many events to load over the last 90 days.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Load the data and exit instead of serving.
    #[arg(long)]
    pub no_serve: bool,
    #[command(flatten)]
    pub server: ServerFlags,
}

const BATCH: usize = 1_000;

fn load(store: &dyn Store, redactor: &Redactor, count: usize) -> anyhow::Result<usize> {
    for tenant in demo_tenants() {
        store.create_tenant(&NewTenant {
            id: tenant.id.to_owned(),
            name: tenant.name.to_owned(),
            parent: tenant.parent.map(str::to_owned),
        })?;
        if let Some(text) = demo_catalog(&tenant) {
            let file: CatalogFile = toml::from_str(text).context("an example catalog")?;
            store.put_tenant_catalog(tenant.id, &serde_json::to_string(&file)?)?;
        }
    }
    // The demo's events go through the same validation, catalog and redaction as any ingested event.
    let catalogs = Catalogs::load(None, redactor.clone(), store)?;
    let set = catalogs.snapshot();
    let now = Timestamp::now();
    let limits = EventLimits::default();
    let events = demo_events(now, count, 1);
    let progress = ProgressBar::new(events.len() as u64);
    let mut loaded = 0;
    for chunk in events.chunks(BATCH) {
        let mut batches: Vec<AppendBatch> = Vec::new();
        for (tenant, value) in chunk {
            let catalog = set.effective(store, tenant)?;
            let mut event: NewEvent = validate_event(value, None, now, &limits)
                .map_err(|violations| anyhow::anyhow!("demo event invalid: {violations:?}"))?;
            prepare(&catalog, catalogs.redactor(), &mut event, None).map_err(|violations| {
                anyhow::anyhow!("demo event breaks its catalog: {violations:?}")
            })?;
            match batches.last_mut() {
                Some(batch) if batch.tenant == *tenant => batch.events.push(event),
                _ => batches.push(AppendBatch {
                    tenant: (*tenant).to_owned(),
                    events: vec![event],
                }),
            }
        }
        for result in store.append(&batches, Timestamp::now())? {
            loaded += result?.len();
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    Ok(loaded)
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(args.server.config.as_deref())?;
    let settings = args.server.settings(&file)?;
    init_logging(settings.log_format);
    if args.events == 0 {
        bail!("--events must be at least 1");
    }
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&args.data_dir)
            .with_context(|| format!("opening the store in {}", args.data_dir.display()))?,
    );
    if store.tenants()?.is_empty() {
        println!(
            "loading {} demo events into {} ...",
            args.events,
            args.data_dir.display()
        );
        let loaded = load(store.as_ref(), &settings.redactor, args.events)?;
        println!(
            "loaded {loaded} events for {} tenants",
            demo_tenants().len()
        );
    } else {
        println!("using the demo data already in {}", args.data_dir.display());
    }
    let key = mint_key();
    store.create_key(&NewApiKey {
        id: mint_key_id(),
        name: format!(
            "demo admin ({})",
            Timestamp::now().strftime("%Y-%m-%d %H:%M")
        ),
        tenant: None,
        scopes: Scope::ALL.to_vec(),
        hash: hash_key(&key),
    })?;
    let tenants = demo_tenants();
    let partner = tenants
        .iter()
        .find_map(|tenant| tenant.parent)
        .unwrap_or("");
    println!("admin key: {key}");
    // Made with the store, so that `evident verify --store` can read its
    // verifier key whether or not the demo has served.
    let signer = crate::signing_key::load_or_create(
        settings.signing_key.as_deref(),
        &args.data_dir,
        &settings.origin,
    )?;
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    let examples = format!(
        "\nOpen URL/ui/ and sign in with the admin key.\n\nTry:\n  export EVIDENT_KEY={key}\n  evident tenants list\n  evident query 'action:user.* from:7d' --tenant {partner} --include-descendants\n  curl -H \"Authorization: Bearer $EVIDENT_KEY\" 'URL/v1/tenants/{partner}/events?include=descendants&per_page=5&page=1'\n  evident export --tenant {partner} --include-descendants --query 'from:30d' --out last-30-days.csv\n  evident export --tenant {partner} --format bundle --out {partner}.bundle && evident verify --bundle {partner}.bundle --key \"$(evident checkpoint --key)\"\n  evident checkpoint --tenant {partner}\n\nPress Ctrl-C to stop.",
    );
    let catalogs = Arc::new(Catalogs::load(
        settings.catalog.clone(),
        settings.redactor.clone(),
        store.as_ref(),
    )?);
    let session_key = SessionKey::derive(signer.encode().as_bytes());
    let checkpointer = Arc::new(Checkpointer::new(signer, settings.origin.clone()));
    serve(
        store,
        catalogs,
        checkpointer,
        session_key,
        settings,
        move |address| {
            println!("{}", examples.replace("URL", &format!("http://{address}")));
        },
    )
}
