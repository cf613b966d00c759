//! The audit log page at `/ui/`: server-rendered HTML with a little
//! progressive-enhancement JavaScript, its assets compiled into the binary.
//!
//! Operators sign in with an API key (kept only as a signed session cookie
//! naming the key's id); a product's customers arrive through a viewer link,
//! which starts one read-only session on one tenant, with its fixed filter
//! ANDed to whatever they choose.
//!
//! **Architecture Invariant:** every page answers with a strict
//! Content-Security-Policy (scripts and styles from `/ui/assets/` only, no
//! inline code), and every event field is rendered as escaped text.

pub mod page;
pub mod session;
mod view;

use axum::Router;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use evident_core::Filter;
use evident_core::access::Scope;
use evident_core::ui::UiSettings;
use evident_store::{ApiKey, Tenant, TenantScope, ViewerLink};
use jiff::Timestamp;
use maud::Markup;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{Caller, authenticate, hash_key};
use crate::blocking;
use crate::problem::Problem;
use crate::routes::events::{event_with_proof, find_event, numbered_page, numbered_query, scope};
use crate::routes::export::{Format, csv_layout, stream_export};
use session::{KEY_SESSION, Principal, SessionKey};
pub use view::PageView;

/// What the page needs from the deployment.
#[derive(Debug, Clone)]
pub struct UiConfig {
    pub session_key: SessionKey,
    /// Where browsers reach this server, e.g. `https://audit.example.com`; viewer links start with it.
    pub public_url: String,
}

impl UiConfig {
    /// Whether browsers reach the page over TLS (then cookies are Secure).
    pub fn tls(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

const CSS: &str = include_str!("assets/evident.css");
const JS: &str = include_str!("assets/evident.js");

/// A digest of the assets, in their URLs: a browser keeps them for a year
/// and fetches them anew when an upgrade changes them.
pub fn asset_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(CSS)
            .chain_update(JS)
            .finalize();
        digest[..6]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    })
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/v/{token}", get(redeem))
        .route("/ui/t/{tenant}", get(log_page))
        .route("/ui/t/{tenant}/theme.css", get(theme))
        .route("/ui/t/{tenant}/events/{id}", get(event_page))
        .route("/ui/t/{tenant}/events/{id}/json", get(event_json))
        .route("/ui/t/{tenant}/events/{id}/proof", get(proof))
        .route("/ui/t/{tenant}/export", get(download))
        .route("/ui/t/{tenant}/checkpoint", get(checkpoint))
        .route("/ui/assets/evident.css", get(|| asset(CSS, "text/css")))
        .route(
            "/ui/assets/evident.js",
            get(|| asset(JS, "text/javascript")),
        )
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The Content-Security-Policy of every page: nothing but our own assets, no
/// inline code, and framing only by the origins a tenant allows.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    let ancestors = if frame_ancestors.is_empty() {
        "'none'".to_owned()
    } else {
        frame_ancestors.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
}

/// An HTML answer with the page's security headers.
fn html(status: StatusCode, frame_ancestors: &[String], markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(frame_ancestors)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // No Referer leaves the site (a viewer link's token included); same-origin
    // posts keep their Origin header, which sign-in checks.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum UiError {
    /// No session, or one whose key is gone: sign in.
    SignIn,
    /// A viewer link's session that expired or was revoked.
    LinkOver,
    Problem(Problem),
}

impl From<Problem> for UiError {
    fn from(problem: Problem) -> UiError {
        UiError::Problem(problem)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        match self {
            UiError::SignIn => Redirect::to("/ui/sign-in").into_response(),
            UiError::LinkOver => html(
                StatusCode::UNAUTHORIZED,
                &[],
                page::message(
                    "This link is no longer valid",
                    "It has expired, was revoked, or has been opened already. Ask for a new link.",
                ),
            ),
            UiError::Problem(problem) => {
                let status = StatusCode::from_u16(problem.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                html(
                    status,
                    &[],
                    page::message(&problem.title, problem.detail.as_deref().unwrap_or("")),
                )
            }
        }
    }
}

/// Who is looking at the page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// What the session may do, as a key: a viewer link acts as a read-only key of its tenant.
    pub caller: Caller,
    pub link: Option<ViewerLink>,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Viewer, UiError> {
        let cookies = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok());
        let now = Timestamp::now();
        let token = session::from_cookies(cookies).ok_or(UiError::SignIn)?;
        let principal = state
            .ui
            .session_key
            .open(token, now)
            .ok_or(UiError::SignIn)?;
        let ended = hash_key(token);
        let is_link = matches!(principal, Principal::Link(_));
        let store = state.store.clone();
        // A signed-out cookie is refused, though its signature still holds.
        let found = blocking(move || {
            if store.session_ended(&ended)? {
                return Ok(None);
            }
            Ok::<_, evident_store::StoreError>(Some(match principal {
                Principal::Key(id) => Found::Key(store.key(&id)?),
                Principal::Link(id) => Found::Link(store.viewer_link(&id)?),
            }))
        })
        .await?;
        match found {
            Some(Found::Key(Some(key)))
                if key.revoked_at.is_none() && key.scopes.contains(&Scope::Read) =>
            {
                Ok(Viewer {
                    caller: Caller { key },
                    link: None,
                })
            }
            Some(Found::Link(Some(link))) if link.is_live(now) => Ok(Viewer::of_link(link)),
            Some(Found::Link(_)) => Err(UiError::LinkOver),
            None if is_link => Err(UiError::LinkOver),
            _ => Err(UiError::SignIn),
        }
    }
}

/// What a session's principal turned out to be in the store.
enum Found {
    Key(Option<ApiKey>),
    Link(Option<ViewerLink>),
}

impl Viewer {
    fn of_link(link: ViewerLink) -> Viewer {
        let key = ApiKey {
            id: link.id.clone(),
            name: link
                .title
                .clone()
                .unwrap_or_else(|| "viewer link".to_owned()),
            tenant: Some(link.tenant.clone()),
            scopes: vec![Scope::Read],
            created_at: link.created_at,
            revoked_at: None,
        };
        Viewer {
            caller: Caller { key },
            link: Some(link),
        }
    }

    /// The tenant of a page, if this session may read it: 404 otherwise.
    pub async fn tenant(&self, state: &AppState, id: &str) -> Result<Tenant, Problem> {
        if let Some(link) = &self.link
            && !link.include_descendants
            && link.tenant != id
        {
            return Err(Problem::not_found(format!("tenant {id:?} does not exist")));
        }
        self.caller.tenant_with(state, id, Scope::Read).await
    }

    /// Whether the session may widen a view to sub-accounts.
    pub fn may_include_descendants(&self) -> bool {
        self.link
            .as_ref()
            .is_none_or(|link| link.include_descendants)
    }

    /// Whether the session may download NDJSON and bundles (CSV is open to every reader of the page).
    pub fn may_export(&self) -> bool {
        self.link.is_none() && self.caller.key.scopes.contains(&Scope::Export)
    }

    /// The filter a viewer link fixes; empty for operators.
    pub fn fixed_filter(&self) -> Result<Filter, Problem> {
        match self.link.as_ref().and_then(|link| link.query.as_deref()) {
            None => Ok(Filter::default()),
            Some(text) => {
                evident_core::query::parse(text).map_err(|error| Problem::query("query", &error))
            }
        }
    }

    /// The tenants the session's chooser offers.
    async fn tenants(&self, state: &AppState) -> Result<Vec<Tenant>, Problem> {
        let store = state.store.clone();
        let root = match &self.link {
            Some(link) if !link.include_descendants => None,
            Some(link) => Some(link.tenant.clone()),
            None => self.caller.key.tenant.clone(),
        };
        let single = self.link.as_ref().map(|link| link.tenant.clone());
        blocking(move || {
            let all = store.tenants()?;
            let visible: Option<Vec<String>> = match (&root, &single) {
                (Some(root), _) => Some(store.subtree(root)?),
                (None, Some(only)) => Some(vec![only.clone()]),
                (None, None) => None,
            };
            Ok::<_, evident_store::StoreError>(
                all.into_iter()
                    .filter(|tenant| visible.as_ref().is_none_or(|ids| ids.contains(&tenant.id)))
                    .collect(),
            )
        })
        .await
    }

    /// The tenant whose page settings apply: a link's own tenant, else the page's.
    fn settings_tenant<'a>(&'a self, page_tenant: &'a str) -> &'a str {
        self.link.as_ref().map_or(page_tenant, |link| &link.tenant)
    }
}

pub(crate) async fn settings_of(state: &AppState, tenant: &str) -> Result<UiSettings, Problem> {
    let store = state.store.clone();
    let tenant = tenant.to_owned();
    let body = blocking(move || store.tenant_ui(&tenant)).await?;
    Ok(body
        .and_then(|body| serde_json::from_str(&body).ok())
        .unwrap_or_default())
}

async fn index(State(state): State<AppState>, viewer: Viewer) -> Response {
    let own = viewer
        .link
        .as_ref()
        .map(|link| link.tenant.clone())
        .or_else(|| viewer.caller.key.tenant.clone());
    if let Some(tenant) = own {
        return Redirect::to(&format!("/ui/t/{}", page::path_segment(&tenant))).into_response();
    }
    match viewer.tenants(&state).await {
        Ok(tenants) => html(StatusCode::OK, &[], page::tenant_list(&viewer, &tenants)),
        Err(problem) => UiError::Problem(problem).into_response(),
    }
}

async fn sign_in_form() -> Response {
    html(StatusCode::OK, &[], page::sign_in(None))
}

#[derive(serde::Deserialize)]
struct SignInForm {
    key: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: axum::extract::Form<SignInForm>,
) -> Response {
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            &[],
            page::sign_in(Some("Sign in from this page.")),
        );
    }
    let key = match authenticate(&state, form.key.trim()).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            return html(
                StatusCode::UNAUTHORIZED,
                &[],
                page::sign_in(Some("That key is unknown or revoked.")),
            );
        }
        Err(problem) => return UiError::Problem(problem).into_response(),
    };
    if !key.scopes.contains(&Scope::Read) {
        return html(
            StatusCode::FORBIDDEN,
            &[],
            page::sign_in(Some(
                "That key lacks the read scope, which the audit log page needs.",
            )),
        );
    }
    let expires_at = Timestamp::now() + KEY_SESSION;
    let token = state
        .ui
        .session_key
        .sign(Principal::Key(key.id), expires_at);
    let cookie = session::set_cookie(&token, KEY_SESSION, false, state.ui.tls());
    with_cookie(Redirect::to("/ui/"), &cookie)
}

/// A form post from one of our own pages, so that another site cannot sign
/// a browser in with a key of its choosing. Browsers send Sec-Fetch-Site and
/// Origin with every form post; a client without either (curl) is not a browser.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        _ => false,
    }
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    security_headers(response.headers_mut());
    response
}

/// Ends the session for good (its cookie is refused from now on, wherever it
/// was copied) and clears it in the browser.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok());
    if let Some(token) = session::from_cookies(cookies)
        && let Some((_, expires_at)) = state.ui.session_key.open_until(token, Timestamp::now())
    {
        let (store, hash) = (state.store.clone(), hash_key(token));
        if let Err(problem) = blocking(move || store.end_session(&hash, expires_at)).await {
            return UiError::Problem(problem).into_response();
        }
    }
    with_cookie(
        Redirect::to("/ui/sign-in"),
        &session::clear_cookie(state.ui.tls()),
    )
}

/// Opens a viewer link: its one session starts here, on its tenant's page.
async fn redeem(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, UiError> {
    let hash = hash_key(&token);
    let store = state.store.clone();
    let now = Timestamp::now();
    let link = blocking(move || store.redeem_viewer_link(&hash, now))
        .await?
        .ok_or(UiError::LinkOver)?;
    let token = state
        .ui
        .session_key
        .sign(Principal::Link(link.id.clone()), link.expires_at);
    let cookie = session::set_cookie(
        &token,
        link.expires_at.duration_since(now),
        true,
        state.ui.tls(),
    );
    // The marker lets the page tell a blocked cookie from a missing sign-in.
    let target = format!(
        "/ui/t/{}?{OPENED_FROM_LINK}",
        page::path_segment(&link.tenant)
    );
    Ok(with_cookie(Redirect::to(&target), &cookie))
}

async fn theme(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(tenant): Path<String>,
) -> Result<Response, UiError> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let settings = settings_of(&state, viewer.settings_tenant(&tenant.id)).await?;
    let css = settings
        .accent_color
        .map(|colour| format!(":root {{ --accent: {colour}; }}\n"))
        .unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        css,
    )
        .into_response())
}

/// Added to the page's address by a viewer link's redirect.
const OPENED_FROM_LINK: &str = "opened=link";

async fn log_page(
    State(state): State<AppState>,
    viewer: Result<Viewer, UiError>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let viewer = match viewer {
        // A viewer link has just set the cookie, and it did not come back:
        // the browser refused it, as some do inside another site's frame.
        Err(UiError::SignIn)
            if query
                .as_deref()
                .is_some_and(|query| query.split('&').any(|pair| pair == OPENED_FROM_LINK)) =>
        {
            // A message that shows nothing of any tenant may be framed anywhere.
            return Ok(html(
                StatusCode::UNAUTHORIZED,
                &["*".to_owned()],
                page::message(
                    "This browser refused the page's cookie",
                    "Either it blocks cookies in pages embedded from another site, or this link's session has ended. Ask the application for a new link, and open it in a tab of its own.",
                ),
            ));
        }
        other => other?,
    };
    let tenant = viewer.tenant(&state, &tenant).await?;
    let view = PageView::parse(query.as_deref().unwrap_or(""));
    if let Some(account) = view
        .account
        .as_deref()
        .filter(|account| *account != tenant.id)
    {
        // The sub-account chooser: the same view on another account's page.
        let target = format!(
            "/ui/t/{}{}",
            page::path_segment(account),
            view.query_string(&[])
        );
        return Ok(Redirect::to(&target).into_response());
    }
    let settings = settings_of(&state, viewer.settings_tenant(&tenant.id)).await?;
    let descendants = view.include_descendants && viewer.may_include_descendants();
    let tenants = viewer.tenants(&state).await?;
    let (set, store, id) = (
        state.catalogs.snapshot(),
        state.store.clone(),
        tenant.id.clone(),
    );
    let catalog = blocking(move || set.effective(store.as_ref(), &id)).await?;
    let mut context = page::LogPage {
        viewer: &viewer,
        tenant: &tenant,
        tenants: &tenants,
        catalog: &catalog,
        view: &view,
        descendants,
        list: None,
        error: None,
        printed: String::new(),
    };
    let filter = match view.filter() {
        Ok(filter) => filter,
        Err(problem) => {
            context.error = Some(problem);
            return Ok(html(
                StatusCode::BAD_REQUEST,
                &settings.frame_ancestors,
                page::log(&context),
            ));
        }
    };
    context.printed = filter.to_string();
    let mut full = viewer.fixed_filter()?;
    full.clauses.extend(filter.clauses);
    let scope = scope(&state, &tenant.id, descendants).await?;
    let query = numbered_query(
        scope,
        full,
        view.sort,
        view.page,
        view.per_page,
        Timestamp::now(),
    );
    let list = numbered_page(&state, query, view.page).await?;
    let pages = list.pages.unwrap_or(0);
    if list.events.is_empty() && pages > 0 && view.page > pages {
        // Past the last page (an old link, or fewer events now): the last page.
        let last = (pages > 1).then(|| pages.to_string());
        let target = format!(
            "/ui/t/{}{}",
            page::path_segment(&tenant.id),
            view.query_string(&[("page", last)])
        );
        return Ok(Redirect::to(&target).into_response());
    }
    context.list = Some(list);
    Ok(html(
        StatusCode::OK,
        &settings.frame_ancestors,
        page::log(&context),
    ))
}

/// The event, if this session's view holds it (a viewer link's fixed filter included).
async fn visible_event(
    state: &AppState,
    viewer: &Viewer,
    tenant: &Tenant,
    id: &str,
) -> Result<evident_core::Event, Problem> {
    let not_found = || Problem::not_found(format!("event {id:?} does not exist"));
    let event_id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let scope = scope(state, &tenant.id, viewer.may_include_descendants()).await?;
    let event = find_event(state, scope, event_id)
        .await?
        .ok_or_else(not_found)?;
    let fixed = viewer.fixed_filter()?;
    if fixed.clauses.is_empty() {
        return Ok(event);
    }
    // Is the event in the fixed view? Ask for the view at exactly its time.
    let mut at_its_time = fixed;
    for condition in [
        evident_core::Condition::From(evident_core::TimeBound::Instant(event.occurred_at)),
        evident_core::Condition::To(evident_core::TimeBound::Instant(event.occurred_at)),
    ] {
        at_its_time.clauses.push(evident_core::Clause {
            negated: false,
            condition,
        });
    }
    // One page, no total: only membership is asked.
    let query = evident_store::EventQuery {
        scope: TenantScope::single(event.tenant.clone()),
        filter: at_its_time,
        sort: evident_store::SortOrder::Desc,
        start: evident_store::PageStart::First,
        limit: 1000,
        now: Timestamp::now(),
    };
    let store = state.store.clone();
    let page = blocking(move || store.query(&query)).await?;
    if page.events.iter().any(|found| found.id == event.id) {
        Ok(event)
    } else {
        Err(not_found())
    }
}

async fn event_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let event = visible_event(&state, &viewer, &tenant, &id).await?;
    let settings = settings_of(&state, viewer.settings_tenant(&tenant.id)).await?;
    Ok(html(
        StatusCode::OK,
        &settings.frame_ancestors,
        page::event(&viewer, &tenant, &event),
    ))
}

/// The event as the API answers it, for a row that opens.
async fn event_json(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let event = visible_event(&state, &viewer, &tenant, &id).await?;
    Ok(json(event))
}

/// A JSON answer with the page's security headers.
fn json(body: impl serde::Serialize) -> Response {
    let mut response = axum::Json(body).into_response();
    security_headers(response.headers_mut());
    response
}

/// The event as hashed, its proof and the latest checkpoint, for the page's in-browser check.
async fn proof(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let event = visible_event(&state, &viewer, &tenant, &id).await?;
    let proof = event_with_proof(&state, &event).await?;
    let mut body = serde_json::to_value(proof).map_err(Problem::internal)?;
    if let Some(object) = body.as_object_mut() {
        object.insert(
            "verifier_key".to_owned(),
            state.checkpointer.verifier_key().into(),
        );
    }
    Ok(json(body))
}

/// The tenant's latest signed checkpoint, as text.
async fn checkpoint(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(tenant): Path<String>,
) -> Result<Response, UiError> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let (checkpointer, store) = (state.checkpointer.clone(), state.store.clone());
    let note = blocking(move || checkpointer.latest(store.as_ref(), &tenant.id)).await?;
    let mut response = (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "{}\nVerifier key: {}\n",
            note.note,
            state.checkpointer.verifier_key()
        ),
    )
        .into_response();
    security_headers(response.headers_mut());
    Ok(response)
}

/// Downloads the page's view: CSV for every reader, NDJSON and bundles with the export scope.
async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, UiError> {
    let tenant = viewer.tenant(&state, &tenant).await?;
    let view = PageView::parse(query.as_deref().unwrap_or(""));
    let format = Format::parse(view.format.as_deref())?;
    if format != Format::Csv && !viewer.may_export() {
        return Err(Problem::forbidden(
            "NDJSON and bundle downloads need a key with the export scope",
        )
        .into());
    }
    let mut filter = viewer.fixed_filter()?;
    filter.clauses.extend(view.filter()?.clauses);
    let descendants = view.include_descendants && viewer.may_include_descendants();
    let scope = scope(&state, &tenant.id, descendants).await?;
    let layout = csv_layout(&view.export_params())?;
    let mut response =
        stream_export(&state, &tenant, format, layout, filter, view.sort, scope).await?;
    security_headers(response.headers_mut());
    Ok(response)
}
