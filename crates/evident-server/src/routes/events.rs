//! Events: ingest (single or batch) and queries.

use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use evident_core::access::Scope;
use evident_core::catalog::Catalog;
use evident_core::event::validate_event;
use evident_core::event::wire::{self, WireBody};
use evident_core::{Event, Filter, NewEvent, Violation, query};
use evident_store::{
    AppendBatch, BatchError, Cursor, EventQuery, PageStart, RawPage, Receipt, SortOrder, Store,
    TenantScope,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Caller;
use crate::blocking;
use crate::body::{parse_json, read_json_bytes};
use crate::catalogs::{CatalogLoadError, CatalogSet, TenantCatalogs, prepare, render_all};
use crate::problem::{Problem, ProblemDetails};
use crate::writer::WriteError;

/// The ingest body: one event, or `{"events": [...]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // documents the body; the handler validates the raw JSON
pub enum IngestBody {
    Batch { events: Vec<IngestEvent> },
    Single(IngestEvent),
}

/// One event as sent (see docs/api.md for every rule).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the body; the handler validates the raw JSON for precise errors
pub struct IngestEvent {
    /// 1–128 characters of `[A-Za-z0-9_.:/-]`.
    #[schema(example = "license.revoked")]
    action: String,
    /// RFC 3339; defaults to receipt time; at most 1 day in the future.
    #[schema(format = DateTime)]
    occurred_at: Option<String>,
    actor: evident_core::Actor,
    /// At most 32.
    targets: Option<Vec<evident_core::Target>>,
    context: Option<evident_core::Context>,
    channel: Option<String>,
    outcome: Option<evident_core::Outcome>,
    description: Option<String>,
    /// A JSON object of at most 32 KiB serialised.
    metadata: Option<Object>,
    /// A repeat of a key the tenant has sent returns the first receipt and stores nothing.
    idempotency_key: Option<String>,
}

/// Any JSON object.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct Object(pub serde_json::Map<String, Value>);

/// Receipts, in request order. A 201 means the events are durably stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestReceipts {
    pub events: Vec<Receipt>,
}

/// An ingest body as read: its events when every one keeps every rule
/// (`wire`), else its JSON, for `validate_event` to name each violation.
enum IngestRead {
    Valid(WireBody),
    Json(Value),
}

impl IngestRead {
    fn of(bytes: &[u8], limits: &crate::Limits, now: Timestamp) -> Result<Self, Problem> {
        match wire::read_valid(bytes, now, &limits.event, limits.max_events_per_request) {
            Some(valid) => Ok(IngestRead::Valid(valid)),
            None => Ok(IngestRead::Json(parse_json(bytes)?)),
        }
    }
}

/// The validated events of an ingest body with the catalog applied, or every violation.
fn events_from_body(
    body: IngestRead,
    idempotency_header: Option<String>,
    state: &AppState,
    catalog: &Catalog,
    now: Timestamp,
) -> Result<Vec<NewEvent>, Problem> {
    let limits = &state.limits;
    let redactor = state.catalogs.redactor();
    let body = match body {
        IngestRead::Valid(WireBody::Single(mut event)) => {
            prepare(catalog, redactor, &mut event, None).map_err(Problem::validation)?;
            return single_event(*event, idempotency_header);
        }
        IngestRead::Valid(WireBody::Batch(events)) => {
            refuse_batch_key(&idempotency_header)?;
            return prepared_batch(events.into_iter().map(Ok), catalog, redactor);
        }
        IngestRead::Json(body) => body,
    };
    let is_batch = body
        .as_object()
        .is_some_and(|object| object.contains_key("events"));
    if !is_batch {
        let mut event =
            validate_event(&body, None, now, &limits.event).map_err(Problem::validation)?;
        prepare(catalog, redactor, &mut event, None).map_err(Problem::validation)?;
        return single_event(event, idempotency_header);
    }
    let Value::Object(mut object) = body else {
        unreachable!("checked above")
    };
    if let Some(other) = object.keys().find(|key| *key != "events") {
        return Err(Problem::invalid_field(
            other,
            "unknown_field",
            "a batch body holds only \"events\"",
        ));
    }
    refuse_batch_key(&idempotency_header)?;
    let Some(Value::Array(items)) = object.remove("events") else {
        return Err(Problem::invalid_field(
            "events",
            "type",
            "events must be an array of events",
        ));
    };
    if items.is_empty() {
        return Err(Problem::invalid_field(
            "events",
            "min_items",
            "events must hold at least one event",
        ));
    }
    if items.len() > limits.max_events_per_request {
        return Err(Problem::too_large(format!(
            "a request may hold at most {} events, got {}",
            limits.max_events_per_request,
            items.len()
        )));
    }
    // Each event's tree is dropped once it is read.
    let events = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| validate_event(&item, Some(index), now, &limits.event));
    prepared_batch(events, catalog, redactor)
}

/// A single event with the Idempotency-Key header as its key (the same as its field's, if any).
fn single_event(
    mut event: NewEvent,
    idempotency_header: Option<String>,
) -> Result<Vec<NewEvent>, Problem> {
    if let Some(header) = idempotency_header {
        match &event.idempotency_key {
            Some(field) if *field != header => {
                return Err(Problem::invalid_field(
                    "idempotency_key",
                    "conflict",
                    "the Idempotency-Key header and the idempotency_key field differ",
                ));
            }
            _ => event.idempotency_key = Some(header),
        }
    }
    Ok(vec![event])
}

/// The Idempotency-Key header names one event's key: a batch refuses it.
fn refuse_batch_key(idempotency_header: &Option<String>) -> Result<(), Problem> {
    if idempotency_header.is_some() {
        return Err(Problem::invalid_field(
            "Idempotency-Key",
            "single_event_only",
            "for a batch, give each event its own idempotency_key",
        ));
    }
    Ok(())
}

/// A batch's events with the catalog applied to each, or every violation of them all.
fn prepared_batch(
    events: impl ExactSizeIterator<Item = Result<NewEvent, Vec<Violation>>>,
    catalog: &Catalog,
    redactor: &evident_core::redact::Redactor,
) -> Result<Vec<NewEvent>, Problem> {
    let mut prepared = Vec::with_capacity(events.len());
    let mut violations: Vec<Violation> = Vec::new();
    for (index, event) in events.enumerate() {
        let event = event.and_then(|mut event| {
            prepare(catalog, redactor, &mut event, Some(index))?;
            Ok(event)
        });
        match event {
            Ok(event) => prepared.push(event),
            Err(mut found) => violations.append(&mut found),
        }
    }
    if violations.is_empty() {
        Ok(prepared)
    } else {
        Err(Problem::validation(violations))
    }
}

/// Records one event or a batch. All or nothing: a batch with any invalid event stores nothing.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/events", tag = "events", security(("bearer" = [])),
    params(
        ("tenant" = String, Path, description = "Account ID"),
        ("Idempotency-Key" = Option<String>, Header, description = "For a single event: a repeat returns the first receipt and stores nothing")
    ),
    request_body = IngestBody,
    responses(
        (status = 201, description = "Durably stored", body = IngestReceipts),
        (status = 400, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the ingest scope", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Too many events or too many bytes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Events break validation rules", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, body = ProblemDetails, content_type = "application/problem+json")
    ))]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<IngestReceipts>), Problem> {
    caller.reach(&state, &tenant).await?;
    caller.require(Scope::Ingest)?;
    let idempotency_header = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|key| !key.is_empty() && key.len() <= 256)
                .ok_or_else(|| {
                    Problem::invalid_field(
                        "Idempotency-Key",
                        "format",
                        "1–256 visible ASCII characters",
                    )
                })?
                .to_owned(),
        ),
    };
    let bytes = read_json_bytes(request, state.limits.max_body_bytes).await?;
    // Parsed events take several times their JSON's bytes: bodies are parsed
    // only while those parsed and not yet stored fit the budget.
    let budget = state.limits.ingest_bytes_in_flight.max(1);
    let weight = bytes.len().clamp(1, budget);
    let weight = u32::try_from(weight).unwrap_or(u32::MAX);
    let _in_flight = match state.ingest_bytes.try_acquire_many(weight) {
        Ok(permit) => permit,
        Err(_) => {
            metrics::counter!("evident_ingest_budget_waits_total").increment(1);
            state.ingest_bytes.acquire_many(weight).await.map_err(|_| {
                Problem::unavailable("the server is shutting down; nothing was stored")
            })?
        }
    };
    let now = Timestamp::now();
    let body = IngestRead::of(&bytes, &state.limits, now)?;
    drop(bytes);
    let set = state.catalogs.snapshot();
    let catalog = match set.computed(&tenant) {
        Some(catalog) => catalog,
        None => {
            let (store, tenant) = (state.store.clone(), tenant.clone());
            blocking(move || set.effective(store.as_ref(), &tenant)).await?
        }
    };
    let events = events_from_body(body, idempotency_header, &state, &catalog, now)?;
    let receipts = state
        .writer
        .append(AppendBatch { tenant, events })
        .await
        .map_err(|error| match error {
            WriteError::Batch(error @ BatchError::TenantNotFound(_)) => {
                Problem::not_found(error.to_string())
            }
            WriteError::Stopped => {
                Problem::unavailable("the server is shutting down; nothing was stored")
            }
            other => Problem::internal(other),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(IngestReceipts { events: receipts }),
    ))
}

/// The view: filters, free text, the query language, sort and sub-accounts,
/// shared by the events list and the export. Every filter can also be written in `query`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ViewParams {
    /// Comma list of actions; `*` globs, e.g. `user.*,license.revoked`.
    pub action: Option<String>,
    /// Comma list of categories.
    pub category: Option<String>,
    /// Comma list of actor ids or emails, or email prefixes ending in `*` (`ada@*`).
    pub actor: Option<String>,
    /// Comma list of `type:id` (or a bare id).
    pub target: Option<String>,
    /// Comma list of channels, e.g. `portal,api`.
    pub channel: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// Comma list of IP addresses or CIDR networks.
    pub ip: Option<String>,
    /// RFC 3339, a date, or an age such as `7d`.
    pub from: Option<String>,
    /// RFC 3339, a date (the whole day), or an age.
    pub to: Option<String>,
    /// Free text: each term matches whole words or word prefixes; `"quoted phrase"`; `-term` excludes.
    pub q: Option<String>,
    /// The query language (docs/query-language.md), ANDed with the other parameters.
    pub query: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub sort: Option<String>,
    /// `descendants` to include sub-accounts' events.
    pub include: Option<String>,
}

/// How the events list pages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PagingParams {
    /// Page size for cursor paging, 1–1000 (default 50).
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Numbered paging: page number from 1; the answer adds an exact `total`.
    page: Option<String>,
    /// Numbered paging: page size, 1–1000 (default 50).
    per_page: Option<String>,
}

impl PagingParams {
    /// The first paging parameter given, if any.
    pub fn any(&self) -> Option<&'static str> {
        [
            ("limit", &self.limit),
            ("cursor", &self.cursor),
            ("page", &self.page),
            ("per_page", &self.per_page),
        ]
        .into_iter()
        .find_map(|(name, value)| value.is_some().then_some(name))
    }
}

/// A page of events.
// Owned events for the page's HTML; the API writes views of the stored rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList<E = Event> {
    pub events: Vec<E>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    /// Exact number of matching events (numbered paging).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl<E> EventList<E> {
    /// A page of `events` (page `number` of `per_page`, with the exact `total`,
    /// when asked for by number).
    fn new(
        events: Vec<E>,
        next_cursor: Option<Cursor>,
        number: Option<u64>,
        per_page: u32,
        total: Option<u64>,
    ) -> Self {
        EventList {
            events,
            next_cursor: next_cursor.map(|cursor| cursor.encode()),
            page: number,
            per_page: number.map(|_| per_page),
            pages: total.map(|total| total.div_ceil(u64::from(per_page))),
            total,
        }
    }
}

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 1000;

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter the parameters describe.
pub fn filter_from_params(params: &ViewParams) -> Result<Filter, Problem> {
    let mut filter = Filter::default();
    let lists = [
        ("action", &params.action),
        ("category", &params.category),
        ("actor", &params.actor),
        ("target", &params.target),
        ("channel", &params.channel),
        ("outcome", &params.outcome),
        ("ip", &params.ip),
        ("from", &params.from),
        ("to", &params.to),
    ];
    for (key, value) in lists {
        let Some(value) = value else { continue };
        let values: Vec<String> = value.split(',').map(|part| quote(part.trim())).collect();
        let clause = format!("{key}:{}", values.join(","));
        let parsed = query::parse(&clause)
            .map_err(|error| Problem::bad_parameter(key, error.message.clone()))?;
        filter.clauses.extend(parsed.clauses);
    }
    if let Some(text) = &params.q {
        filter
            .clauses
            .extend(query::parse_text(text).map_err(|error| Problem::query("q", &error))?);
    }
    if let Some(text) = &params.query {
        filter.clauses.extend(
            query::parse(text)
                .map_err(|error| Problem::query("query", &error))?
                .clauses,
        );
    }
    Ok(filter)
}

fn page_size(name: &str, value: &Option<String>) -> Result<u32, Problem> {
    match value {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
            .ok_or_else(|| {
                Problem::bad_parameter(
                    name,
                    format!("{name} must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                )
            }),
    }
}

/// The sort the parameters ask for.
pub fn sort_from_params(params: &ViewParams) -> Result<SortOrder, Problem> {
    match params.sort.as_deref() {
        None | Some("desc") => Ok(SortOrder::Desc),
        Some("asc") => Ok(SortOrder::Asc),
        Some(other) => Err(Problem::bad_parameter(
            "sort",
            format!("{other:?} is not desc or asc"),
        )),
    }
}

/// The tenants a view covers: the tenant, or with `include=descendants` its subtree.
pub async fn view_scope(
    state: &AppState,
    tenant: &str,
    params: &ViewParams,
) -> Result<TenantScope, Problem> {
    scope_of(state, tenant, &params.include).await
}

/// The tenants a request covers: the tenant, or with `include=descendants` its subtree.
async fn scope_of(
    state: &AppState,
    tenant: &str,
    include: &Option<String>,
) -> Result<TenantScope, Problem> {
    match include.as_deref() {
        None | Some("") => scope(state, tenant, false).await,
        Some("descendants") => scope(state, tenant, true).await,
        Some(other) => Err(Problem::bad_parameter(
            "include",
            format!("{other:?} is not descendants"),
        )),
    }
}

/// The tenant alone, or with `descendants` its whole subtree.
pub async fn scope(
    state: &AppState,
    tenant: &str,
    descendants: bool,
) -> Result<TenantScope, Problem> {
    if !descendants {
        return Ok(TenantScope::single(tenant));
    }
    let store = state.store.clone();
    let tenant = tenant.to_owned();
    Ok(TenantScope {
        tenants: blocking(move || store.subtree(&tenant)).await?,
    })
}

/// Lists events, newest first by default, with filters, free text and paging.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events", tag = "events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), ViewParams, PagingParams),
    responses(
        (status = 200, body = EventList),
        (status = 400, description = "A parameter or the query does not parse", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The key lacks the read scope", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    Query(view): Query<ViewParams>,
    Query(params): Query<PagingParams>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?;
    let filter = filter_from_params(&view)?;
    let sort = sort_from_params(&view)?;
    let scope = view_scope(&state, &tenant.id, &view).await?;
    let numbered = params.page.is_some() || params.per_page.is_some();
    if numbered && (params.cursor.is_some() || params.limit.is_some()) {
        return Err(Problem::bad_parameter(
            "page",
            "use either page/per_page or limit/cursor, not both",
        ));
    }
    let now = Timestamp::now();
    let (query, number) = if numbered {
        let per_page = page_size("per_page", &params.per_page)?;
        let page = match &params.page {
            None => 1,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|page| *page >= 1)
                .ok_or_else(|| {
                    Problem::bad_parameter("page", "page must be a whole number from 1")
                })?,
        };
        (
            numbered_query(scope, filter, sort, page, per_page, now),
            Some(page),
        )
    } else {
        let start = match &params.cursor {
            None => PageStart::First,
            Some(text) => PageStart::After(Cursor::decode(text).map_err(|_| {
                Problem::bad_parameter("cursor", "the cursor is not one this server issued")
            })?),
        };
        let query = EventQuery {
            scope,
            filter,
            sort,
            start,
            limit: page_size("limit", &params.limit)?,
            now,
        };
        (query, None)
    };
    let per_page = query.limit;
    let body = read_page(
        &state,
        query,
        number.is_some(),
        move |set, store, found, total| {
            // Written from views of the stored rows, as exports are: the same JSON
            // as an `EventList`, without an owned event per row.
            let mut catalogs = TenantCatalogs::default();
            let events = (0..found.len())
                .map(|index| catalogs.displayed(set, store, &found, index))
                .collect::<Result<Vec<_>, _>>()?;
            let list = EventList::new(events, found.next_cursor, number, per_page, total);
            serde_json::to_vec(&list).map_err(Problem::internal)
        },
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The query of page `page` (from 1) of `per_page` events.
pub fn numbered_query(
    scope: TenantScope,
    filter: Filter,
    sort: SortOrder,
    page: u64,
    per_page: u32,
    now: Timestamp,
) -> EventQuery {
    EventQuery {
        scope,
        filter,
        sort,
        start: PageStart::Offset((page - 1).saturating_mul(u64::from(per_page))),
        limit: per_page,
        now,
    }
}

/// Reads a page of `query` as stored, with the exact total of its filter
/// when `with_total`, and hands it to `finish`, all on the blocking pool.
async fn read_page<T: Send + 'static>(
    state: &AppState,
    query: EventQuery,
    with_total: bool,
    finish: impl FnOnce(&CatalogSet, &dyn Store, RawPage, Option<u64>) -> Result<T, Problem>
    + Send
    + 'static,
) -> Result<T, Problem> {
    let (set, store) = (state.catalogs.snapshot(), state.store.clone());
    blocking(move || {
        let (found, total) = if with_total {
            let (found, total) = store.query_with_total(&query)?;
            (found, Some(total))
        } else {
            (store.raw_page(&query)?, None)
        };
        finish(&set, store.as_ref(), found, total)
    })
    .await
}

/// Page `page` (from 1) of a view whose access has been checked, with its
/// exact total: `query` is [`numbered_query`]'s.
pub async fn numbered_page(
    state: &AppState,
    query: EventQuery,
    page: u64,
) -> Result<EventList, Problem> {
    let per_page = query.limit;
    read_page(state, query, true, move |set, store, found, total| {
        let mut events = found.events()?;
        render_all(set, store, &mut events)?;
        Ok(EventList::new(
            events,
            found.next_cursor,
            Some(page),
            per_page,
            total,
        ))
    })
    .await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShowParams {
    /// `descendants` to find the event in a sub-account too.
    include: Option<String>,
    /// `true`: answer the event as it is hashed into the log, with its inclusion proof and the latest checkpoint.
    proof: Option<bool>,
}

/// An event for verification: the leaf object exactly as hashed, its
/// personal-data side-car, and its inclusion proof against a signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventWithProof {
    #[schema(value_type = Object)]
    pub leaf: Value,
    #[schema(value_type = Object)]
    pub pii: Value,
    /// Standard base64 of SHA-256(0x00 ‖ JCS(leaf)).
    pub leaf_hash: String,
    pub proof: crate::routes::log::InclusionProof,
    /// The signed note the proof leads to.
    pub checkpoint: String,
}

/// One stored event.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events/{id}", tag = "events", security(("bearer" = [])),
    params(("tenant" = String, Path, description = "Account ID"), ("id" = String, Path, description = "Event id (UUID)"), ShowParams),
    responses(
        (status = 200, description = "The event; with proof=true an EventWithProof", body = Event),
        (status = 401, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, body = ProblemDetails, content_type = "application/problem+json")
    ))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((tenant, id)): Path<(String, String)>,
    Query(params): Query<ShowParams>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant_with(&state, &tenant, Scope::Read).await?;
    let not_found = || {
        Problem::not_found(format!(
            "event {id:?} does not exist in tenant {:?}",
            tenant.id
        ))
    };
    let event_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let scope = scope_of(&state, &tenant.id, &params.include).await?;
    let found = find_event(&state, scope, event_id)
        .await?
        .ok_or_else(not_found)?;
    if params.proof != Some(true) {
        return Ok(Json(found).into_response());
    }
    Ok(Json(event_with_proof(&state, &found).await?).into_response())
}

/// An event of the scope, rendered with its catalog's display text.
pub async fn find_event(
    state: &AppState,
    scope: TenantScope,
    event_id: Uuid,
) -> Result<Option<Event>, Problem> {
    let (set, store) = (state.catalogs.snapshot(), state.store.clone());
    blocking(move || {
        let Some(event) = store.get(&scope, event_id)? else {
            return Ok(None);
        };
        let mut events = [event];
        render_all(&set, store.as_ref(), &mut events)?;
        let [event] = events;
        Ok::<_, CatalogLoadError>(Some(event))
    })
    .await
}

/// The event as hashed into its tenant's log, with its proof against the latest checkpoint.
pub async fn event_with_proof(state: &AppState, event: &Event) -> Result<EventWithProof, Problem> {
    let (checkpointer, store) = (state.checkpointer.clone(), state.store.clone());
    let (tenant, seq, id) = (event.tenant.clone(), event.seq, event.id);
    blocking(move || {
        let checkpoint = checkpointer.latest(store.as_ref(), &tenant)?;
        let leaf = store
            .leaves(&tenant, seq, 1)?
            .into_iter()
            .next()
            .ok_or_else(|| evident_store::StoreError::Corrupt(format!("event {id} has no leaf")))?;
        let hashes = store
            .inclusion_proof(&tenant, seq, checkpoint.tree_size)?
            .ok_or_else(|| evident_store::StoreError::TenantNotFound(tenant.clone()))?;
        Ok::<_, evident_store::StoreError>(EventWithProof {
            leaf_hash: BASE64.encode(leaf.hash()),
            leaf: leaf.object,
            pii: leaf.pii,
            proof: crate::routes::log::InclusionProof {
                leaf_index: seq,
                tree_size: checkpoint.tree_size,
                hashes: hashes.iter().map(|hash| BASE64.encode(hash)).collect(),
            },
            checkpoint: checkpoint.note,
        })
    })
    .await
}
