//! The RPC conventions (v1.44) for gRPC calls: `rpc.system.name`, the fully qualified
//! `rpc.method`, and `rpc.response.status_code` as the status's name.
//!
//! v1.44 replaced `rpc.system` by `rpc.system.name`, folded `rpc.service` into a fully
//! qualified `rpc.method` and `rpc.grpc.status_code` (a number) into
//! `rpc.response.status_code` (the code's name): the spec wins over older instrumentations,
//! so the older keys are not written.

/// `rpc.system.name`.
pub(crate) const RPC_SYSTEM_NAME: &str = "rpc.system.name";
/// `rpc.method`: `package.Service/Method`.
pub(crate) const RPC_METHOD: &str = "rpc.method";
/// `rpc.response.status_code`: `OK`, `NOT_FOUND`, ….
pub(crate) const RPC_RESPONSE_STATUS_CODE: &str = "rpc.response.status_code";

/// Whether a request is a gRPC call, by its `content-type`.
pub(crate) fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/grpc"))
}

/// `rpc.method` from the request path `/package.Service/Method`; the path itself when it is
/// not of that form.
pub(crate) fn method(path: &str) -> String {
    path.strip_prefix('/').unwrap_or(path).to_owned()
}

/// The `grpc-status` a response or its trailers carry.
pub(crate) fn status_of(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The name gRPC gives a status code; the number for one it does not define.
pub(crate) fn status_name(code: i32) -> String {
    let name = match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        other => return other.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_recognised_by_their_content_type() {
        let mut headers = http::HeaderMap::new();
        assert!(!is_grpc(&headers));
        headers.insert("content-type", "application/grpc+proto".parse().unwrap());
        assert!(is_grpc(&headers));
        headers.insert("content-type", "application/json".parse().unwrap());
        assert!(!is_grpc(&headers));
    }

    #[test]
    fn statuses_are_named_as_grpc_names_them() {
        assert_eq!(status_name(0), "OK");
        assert_eq!(status_name(4), "DEADLINE_EXCEEDED");
        assert_eq!(status_name(12), "UNIMPLEMENTED");
        assert_eq!(status_name(16), "UNAUTHENTICATED");
        assert_eq!(status_name(42), "42");
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-status", " 5".parse().unwrap());
        assert_eq!(status_of(&headers), Some(5));
        headers.insert("grpc-status", "five".parse().unwrap());
        assert_eq!(status_of(&headers), None);
        assert_eq!(method("/orders.v1.Orders/Place"), "orders.v1.Orders/Place");
    }
}
