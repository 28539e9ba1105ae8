//! What the local fronts share (`HttpApiFront`, `AzureHttpFront`): the requests they
//! received, for tests to assert the headers a callee got, and the answer's headers.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::Response;

/// What a front received: the request line and headers, names in lower case.
#[derive(Debug, Clone)]
pub struct FrontRequest {
    /// `GET /orders/42`.
    pub line: String,
    /// The headers; a header sent more than once has its values joined with `,`.
    pub headers: BTreeMap<String, String>,
}

/// The requests a front received, in order.
#[derive(Debug, Default)]
pub(crate) struct FrontLog(Mutex<Vec<FrontRequest>>);

impl FrontLog {
    /// Records a request; its headers, flattened.
    pub(crate) fn record(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> BTreeMap<String, String> {
        let mut flat: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            flat.entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push(',');
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(FrontRequest {
                line: format!("{method} {}", uri.path()),
                headers: flat.clone(),
            });
        flat
    }

    /// Every request received, in order.
    pub(crate) fn all(&self) -> Vec<FrontRequest> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Sets on `response` each header of `headers` that HTTP allows; the others are dropped.
pub(crate) fn set_headers<'a>(
    response: &mut Response,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
}
