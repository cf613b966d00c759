//! RFC 9457 problem details: the one place where errors become HTTP answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use evident_core::Violation;
use evident_core::query::QueryError;
use evident_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer (`application/problem+json`); boxed, since it travels in
/// every handler's `Err` and should stay small there.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemDetails>);

/// The body of a problem answer (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDetails {
    /// A URN naming the kind of problem, e.g. `urn:evident:problem:validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For validation problems: each broken rule with its event index and field path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Violation>,
    /// For query-language errors: the character position of the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// For query-language errors: what the parser expected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        kind: &str,
        title: &str,
        detail: impl Into<Option<String>>,
    ) -> Problem {
        Problem(Box::new(ProblemDetails {
            kind: format!("urn:evident:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            position: None,
            expected: None,
        }))
    }

    /// 422: the events (or the request's fields) break these rules.
    pub fn validation(errors: Vec<Violation>) -> Problem {
        let count = errors.len();
        let mut problem = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "The request breaks validation rules",
            format!("{count} problem(s); see errors. Nothing was stored."),
        );
        problem.errors = errors;
        problem
    }

    /// 422 for one field of a non-event request body.
    pub fn invalid_field(field: &str, rule: &str, detail: impl Into<String>) -> Problem {
        Problem::validation(vec![Violation {
            index: None,
            field: field.to_owned(),
            rule: rule.to_owned(),
            detail: detail.into(),
        }])
    }

    /// 400 for a bad query parameter.
    pub fn bad_parameter(parameter: &str, detail: impl Into<String>) -> Problem {
        let detail = detail.into();
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-parameter",
            "A query parameter is invalid",
            detail.clone(),
        );
        problem.errors = vec![Violation {
            index: None,
            field: parameter.to_owned(),
            rule: "format".to_owned(),
            detail,
        }];
        problem
    }

    /// 400 for a query-language string that does not parse.
    pub fn query(parameter: &str, error: &QueryError) -> Problem {
        let mut problem = Problem::bad_parameter(parameter, error.to_string());
        problem.kind = "urn:evident:problem:query-syntax".to_owned();
        problem.title = "The query does not parse".to_owned();
        problem.position = Some(error.position);
        problem.expected = Some(error.expected.clone());
        problem
    }

    pub fn malformed_json(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "The body is not valid JSON",
            detail.into(),
        )
    }

    pub fn too_large(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The request is too large",
            detail.into(),
        )
    }

    pub fn unsupported_media_type(found: Option<&str>) -> Problem {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "The body must be application/json",
            format!(
                "Content-Type was {}",
                found.map_or("missing".to_owned(), |found| format!("{found:?}"))
            ),
        )
    }

    pub fn unauthorized(detail: &str) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid API key is required",
            detail.to_owned(),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "The key may not do this",
            detail.into(),
        )
    }

    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", what.into())
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", "Conflict", detail.into())
    }

    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The server is shutting down or overloaded",
            detail.into(),
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> Problem {
        tracing::error!(%error, "internal error");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "The error was logged.".to_owned(),
        )
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Problem {
        match error {
            StoreError::TenantExists(id) => {
                Problem::conflict(format!("tenant {id:?} already exists"))
            }
            StoreError::TenantNotFound(id) => {
                Problem::not_found(format!("tenant {id:?} does not exist"))
            }
            StoreError::KeyNotFound(id) => Problem::not_found(format!("key {id:?} does not exist")),
            StoreError::ViewerLinkNotFound(id) => {
                Problem::not_found(format!("viewer link {id:?} does not exist"))
            }
            StoreError::OutOfRange(detail) => Problem::new(
                StatusCode::BAD_REQUEST,
                "out-of-range",
                "The log does not have these sizes or this index",
                detail,
            ),
            StoreError::InvalidCursor => {
                Problem::bad_parameter("cursor", "the cursor is not one this server issued")
            }
            other => Problem::internal(other),
        }
    }
}

impl From<crate::catalogs::CatalogLoadError> for Problem {
    fn from(error: crate::catalogs::CatalogLoadError) -> Problem {
        use crate::catalogs::CatalogLoadError;
        match error {
            CatalogLoadError::Store(error) => Problem::from(error),
            CatalogLoadError::Invalid { error, .. } | CatalogLoadError::Tenant { error, .. } => {
                let mut problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-catalog",
                    "The catalog is invalid; the catalogs in force are unchanged",
                    error.problems.join("; "),
                );
                problem.errors = error
                    .problems
                    .iter()
                    .map(|detail| Violation {
                        index: None,
                        field: "catalog".to_owned(),
                        rule: "catalog".to_owned(),
                        detail: detail.clone(),
                    })
                    .collect();
                problem
            }
            read @ CatalogLoadError::Read { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-catalog",
                "The catalog file cannot be read; the catalogs in force are unchanged",
                read.to_string(),
            ),
        }
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&*self.0)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
