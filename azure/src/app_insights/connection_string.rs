//! `APPLICATIONINSIGHTS_CONNECTION_STRING`, checked before the exporter reads it, so that a
//! bad value is a warning that says what is wrong without repeating the value (it holds
//! the instrumentation key).

/// The variable every Function App with monitoring on has.
///
/// ```
/// use otel_faas_azure::app_insights::CONNECTION_STRING_VARIABLE;
/// assert_eq!(CONNECTION_STRING_VARIABLE, "APPLICATIONINSIGHTS_CONNECTION_STRING");
/// ```
pub const CONNECTION_STRING_VARIABLE: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";

/// Why a connection string cannot be used; its message says what is wrong, never the
/// value.
///
/// ```
/// use otel_faas_azure::app_insights::{checked_connection_string, ConnectionStringError};
///
/// let error = checked_connection_string("InstrumentationKey=k;Authorization=AAD").unwrap_err();
/// assert_eq!(error, ConnectionStringError::UnsupportedAuthorization("AAD".to_owned()));
/// assert!(error.to_string().contains("only instrumentation-key ingestion"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringError {
    /// A part is not `key=value`.
    #[error(
        "part {position} is not `Key=Value` (the string is `;`-separated pairs, as the resource's Overview page shows it)"
    )]
    NotAPair {
        /// Its position, from 1.
        position: usize,
    },
    /// No `InstrumentationKey=`.
    #[error(
        "it has no InstrumentationKey: copy the whole connection string from the Application Insights resource"
    )]
    MissingInstrumentationKey,
    /// `Authorization=` other than `ikey` (Microsoft Entra authentication, which the exporter
    /// does not do).
    #[error("Authorization={0} is not supported: only instrumentation-key ingestion (ikey) is")]
    UnsupportedAuthorization(String),
    /// `IngestionEndpoint=` is not an `https://` URL with a host.
    #[error("IngestionEndpoint is not an https:// URL with a host")]
    InvalidIngestionEndpoint,
}

/// The connection string, normalised for the exporter: surrounding blanks and empty parts
/// (a trailing `;`, which the portal's copy sometimes carries) removed.
///
/// ```
/// use otel_faas_azure::app_insights::{checked_connection_string, ConnectionStringError};
///
/// let ok = checked_connection_string(
///     " InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/; ",
/// ).unwrap();
/// assert!(!ok.ends_with(';'));
/// assert_eq!(
///     checked_connection_string("IngestionEndpoint=https://x.example"),
///     Err(ConnectionStringError::MissingInstrumentationKey),
/// );
/// ```
pub fn checked_connection_string(value: &str) -> Result<String, ConnectionStringError> {
    let mut parts = Vec::new();
    let mut key_found = false;
    for (index, part) in value.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, field)) = part.split_once('=') else {
            return Err(ConnectionStringError::NotAPair {
                position: index + 1,
            });
        };
        let (key, field) = (key.trim(), field.trim());
        // The exporter splits each part on every `=`; a value with one is not a pair.
        if key.is_empty() || field.contains('=') {
            return Err(ConnectionStringError::NotAPair {
                position: index + 1,
            });
        }
        if key.eq_ignore_ascii_case("InstrumentationKey") {
            key_found = !field.is_empty();
        } else if key.eq_ignore_ascii_case("Authorization") && !field.eq_ignore_ascii_case("ikey") {
            return Err(ConnectionStringError::UnsupportedAuthorization(
                field.to_owned(),
            ));
        } else if key.eq_ignore_ascii_case("IngestionEndpoint") && !is_https_url(field) {
            return Err(ConnectionStringError::InvalidIngestionEndpoint);
        }
        parts.push(format!("{key}={field}"));
    }
    if !key_found {
        return Err(ConnectionStringError::MissingInstrumentationKey);
    }
    Ok(parts.join(";"))
}

fn is_https_url(value: &str) -> bool {
    value.parse::<http::Uri>().is_ok_and(|uri| {
        uri.scheme_str() == Some("https") && uri.host().is_some_and(|h| !h.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portal_s_string_is_accepted_as_given_or_with_a_trailing_separator() {
        let portal = "InstrumentationKey=4bd6b2f5-0000-4c1d-9f1e-1c6d2b3a4e5f;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=0a1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(checked_connection_string(portal).as_deref(), Ok(portal));
        assert_eq!(
            checked_connection_string(&format!("  {portal};\n")).as_deref(),
            Ok(portal)
        );
        assert_eq!(
            checked_connection_string("instrumentationkey=k;authorization=IKEY").as_deref(),
            Ok("instrumentationkey=k;authorization=IKEY")
        );
    }

    #[test]
    fn each_defect_is_named_without_the_value() {
        assert_eq!(
            checked_connection_string("InstrumentationKey=k;IngestionEndpoint"),
            Err(ConnectionStringError::NotAPair { position: 2 })
        );
        assert_eq!(
            checked_connection_string("InstrumentationKey=k=j"),
            Err(ConnectionStringError::NotAPair { position: 1 })
        );
        assert_eq!(
            checked_connection_string("InstrumentationKey=;IngestionEndpoint=https://x"),
            Err(ConnectionStringError::MissingInstrumentationKey)
        );
        assert_eq!(
            checked_connection_string(""),
            Err(ConnectionStringError::MissingInstrumentationKey)
        );
        assert_eq!(
            checked_connection_string("InstrumentationKey=k;Authorization=AAD"),
            Err(ConnectionStringError::UnsupportedAuthorization(
                "AAD".to_owned()
            ))
        );
        for endpoint in [
            "http://in.example",
            "in.example",
            "https://",
            "ftp://in.example",
        ] {
            assert_eq!(
                checked_connection_string(&format!(
                    "InstrumentationKey=k;IngestionEndpoint={endpoint}"
                )),
                Err(ConnectionStringError::InvalidIngestionEndpoint),
                "{endpoint}"
            );
        }
        let message = ConnectionStringError::MissingInstrumentationKey.to_string();
        assert!(!message.contains("https://x"));
    }
}
