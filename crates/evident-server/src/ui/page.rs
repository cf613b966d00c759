//! The page's HTML. maud escapes every interpolated value, so event fields
//! always reach the browser as text; nothing here writes an inline script,
//! style or event handler (the Content-Security-Policy would refuse them).

use std::collections::BTreeMap;

use evident_core::catalog::Catalog;
use evident_core::export::user_label;
use evident_core::{ActorType, Event};
use evident_store::{SortOrder, Tenant};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;
use super::view::{PAGE_SIZES, PageView};
use crate::problem::Problem;
use crate::routes::events::EventList;

/// A path segment with anything outside the unreserved set percent-encoded.
pub fn path_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn tenant_path(tenant: &str) -> String {
    format!("/ui/t/{}", path_segment(tenant))
}

fn layout(title: &str, tenant: Option<&Tenant>, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) }
                link rel="stylesheet" href={ "/ui/assets/evident.css?v=" (super::asset_version()) };
                @if let Some(tenant) = tenant {
                    link rel="stylesheet" href={ (tenant_path(&tenant.id)) "/theme.css" };
                }
                script src={ "/ui/assets/evident.js?v=" (super::asset_version()) } defer {}
            }
            body {
                header.bar {
                    span.brand {
                        @if let Some(tenant) = tenant { (tenant.name) } @else { "Evident" }
                    }
                    span.product { "Audit log" }
                    @if let Some(viewer) = viewer {
                        span.who {
                            @if viewer.link.is_some() {
                                "Shared view · read-only"
                            } @else {
                                "Signed in with " (viewer.caller.key.name)
                            }
                        }
                        @if viewer.link.is_none() {
                            form.sign-out method="post" action="/ui/sign-out" {
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                div #loading .loading hidden role="status" aria-live="polite" { "Loading…" }
                main #main { (body) }
            }
        }
    }
}

pub fn message(title: &str, detail: &str) -> Markup {
    layout(
        title,
        None,
        None,
        html! {
            section.message role="alert" {
                h1 { (title) }
                p { (detail) }
                p { a href="/ui/" { "Back to the audit log" } }
            }
        },
    )
}

pub fn sign_in(error: Option<&str>) -> Markup {
    layout(
        "Sign in · Audit log",
        None,
        None,
        html! {
            section.sign-in {
                h1 { "Sign in to the audit log" }
                p { "Use an API key with the read scope. The key is checked once and never kept in the page or its address." }
                @if let Some(error) = error {
                    p.error #sign-in-error role="alert" { (error) }
                }
                form method="post" action="/ui/sign-in" {
                    label for="key" { "API key" }
                    input #key type="password" name="key" required autocomplete="off" spellcheck="false"
                        aria-describedby=[error.map(|_| "sign-in-error")];
                    button type="submit" { "Sign in" }
                }
            }
        },
    )
}

pub fn tenant_list(viewer: &Viewer, tenants: &[Tenant]) -> Markup {
    layout(
        "Accounts · Audit log",
        None,
        Some(viewer),
        html! {
            h1 { "Accounts" }
            @if tenants.is_empty() {
                p.empty { "No accounts yet. Create one with " code { "evident tenants create" } "." }
            } @else {
                ul.accounts {
                    @for tenant in tenants {
                        li {
                            a href=(tenant_path(&tenant.id)) { (tenant.name) }
                            " " span.muted { (tenant.id) }
                            @if let Some(parent) = &tenant.parent { span.muted { " · sub-account of " (parent) } }
                        }
                    }
                }
            }
        },
    )
}

/// Everything the log page shows.
pub struct LogPage<'a> {
    pub viewer: &'a Viewer,
    pub tenant: &'a Tenant,
    /// The accounts the chooser offers.
    pub tenants: &'a [Tenant],
    pub catalog: &'a Catalog,
    pub view: &'a PageView,
    pub descendants: bool,
    pub list: Option<EventList>,
    /// The view's filter does not parse.
    pub error: Option<Problem>,
    /// The view's filters as one query-language string.
    pub printed: String,
}

/// The actor icons, drawn once per page and used by reference in each row.
fn icon_symbols() -> Markup {
    html! {
        svg.symbols xmlns="http://www.w3.org/2000/svg" aria-hidden="true" focusable="false" {
            @for actor_type in ActorType::ALL {
                symbol id={ "icon-" (actor_type.as_str()) } viewBox="0 0 16 16" { path d=(icon_path(actor_type)) {} }
            }
        }
    }
}

fn icon_path(actor_type: ActorType) -> &'static str {
    // Small drawings: no icon font, no external image.
    match actor_type {
        ActorType::User => "M8 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm-5 6c0-3 2.2-4.5 5-4.5s5 1.5 5 4.5z",
        ActorType::Service => {
            "M6.5 1h3l.4 2 1.6.9 1.9-.8 1.5 2.6-1.5 1.3v1.9l1.5 1.3-1.5 2.6-1.9-.8-1.6.9-.4 2h-3l-.4-2-1.6-.9-1.9.8L1.1 10.2l1.5-1.3V7L1.1 5.7l1.5-2.6 1.9.8 1.6-.9zM8 5.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z"
        }
        ActorType::System => "M1.5 2h13v9h-13zm1.5 1.5v6h10v-6zM5 13h6v1.5H5z",
    }
}

fn actor_icon(actor_type: ActorType) -> Markup {
    html! {
        svg.icon width="14" height="14" aria-hidden="true" focusable="false" {
            use href={ "#icon-" (actor_type.as_str()) } {}
        }
        span.visually-hidden { (actor_type.as_str()) ": " }
    }
}

fn time_cell(event: &Event) -> Markup {
    let utc = event
        .occurred_at
        .strftime("%Y-%m-%dT%H:%M:%S%.fZ")
        .to_string();
    let shown = event
        .occurred_at
        .strftime("%Y-%m-%d %H:%M:%S UTC")
        .to_string();
    html! { time datetime=(utc) title=(utc) { (shown) } }
}

/// The event types of the catalog by category, for the multi-select.
fn event_types_by_category(catalog: &Catalog) -> BTreeMap<&str, Vec<(&str, &str)>> {
    let mut groups: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for event_type in catalog.event_types() {
        groups
            .entry(event_type.spec.category.as_str())
            .or_default()
            .push((
                event_type.spec.action.as_str(),
                event_type.spec.description.as_str(),
            ));
    }
    groups
}

fn text_field(view: &PageView, name: &str, label: &str, placeholder: &str, kind: &str) -> Markup {
    let id = format!("f-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) type=(kind) name=(name) value=[view.field(name)] placeholder=(placeholder);
        }
    }
}

fn select_field(
    view: &PageView,
    name: &str,
    label: &str,
    any: &str,
    options: &[(String, String)],
) -> Markup {
    let id = format!("f-{name}");
    let current = view.field(name);
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                option value="" { (any) }
                @for (value, text) in options {
                    option value=(value) selected[current == Some(value.as_str())] { (text) }
                }
                @if let Some(current) = current.filter(|current| !options.iter().any(|(value, _)| value == current)) {
                    option value=(current) selected { (current) }
                }
            }
        }
    }
}

fn filters(page: &LogPage) -> Markup {
    let view = page.view;
    let path = tenant_path(&page.tenant.id);
    let groups = event_types_by_category(page.catalog);
    let total_types: usize = groups.values().map(Vec::len).sum();
    let chosen = view.actions.len();
    // The catalog's categories and those its event types name, once each, sorted.
    let categories: Vec<(String, String)> = page
        .catalog
        .categories
        .keys()
        .map(String::as_str)
        .chain(groups.keys().copied())
        .collect::<std::collections::BTreeSet<&str>>()
        .into_iter()
        .map(|category| (category.to_owned(), category.to_owned()))
        .collect();
    let channels: Vec<(String, String)> = page
        .catalog
        .channels
        .iter()
        .map(|(channel, description)| {
            (
                channel.clone(),
                if description.is_empty() {
                    channel.clone()
                } else {
                    format!("{channel} — {description}")
                },
            )
        })
        .collect();
    let outcomes = [
        ("success".to_owned(), "Success".to_owned()),
        ("failure".to_owned(), "Failure".to_owned()),
    ];
    html! {
        details.filter-panel open {
        summary { "Filters" @if view.is_filtered() { " (" (view.actions.len() + view.fields.iter().filter(|(name, _)| *name != "tz").count()) " set)" } }
        form.filters #filters method="get" action=(path) role="search" aria-label="Filter events" {
            @if page.tenants.len() > 1 {
                div.field.account {
                    label for="f-account" { "Account" }
                    select #f-account name="account" {
                        @for tenant in page.tenants {
                            option value=(tenant.id) selected[tenant.id == page.tenant.id] {
                                (tenant.name) " (" (tenant.id) ")"
                            }
                        }
                    }
                }
            }
            @if page.viewer.may_include_descendants() && page.tenants.iter().any(|tenant| tenant.parent.as_deref() == Some(page.tenant.id.as_str())) {
                div.field.check {
                    input #f-include type="checkbox" name="include" value="descendants" checked[page.descendants];
                    label for="f-include" { "Include sub-accounts" }
                }
            }
            div.field.types {
                label for="f-action" { "Event types" }
                @if total_types == 0 {
                    input #f-action type="text" name="action" value=(view.actions.join(",")) placeholder="e.g. user.* or license.revoked";
                } @else {
                    select #f-action name="action" multiple size="6" aria-describedby="types-count" {
                        @for (category, types) in &groups {
                            optgroup label=(category) {
                                @for (action, description) in types {
                                    option value=(action) selected[view.actions.iter().any(|chosen| chosen == action)] {
                                        (description) " — " (action)
                                    }
                                }
                            }
                        }
                    }
                    p #types-count .hint data-total=(total_types) { (chosen) "/" (total_types) " filters used" }
                }
            }
            (select_field(view, "category", "Area", "All areas", &categories))
            (text_field(view, "actor", "User", "Search email… (ada@example.com or ada@*)", "search"))
            (text_field(view, "target", "Target", "type:id, e.g. license:lic_93jd", "search"))
            (text_field(view, "ip", "IP address", "203.0.113.7 or 203.0.113.0/24", "search"))
            @if channels.is_empty() {
                (text_field(view, "channel", "Channel", "portal, api…", "search"))
            } @else {
                (select_field(view, "channel", "Channel", "All channels", &channels))
            }
            (select_field(view, "outcome", "Outcome", "Any outcome", &outcomes))
            (text_field(view, "from", "From", "", "date"))
            (text_field(view, "to", "To", "", "date"))
            (text_field(view, "q", "Free text", "Words, \"a phrase\", -exclude", "search"))
            @if view.sort == SortOrder::Asc { input type="hidden" name="sort" value="asc"; }
            @if view.per_page != PAGE_SIZES[0] { input type="hidden" name="per_page" value=(view.per_page); }
            div.actions {
                button type="submit" { "Apply filters" }
                a.button.secondary href=(path) { "Clear filters" }
            }
        }
        }
    }
}

fn advanced(page: &LogPage) -> Markup {
    let view = page.view;
    let error = page.error.as_ref();
    let entered = view.field("query").unwrap_or_default();
    html! {
        details.advanced open[error.is_some() || view.field("query").is_some()] {
            summary { "Query" }
            form method="get" action=(tenant_path(&page.tenant.id)) {
                label for="f-query" { "The current filters as a query; edit and run it (it replaces the fields above)" }
                textarea #f-query name="query" rows="2" spellcheck="false"
                    aria-describedby=[error.map(|_| "query-error")] {
                    @if error.is_some() { (entered) } @else { (page.printed) }
                }
                @if page.descendants { input type="hidden" name="include" value="descendants"; }
                @if view.sort == SortOrder::Asc { input type="hidden" name="sort" value="asc"; }
                @if view.per_page != PAGE_SIZES[0] { input type="hidden" name="per_page" value=(view.per_page); }
                button type="submit" { "Run query" }
                p.hint { "For example " code { "action:user.* actor:ada@* from:7d -outcome:success" } "." }
            }
            @if let Some(problem) = error {
                div #query-error .error role="alert" {
                    p { (problem.detail.as_deref().unwrap_or(&problem.title)) }
                    @if let Some(position) = problem.position {
                        @let text = error_text(view, problem);
                        pre.caret { (text) "\n" (" ".repeat(position)) "^" }
                    }
                }
            }
        }
    }
}

/// The text a query error's position counts into: the parameter it names.
fn error_text(view: &PageView, problem: &Problem) -> String {
    let parameter = problem
        .errors
        .first()
        .map_or("query", |violation| violation.field.as_str());
    view.field(parameter).unwrap_or_default().to_owned()
}

fn paging(page: &LogPage, list: &EventList, place: &str) -> Markup {
    let view = page.view;
    let path = tenant_path(&page.tenant.id);
    let pages = list.pages.unwrap_or(0).max(1);
    let current = list.page.unwrap_or(1);
    let link = |number: u64| {
        format!(
            "{path}{}",
            view.query_string(&[("page", (number != 1).then(|| number.to_string()))])
        )
    };
    html! {
        nav.paging aria-label={ "Pages (" (place) ")" } {
            @if current > 1 {
                a.button.secondary rel="prev" href=(link((current - 1).min(pages))) { "Previous" }
            } @else {
                span.button.secondary.disabled aria-disabled="true" { "Previous" }
            }
            span.summary aria-live="polite" {
                "Page " (current) " of " (pages) " (" (list.total.unwrap_or(0)) " total)"
            }
            @if current < pages {
                a.button.secondary rel="next" href=(link(current + 1)) { "Next" }
            } @else {
                span.button.secondary.disabled aria-disabled="true" { "Next" }
            }
        }
    }
}

fn toolbar(page: &LogPage) -> Markup {
    let view = page.view;
    let path = tenant_path(&page.tenant.id);
    let download = |format: &str| {
        format!(
            "{path}/export{}",
            view.query_string(&[
                ("page", None),
                ("per_page", None),
                ("format", Some(format.to_owned()))
            ])
        )
    };
    html! {
        div.toolbar {
            div.sizes role="group" aria-label="Events per page" {
                "Per page: "
                @for size in PAGE_SIZES {
                    @if size == view.per_page {
                        span.current aria-current="true" { (size) }
                    } @else {
                        a href={ (path) (view.query_string(&[("per_page", (size != PAGE_SIZES[0]).then(|| size.to_string())), ("page", None)])) } { (size) }
                    }
                    " "
                }
            }
            div.order {
                @let flip = if view.sort == SortOrder::Desc { Some("asc".to_owned()) } else { None };
                "Order: "
                @if view.sort == SortOrder::Desc { "newest first · " } @else { "oldest first · " }
                a.sort-toggle href={ (path) (view.query_string(&[("sort", flip), ("page", None)])) } {
                    @if view.sort == SortOrder::Desc { "show oldest first" } @else { "show newest first" }
                }
            }
            div.downloads {
                "Download: "
                a.download href=(download("csv")) download { "CSV" }
                @if page.viewer.may_export() {
                    " · " a.download href=(download("ndjson")) download { "NDJSON" }
                    @if !page.descendants {
                        " · " a.download href=(download("bundle")) download { "Bundle with proofs" }
                    }
                }
            }
        }
    }
}

fn table(page: &LogPage, list: &EventList) -> Markup {
    let view = page.view;
    let path = tenant_path(&page.tenant.id);
    let flip = match view.sort {
        SortOrder::Desc => Some("asc".to_owned()),
        SortOrder::Asc => None,
    };
    let (sort_label, aria_sort) = match view.sort {
        SortOrder::Desc => ("Newest first", "descending"),
        SortOrder::Asc => ("Oldest first", "ascending"),
    };
    html! {
        div.table-wrap {
        table.events {
            caption.visually-hidden { "Audit events, " (sort_label) "; press Enter on a row to see its full JSON" }
            thead {
                tr {
                    th scope="col" aria-sort=(aria_sort) {
                        a.sort href={ (path) (view.query_string(&[("sort", flip), ("page", None)])) } title="Flip the sort" {
                            "Time " span aria-hidden="true" { @if view.sort == SortOrder::Desc { "↓" } @else { "↑" } }
                        }
                    }
                    th scope="col" { "Event" }
                    th scope="col" { "Area" }
                    th scope="col" { "User" }
                    th scope="col" { "Targets" }
                    @if page.descendants {
                        th scope="col" { "Company name" }
                        th scope="col" { "Account ID" }
                    }
                    th scope="col" { "IP address" }
                    th scope="col" { "Channel" }
                    th scope="col" { "Outcome" }
                }
            }
            tbody {
                @for event in &list.events {
                    @let detail_id = format!("d-{}", event.id);
                    // The script builds the row's detail (JSON, proof) when it first opens.
                    tr.event tabindex="0" aria-expanded="false" aria-controls=(detail_id) data-id=(event.id)
                        data-event={ (tenant_path(&event.tenant)) "/events/" (event.id) } {
                        td.time data-label="Time" { (time_cell(event)) }
                        td.what data-label="Event" {
                            @if let Some(display) = &event.display { span.display { (display) } br; }
                            @else if let Some(description) = &event.description { span.display { (description) } br; }
                            a.action href={ (tenant_path(&event.tenant)) "/events/" (event.id) } title="This event on its own page" { code { (event.action) } }
                        }
                        td data-label="Area" { (event.category) }
                        td.actor data-label="User" { (actor_icon(event.actor.actor_type)) (user_label(event)) }
                        td.targets data-label="Targets" {
                            @for target in &event.targets {
                                @let label = target.name.clone().or_else(|| target.email.clone()).unwrap_or_else(|| format!("{}:{}", target.target_type, target.id));
                                a.label href={ (tenant_path(&page.tenant.id)) "?target=" (path_segment(&format!("{}:{}", target.target_type, target.id))) (if page.descendants { "&include=descendants" } else { "" }) }
                                    title={ (target.target_type) ":" (target.id) " — its own log" } { (label) }
                                " "
                            }
                        }
                        @if page.descendants {
                            td data-label="Company name" { (event.tenant_name.as_deref().unwrap_or(&page.tenant.name)) }
                            td.account data-label="Account ID" { code { (event.tenant) } }
                        }
                        td.ip data-label="IP address" { @if let Some(ip) = event.context.ip { (ip) } }
                        td data-label="Channel" { @if let Some(channel) = &event.channel { (channel) } }
                        td data-label="Outcome" { span class={ "outcome " (event.outcome.as_str()) } { (event.outcome.as_str()) } }
                    }
                }
            }
        }
        }
    }
}

pub fn log(page: &LogPage) -> Markup {
    let title = page
        .viewer
        .link
        .as_ref()
        .and_then(|link| link.title.clone())
        .unwrap_or_else(|| "Audit log".to_owned());
    let body = html! {
        div.heading {
            h1 { (title) }
            p.muted { (page.tenant.name) " · " code { (page.tenant.id) } }
        }
        @if let Some(fixed) = page.viewer.link.as_ref().and_then(|link| link.query.as_deref()) {
            p.fixed { "This view always shows only " code { (fixed) } "." }
        }
        (icon_symbols())
        (filters(page))
        (advanced(page))
        @if let Some(list) = &page.list {
            (toolbar(page))
            (paging(page, list, "top"))
            @if list.events.is_empty() {
                div.empty role="status" {
                    p { @if page.view.is_filtered() { "No events match these filters." } @else { "No events yet." } }
                    @if page.view.is_filtered() { p { a href=(tenant_path(&page.tenant.id)) { "Clear filters" } } }
                }
            } @else {
                (table(page, list))
                (paging(page, list, "bottom"))
            }
        }
    };
    layout(
        &format!("{title} · {}", page.tenant.name),
        Some(page.tenant),
        Some(page.viewer),
        body,
    )
}

pub fn event(viewer: &Viewer, tenant: &Tenant, event: &Event) -> Markup {
    let json = serde_json::to_string_pretty(event).unwrap_or_default();
    layout(
        &format!("{} · {}", event.action, tenant.name),
        Some(tenant),
        Some(viewer),
        html! {
            p { a href=(tenant_path(&tenant.id)) { "← Back to the audit log" } }
            h1 { (event.display.as_deref().unwrap_or(&event.action)) }
            p.muted { (time_cell(event)) " · " code { (event.action) } " · seq " (event.seq) }
            div.detail-actions {
                button.copy type="button" { "Copy JSON" }
                output.proof data-proof={ (tenant_path(&event.tenant)) "/events/" (event.id) "/proof" }
                    data-checkpoint={ (tenant_path(&event.tenant)) "/checkpoint" } {}
            }
            pre.json.standalone { (json) }
        },
    )
}
