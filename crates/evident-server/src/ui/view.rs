//! The page's view, as its URL holds it: filters, sort, page and page size.
//! A link reproduces the view; Back and Forward move between views.

use evident_core::Filter;
use evident_store::SortOrder;

use crate::problem::Problem;
use crate::routes::events::{ViewParams, filter_from_params};
use crate::routes::export::ExportParams;

/// Page sizes the page offers; the first is the default.
pub const PAGE_SIZES: [u32; 3] = [25, 50, 100];

/// The filter fields a view's URL may hold besides `action`, in the order links write them.
pub const FIELDS: [&str; 11] = [
    "category", "actor", "target", "ip", "channel", "outcome", "from", "to", "q", "query", "tz",
];

/// A view of the page, parsed leniently from its query string: unknown
/// parameters and empty fields are ignored, page numbers out of range fall
/// back to the first page.
#[derive(Debug, Clone)]
pub struct PageView {
    /// Exact actions or globs (a multi-select sends one parameter per choice).
    pub actions: Vec<String>,
    /// The other filter fields, by name (see [`FIELDS`]).
    pub fields: Vec<(&'static str, String)>,
    pub include_descendants: bool,
    pub sort: SortOrder,
    pub page: u64,
    pub per_page: u32,
    /// The sub-account chooser's pick.
    pub account: Option<String>,
    /// A download's format.
    pub format: Option<String>,
}

impl PageView {
    pub fn parse(query: &str) -> PageView {
        let mut view = PageView {
            actions: Vec::new(),
            fields: Vec::new(),
            include_descendants: false,
            sort: SortOrder::Desc,
            page: 1,
            per_page: PAGE_SIZES[0],
            account: None,
            format: None,
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match &*name {
                "action" => view.actions.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|action| !action.is_empty())
                        .map(str::to_owned),
                ),
                "include" => view.include_descendants = value == "descendants",
                "sort" => {
                    view.sort = if value == "asc" {
                        SortOrder::Asc
                    } else {
                        SortOrder::Desc
                    }
                }
                "page" => view.page = value.parse().ok().filter(|page| *page >= 1).unwrap_or(1),
                "per_page" => {
                    view.per_page = value
                        .parse()
                        .ok()
                        .filter(|size| PAGE_SIZES.contains(size))
                        .unwrap_or(PAGE_SIZES[0])
                }
                "account" => view.account = Some(value.to_owned()),
                "format" => view.format = Some(value.to_owned()),
                other => {
                    if let Some(field) = FIELDS.iter().find(|field| **field == other) {
                        view.fields.retain(|(name, _)| name != field);
                        view.fields.push((field, value.to_owned()));
                    }
                }
            }
        }
        view
    }

    /// The value of a filter field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether any filter is set (the fixed filter of a viewer link aside).
    pub fn is_filtered(&self) -> bool {
        !self.actions.is_empty() || self.fields.iter().any(|(name, _)| *name != "tz")
    }

    /// The filter the view's fields describe, parsed as the events API parses its parameters.
    pub fn filter(&self) -> Result<Filter, Problem> {
        let field = |name: &str| self.field(name).map(str::to_owned);
        let params = ViewParams {
            action: (!self.actions.is_empty()).then(|| self.actions.join(",")),
            category: field("category"),
            actor: field("actor"),
            target: field("target"),
            channel: field("channel"),
            outcome: field("outcome"),
            ip: field("ip"),
            from: field("from"),
            to: field("to"),
            q: field("q"),
            query: field("query"),
            sort: None,
            include: None,
        };
        filter_from_params(&params)
    }

    /// A download's CSV settings: the viewer's time zone when the page sent it.
    pub fn export_params(&self) -> ExportParams {
        ExportParams {
            format: self.format.clone(),
            columns: None,
            tz: self.field("tz").map(str::to_owned),
            raw: None,
        }
    }

    /// `?…` for this view with some parameters changed (`None` removes one);
    /// empty when nothing is left.
    pub fn query_string(&self, changes: &[(&str, Option<String>)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for action in &self.actions {
            pairs.push(("action", action.clone()));
        }
        for (name, value) in &self.fields {
            pairs.push((name, value.clone()));
        }
        if self.include_descendants {
            pairs.push(("include", "descendants".to_owned()));
        }
        if self.sort == SortOrder::Asc {
            pairs.push(("sort", "asc".to_owned()));
        }
        if self.per_page != PAGE_SIZES[0] {
            pairs.push(("per_page", self.per_page.to_string()));
        }
        if self.page != 1 {
            pairs.push(("page", self.page.to_string()));
        }
        for (name, value) in changes {
            pairs.retain(|(existing, _)| existing != name);
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        if pairs.is_empty() {
            return String::new();
        }
        let mut serializer = form_urlencoded::Serializer::new(String::from("?"));
        for (name, value) in &pairs {
            serializer.append_pair(name, value);
        }
        serializer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_reads_back_from_its_own_links() {
        let view = PageView::parse(
            "action=user.login&action=license.*&actor=ada%40*&q=&sort=asc&per_page=50&page=3&include=descendants&bogus=1",
        );
        assert_eq!(view.actions, ["user.login", "license.*"]);
        assert_eq!(view.field("actor"), Some("ada@*"));
        assert_eq!(view.field("q"), None);
        assert_eq!(
            (view.sort, view.page, view.per_page),
            (SortOrder::Asc, 3, 50)
        );
        let again = PageView::parse(&view.query_string(&[])[1..]);
        assert_eq!(again.query_string(&[]), view.query_string(&[]));
        let next = view.query_string(&[("page", Some("4".into())), ("sort", None)]);
        let next = PageView::parse(&next[1..]);
        assert_eq!((next.page, next.sort), (4, SortOrder::Desc));
        assert_eq!(PageView::parse("").query_string(&[]), "");
    }

    #[test]
    fn out_of_range_paging_falls_back() {
        let view = PageView::parse("page=0&per_page=1000");
        assert_eq!((view.page, view.per_page), (1, 25));
        assert_eq!(PageView::parse("page=x").page, 1);
    }

    #[test]
    fn the_filter_is_the_apis() {
        let view = PageView::parse("action=user.login,user.logout&outcome=failure&q=reset");
        assert_eq!(
            view.filter().unwrap().to_string(),
            "action:user.login,user.logout outcome:failure reset"
        );
        let broken = PageView::parse("query=action%3A");
        assert!(broken.filter().is_err());
    }
}
