//! Request bodies: content type, size limit and JSON parsing, each failure
//! answered with its own problem (415, 413, 400, 422).

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::AppState;
use crate::problem::Problem;

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads a JSON body of at most `limit` bytes.
pub async fn read_json(request: Request, limit: usize) -> Result<Value, Problem> {
    parse_json(&read_json_bytes(request, limit).await?)
}

/// Reads a JSON body of at most `limit` bytes, unparsed.
pub async fn read_json_bytes(request: Request, limit: usize) -> Result<axum::body::Bytes, Problem> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not text)"));
    if !content_type.is_some_and(is_json) {
        return Err(Problem::unsupported_media_type(content_type));
    }
    read_bytes(request, limit).await
}

/// Parses a JSON body read by [`read_json_bytes`].
pub fn parse_json(bytes: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(bytes).map_err(|error| Problem::malformed_json(error.to_string()))
}

/// Reads a UTF-8 text body of at most `limit` bytes.
pub async fn read_text(request: Request, limit: usize) -> Result<String, Problem> {
    let bytes = read_bytes(request, limit).await?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Problem::malformed_json("the body is not UTF-8 text"))
}

/// A body declared up to this size beyond the limit is still read (and
/// dropped) before the 413: a server that closes a connection with unread
/// data makes the kernel reset it, and the client may lose the answer.
const DRAIN_BYTES: u64 = 16 << 20;

/// Reads and drops a refused body, up to [`DRAIN_BYTES`].
async fn drain(mut body: Body) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |data| data.len() as u64);
        if read > DRAIN_BYTES {
            break;
        }
    }
}

/// Reads a body of at most `limit` bytes (413 beyond).
async fn read_bytes(request: Request, limit: usize) -> Result<axum::body::Bytes, Problem> {
    let too_large = || Problem::too_large(format!("the body may hold at most {limit} bytes"));
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if let Some(length) = declared.filter(|length| *length > limit as u64) {
        if length <= DRAIN_BYTES {
            drain(request.into_body()).await;
        }
        return Err(too_large());
    }
    let body: Body = request.into_body();
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| {
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                too_large()
            } else {
                Problem::malformed_json(format!("the body could not be read: {error}"))
            }
        })?
        .to_bytes();
    Ok(bytes)
}

/// A JSON body deserialised into `T`; fields that do not fit are a 422.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<JsonBody<T>, Problem> {
        let value = read_json(request, state.limits.max_body_bytes).await?;
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|error| Problem::invalid_field("", "schema", error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::is_json;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
