//! `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 document, written by hand beside the
//! handlers (`openapi.json`) and checked against the running server by schemathesis
//! (`crates/cairn/tests/api_schemathesis.rs`). It needs no token: it describes, it holds no data.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

pub(crate) async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_json_and_names_every_route() {
        let document: serde_json::Value =
            serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        let paths = document["paths"].as_object().expect("paths");
        for route in [
            "/databases",
            "/databases/{db}",
            "/databases/{db}/stats",
            "/databases/{db}/entry",
            "/databases/{db}/entries",
            "/databases/{db}/count",
            "/databases/{db}/children",
            "/databases/{db}/atomic",
            "/databases/{db}/watch",
            "/databases/{db}/queue",
            "/openapi.json",
        ] {
            assert!(
                paths.contains_key(route),
                "{route} missing from openapi.json"
            );
        }
        assert_eq!(paths.len(), 11, "a route in openapi.json the router lacks");
    }
}
