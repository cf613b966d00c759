//! Exports: any filtered view, streamed as CSV or NDJSON, or as a bundle of
//! leaves with inclusion proofs that an auditor checks offline.
//!
//! A blocking task reads the view a page at a time (a thread of its own reads
//! the next pages meanwhile) and sends the formatted bytes through a small
//! bounded channel, so memory stays flat whatever the export's size and a
//! slow client slows only its own export.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use evident_core::Filter;
use evident_core::access::Scope;
use evident_core::export::{Column, CsvLayout};
use evident_core::log::bundle;
use evident_core::view::EventView;
use evident_store::{
    EXPORT_PAGE, ExportView, RawPage, SortOrder, Store, StoreError, Tenant, TenantScope,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::catalogs::{CatalogSet, TenantCatalogs};
use crate::problem::{Problem, ProblemDetails};
use crate::routes::events::{
    PagingParams, ViewParams, filter_from_params, sort_from_params, view_scope,
};

/// The header that says up to which tree size an export reads.
pub const TREE_SIZE_HEADER: &str = "evident-tree-size";

/// Bytes gathered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the reading task and the connection.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Pages read ahead of the one being formatted.
const PAGES_AHEAD: usize = 2;

/// How the export is written.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` (the default), `ndjson` or `bundle` (one tenant, log order, with proofs).
    pub format: Option<String>,
    /// CSV: comma list of columns, in order (docs/export.md names them).
    pub columns: Option<String>,
    /// CSV: an IANA time zone for the Time column, e.g. `Europe/Berlin` (default UTC).
    pub tz: Option<String>,
    /// CSV: `true` writes cells as stored, without the spreadsheet formula defence.
    pub raw: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ndjson,
    Bundle,
}

impl Format {
    pub fn parse(text: Option<&str>) -> Result<Format, Problem> {
        match text {
            None | Some("csv") => Ok(Format::Csv),
            Some("ndjson") => Ok(Format::Ndjson),
            Some("bundle") => Ok(Format::Bundle),
            Some(other) => Err(Problem::bad_parameter(
                "format",
                format!("{other:?} is not csv, ndjson or bundle"),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Ndjson | Format::Bundle => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Bundle => "bundle.ndjson",
        }
    }
}

pub fn csv_layout(params: &ExportParams) -> Result<CsvLayout, Problem> {
    let columns = match &params.columns {
        None => Column::DEFAULT.to_vec(),
        Some(text) => {
            Column::parse_list(text).map_err(|error| Problem::bad_parameter("columns", error))?
        }
    };
    let time_zone = match params.tz.as_deref() {
        None | Some("") | Some("UTC") => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
            Problem::bad_parameter(
                "tz",
                format!("{name:?} is not an IANA time zone such as Europe/Berlin"),
            )
        })?,
    };
    let raw = match params.raw.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(Problem::bad_parameter(
                "raw",
                format!("{other:?} is not true or false"),
            ));
        }
    };
    Ok(CsvLayout {
        columns,
        time_zone,
        raw,
    })
}

/// `evident-<tenant>_<from>_<to>.<ext>`: the dates the filter bounds, the
/// log's start and today where it leaves them open.
fn file_name(tenant: &str, filter: &Filter, now: Timestamp, format: Format) -> String {
    let (mut from, mut to) = (None, None);
    for clause in filter.clauses.iter().filter(|clause| !clause.negated) {
        match &clause.condition {
            evident_core::Condition::From(bound) => {
                from = Some(bound.resolve_micros(evident_core::BoundSide::From, now));
            }
            evident_core::Condition::To(bound) => {
                to = Some(bound.resolve_micros(evident_core::BoundSide::To, now));
            }
            _ => {}
        }
    }
    let date = |micros: Option<i64>| {
        micros
            .and_then(|micros| Timestamp::from_microsecond(micros).ok())
            .map(|time| time.strftime("%Y-%m-%d").to_string())
    };
    let from = date(from).unwrap_or_else(|| "start".to_owned());
    let to = date(to).unwrap_or_else(|| now.strftime("%Y-%m-%d").to_string());
    format!("evident-{tenant}_{from}_{to}.{}", format.extension())
}

/// Exports a filtered view: every event that paging through it would show, in the same order.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events/export", tag = "events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), ViewParams, ExportParams),
    responses(
        (status = 200, description = "The export, streamed; Evident-Tree-Size says up to which tree size (per tenant with descendants) it reads",
            content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "A parameter or the query does not parse", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the export scope", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(view): Query<ViewParams>,
    Query(params): Query<ExportParams>,
    Query(paging): Query<PagingParams>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Export).await?;
    if let Some(name) = paging.any() {
        return Err(Problem::bad_parameter(
            name,
            "an export holds the whole view; it takes no paging parameters",
        ));
    }
    let format = Format::parse(params.format.as_deref())?;
    let filter = filter_from_params(&view)?;
    let sort = sort_from_params(&view)?;
    let scope = view_scope(&state, &tenant.id, &view).await?;
    let layout = csv_layout(&params)?;
    stream_export(&state, &tenant, format, layout, filter, sort, scope).await
}

/// Streams the export of a view whose access has been checked.
pub async fn stream_export(
    state: &AppState,
    tenant: &Tenant,
    format: Format,
    layout: CsvLayout,
    filter: Filter,
    sort: SortOrder,
    scope: TenantScope,
) -> Result<Response, Problem> {
    let now = Timestamp::now();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name(&tenant.id, &filter, now, format)
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(Problem::internal)?,
    );
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    let tree_size = if format == Format::Bundle {
        if scope.spans_several() {
            return Err(Problem::bad_parameter(
                "include",
                "a bundle proves one tenant's log; export each sub-account on its own",
            ));
        }
        let checkpointer = state.checkpointer.clone();
        let tenant_id = tenant.id.clone();
        let checkpoint = blocking(move || checkpointer.latest(store.as_ref(), &tenant_id)).await?;
        let size = checkpoint.tree_size.to_string();
        let job = BundleJob {
            store: state.store.clone(),
            tenant: tenant.id.clone(),
            origin: state.checkpointer.origin_of(&tenant.id),
            note: checkpoint.note,
            tree_size: checkpoint.tree_size,
            filter,
            now,
        };
        tokio::task::spawn_blocking(move || stream(sender, |out| job.run(out)));
        size
    } else {
        let sizes = blocking({
            let (store, scope) = (store.clone(), scope.clone());
            move || tree_sizes(store.as_ref(), &scope)
        })
        .await?;
        let size = if scope.spans_several() {
            scope
                .tenants
                .iter()
                .map(|id| format!("{id}={}", sizes.get(id).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            sizes.get(&tenant.id).copied().unwrap_or(0).to_string()
        };
        let job = RowsJob {
            store,
            catalogs: state.catalogs.snapshot(),
            view: ExportView {
                scope,
                filter,
                sort,
                now,
                sizes,
            },
            format,
            layout,
            company: tenant.name.clone(),
        };
        tokio::task::spawn_blocking(move || stream(sender, |out| job.run(out)));
        size
    };
    headers.insert(
        HeaderName::from_static(TREE_SIZE_HEADER),
        HeaderValue::from_str(&tree_size).map_err(Problem::internal)?,
    );
    let chunks = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    Ok((headers, Body::from_stream(chunks)).into_response())
}

/// Each tenant's log size now: the snapshot an export reads.
fn tree_sizes(store: &dyn Store, scope: &TenantScope) -> Result<HashMap<String, u64>, StoreError> {
    scope
        .tenants
        .iter()
        .map(|tenant| {
            let size = store.tree_head(tenant)?.map_or(0, |head| head.tree_size);
            Ok((tenant.clone(), size))
        })
        .collect()
}

/// Where a job writes: gathers bytes and sends them a chunk at a time.
struct Output {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
    /// The client went away: stop reading.
    closed: bool,
}

impl Output {
    /// Sends what is gathered once it is a chunk, or now when `force`.
    fn flush(&mut self, force: bool) -> bool {
        if self.closed || (!force && self.buffer.len() < CHUNK_BYTES) || self.buffer.is_empty() {
            return !self.closed;
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES * 2),
        ));
        if self.sender.blocking_send(Ok(chunk)).is_err() {
            self.closed = true;
        }
        !self.closed
    }
}

/// Runs a job on a blocking thread; an error after the first bytes aborts the
/// response, so the client sees a cut transfer rather than a short file.
fn stream(
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    job: impl FnOnce(&mut Output) -> Result<(), ExportError>,
) {
    let mut out = Output {
        sender,
        buffer: Vec::with_capacity(CHUNK_BYTES * 2),
        closed: false,
    };
    match job(&mut out) {
        Ok(()) => {
            out.flush(true);
        }
        Err(error) => {
            tracing::error!(%error, "export failed");
            let _ = out
                .sender
                .blocking_send(Err(std::io::Error::other(error.to_string())));
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] crate::catalogs::CatalogLoadError),
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// CSV or NDJSON of a view.
struct RowsJob {
    store: Arc<dyn Store>,
    catalogs: Arc<CatalogSet>,
    view: ExportView,
    format: Format,
    layout: CsvLayout,
    /// The tenant's name, for the Company name of a one-tenant view.
    company: String,
}

impl RowsJob {
    fn run(self, out: &mut Output) -> Result<(), ExportError> {
        if self.format == Format::Csv {
            let mut writer = csv::Writer::from_writer(&mut out.buffer);
            writer.write_record(self.layout.header())?;
            writer.flush().map_err(csv::Error::from)?;
        }
        // The first bytes leave before the first page is read.
        out.flush(true);
        // One thread reads pages while this one formats and sends the last:
        // reading the store and formatting rows then run on both cores.
        let (pages, received) = std::sync::mpsc::sync_channel::<RawPage>(PAGES_AHEAD);
        let this = &self;
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                this.store
                    .export(&this.view, &mut |page| pages.send(page).is_ok())
            });
            let mut written = Ok(());
            let mut catalogs = TenantCatalogs::default();
            // Leaving the loop drops the receiver, which stops the reader.
            for page in received {
                written = this.write(&page, &mut catalogs, &mut out.buffer);
                if written.is_err() || !out.flush(false) {
                    break;
                }
            }
            let read = reader.join().expect("the export's reading thread panicked");
            read?;
            written
        })
    }

    /// Writes a page's events, each with its catalog's display text.
    fn write(
        &self,
        page: &RawPage,
        catalogs: &mut TenantCatalogs,
        buffer: &mut Vec<u8>,
    ) -> Result<(), ExportError> {
        let mut displayed = |index: usize| -> Result<EventView<'_>, ExportError> {
            Ok(catalogs.displayed(&self.catalogs, self.store.as_ref(), page, index)?)
        };
        match self.format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(buffer);
                let mut scratch = String::new();
                let mut failure = None;
                for index in 0..page.len() {
                    let event = displayed(index)?;
                    self.layout
                        .cells(&event, &self.company, &mut scratch, &mut |cell| {
                            if let Err(error) = writer.write_field(cell) {
                                failure.get_or_insert(error);
                            }
                        });
                    writer.write_record(None::<&[u8]>)?;
                }
                if let Some(error) = failure {
                    return Err(error.into());
                }
                writer.flush().map_err(csv::Error::from)?;
            }
            _ => {
                for index in 0..page.len() {
                    serde_json::to_writer(&mut *buffer, &displayed(index)?)?;
                    buffer.push(b'\n');
                }
            }
        }
        Ok(())
    }
}

/// A bundle: the tenant's leaves in log order up to a signed checkpoint, each with its proof.
struct BundleJob {
    store: Arc<dyn Store>,
    tenant: String,
    origin: String,
    note: String,
    tree_size: u64,
    filter: Filter,
    now: Timestamp,
}

impl BundleJob {
    fn run(self, out: &mut Output) -> Result<(), ExportError> {
        let filter_text = self.filter.to_string();
        out.buffer.extend_from_slice(
            bundle::header_line(
                &self.tenant,
                &self.origin,
                self.tree_size,
                &self.note,
                &filter_text,
            )
            .as_bytes(),
        );
        out.buffer.push(b'\n');
        out.flush(true);
        if self.filter.is_empty() {
            return self.write_run(0, self.tree_size, out);
        }
        // The view's events, then their leaves in log order, read in runs of consecutive seqs.
        let mut seqs = Vec::new();
        let view = ExportView {
            scope: TenantScope::single(self.tenant.clone()),
            filter: self.filter.clone(),
            sort: SortOrder::Asc,
            now: self.now,
            sizes: HashMap::from([(self.tenant.clone(), self.tree_size)]),
        };
        self.store.export(&view, &mut |page| {
            seqs.extend((0..page.len()).map(|index| page.place(index).1));
            true
        })?;
        seqs.sort_unstable();
        let mut index = 0;
        while index < seqs.len() {
            let start = seqs[index];
            let mut end = start + 1;
            index += 1;
            while index < seqs.len() && seqs[index] == end {
                end += 1;
                index += 1;
            }
            self.write_run(start, end, out)?;
            if out.closed {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The lines of seq `start` … `end − 1`.
    fn write_run(&self, start: u64, end: u64, out: &mut Output) -> Result<(), ExportError> {
        let mut next = start;
        while next < end {
            let count = (end - next).min(u64::from(EXPORT_PAGE)) as u32;
            let leaves = self.store.leaves(&self.tenant, next, count)?;
            if leaves.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "tenant {:?} has no event {next} below its tree size {}",
                    self.tenant, self.tree_size
                ))
                .into());
            }
            let seqs = leaves
                .iter()
                .map(|leaf| {
                    leaf.object["seq"]
                        .as_u64()
                        .ok_or_else(|| StoreError::Corrupt("a leaf without its seq".to_owned()))
                })
                .collect::<Result<Vec<u64>, StoreError>>()?;
            // Rows the store did not write where it writes events come first, and
            // are left to the verifier; a page past `end` is not this run's.
            let wanted: Vec<(usize, u64)> = seqs
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, seq)| *seq < end)
                .collect();
            let indexes: Vec<u64> = wanted.iter().map(|(_, seq)| *seq).collect();
            if indexes.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "tenant {:?} has no event {next}",
                    self.tenant
                ))
                .into());
            }
            let proofs = self
                .store
                .inclusion_proofs(&self.tenant, &indexes, self.tree_size)?
                .ok_or_else(|| StoreError::TenantNotFound(self.tenant.clone()))?;
            for ((position, seq), proof) in wanted.into_iter().zip(proofs) {
                out.buffer.extend_from_slice(
                    bundle::entry_line(&leaves[position], seq, self.tree_size, &proof).as_bytes(),
                );
                out.buffer.push(b'\n');
                next = next.max(seq + 1);
            }
            if !out.flush(false) {
                return Ok(());
            }
        }
        Ok(())
    }
}
