//! Every failure of a Management API call, classified once, here.
//!
//! Classification drives what callers do: [`ApimError::is_retryable`] errors are worth another attempt (with
//! backoff); the others need a change of configuration or of the definition first. Messages name the call
//! (method and URL path) but never the credentials, headers or query strings.

use std::error::Error as _;

/// Longest APIM-provided message kept in an error (APIM error bodies can be large).
const MAX_MESSAGE_CHARS: usize = 1000;

/// A failed Management API call.
#[derive(Debug, thiserror::Error)]
pub enum ApimError {
    /// Connect failure, timeout, dropped connection, 5xx, 408 or 429: try again later.
    #[error("transient failure on {call}: {reason}")]
    Transient {
        call: String,
        /// HTTP status when APIM answered; `None` for transport failures.
        status: Option<u16>,
        reason: String,
    },
    /// 401 or 403: the context's credentials are wrong or lack permissions.
    #[error("unauthorized on {call} (HTTP {status}): APIM rejected the context's credentials")]
    Unauthorized { call: String, status: u16 },
    /// APIM refused the request (400 and other 4xx): `message` is APIM's own explanation (prefixed with the
    /// status when it is not 400). Also used for definitions gko cannot send at all.
    #[error("rejected by APIM: {message}")]
    Invalid { message: String },
    /// 404 on a specific resource.
    #[error("not found: {call}")]
    NotFound { call: String },
    /// The organization or environment does not exist on that Management API.
    #[error("unknown organization or environment {organization_id}/{environment_id}")]
    UnknownEnvironment {
        organization_id: String,
        environment_id: String,
    },
    /// APIM answered something gko cannot understand.
    #[error("unexpected response from {call}: {reason}")]
    Protocol { call: String, reason: String },
    /// The Management API's TLS certificate was refused (unknown authority, wrong name, expired) or the
    /// handshake failed: nothing changes until the trust or the certificate does.
    #[error("TLS failure on {call}: {reason}")]
    Tls { call: String, reason: String },
    /// Local configuration problem (bad URL, missing credentials): no request was sent.
    #[error("invalid Management API configuration: {0}")]
    Config(String),
}

impl ApimError {
    /// Whether the same call may succeed later without any change (see [`crate::apim::backoff::retry`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApimError::Transient { .. })
    }

    /// HTTP status APIM answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApimError::Transient { status, .. } => *status,
            ApimError::Unauthorized { status, .. } => Some(*status),
            ApimError::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    /// Classifies a transport-level failure (no usable HTTP answer).
    pub(crate) fn from_transport(call: &str, err: reqwest::Error) -> Self {
        let err = err.without_url();
        if let Some(reason) = super::trust::tls_failure(&err) {
            return ApimError::Tls {
                call: call.to_owned(),
                reason,
            };
        }
        let reason = if err.is_timeout() {
            format!("timed out ({})", chain(&err))
        } else if err.is_connect() {
            format!("cannot connect ({})", chain(&err))
        } else if err.is_builder() {
            return ApimError::Config(format!("cannot build request for {call}: {}", chain(&err)));
        } else if err.is_decode() {
            return ApimError::Protocol {
                call: call.to_owned(),
                reason: chain(&err),
            };
        } else {
            // Request written but no complete answer: connection reset or closed, body cut short.
            format!("connection dropped ({})", chain(&err))
        };
        ApimError::Transient {
            call: call.to_owned(),
            status: None,
            reason,
        }
    }

    /// Classifies an HTTP answer with a non-success status.
    pub(crate) fn from_status(call: &str, status: u16, body: &[u8]) -> Self {
        let message = apim_message(body);
        match status {
            401 | 403 => ApimError::Unauthorized {
                call: call.to_owned(),
                status,
            },
            404 => ApimError::NotFound {
                call: call.to_owned(),
            },
            408 | 429 | 500..=599 => ApimError::Transient {
                call: call.to_owned(),
                status: Some(status),
                reason: match message {
                    Some(m) => format!("HTTP {status}: {m}"),
                    None => format!("HTTP {status}"),
                },
            },
            400..=499 => ApimError::Invalid {
                message: match (status, message) {
                    (400, Some(m)) => m,
                    (_, Some(m)) => format!("HTTP {status}: {m}"),
                    (_, None) => format!("HTTP {status} without an error message"),
                },
            },
            _ => ApimError::Protocol {
                call: call.to_owned(),
                reason: format!("unexpected HTTP status {status}"),
            },
        }
    }

    /// An undecodable success body.
    pub(crate) fn protocol(call: &str, reason: impl std::fmt::Display) -> Self {
        ApimError::Protocol {
            call: call.to_owned(),
            reason: truncate(&reason.to_string()),
        }
    }
}

/// APIM's `message` from a JSON error body, if any.
fn apim_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.get("message")?.as_str()?.trim();
    (!message.is_empty()).then(|| truncate(message))
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
        t.push('…');
        t
    }
}

/// An error and its sources, one line.
fn chain(err: &reqwest::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let c = "GET /x";
        assert!(matches!(
            ApimError::from_status(c, 401, b""),
            ApimError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            ApimError::from_status(c, 403, b""),
            ApimError::Unauthorized { status: 403, .. }
        ));
        assert!(matches!(
            ApimError::from_status(c, 404, b""),
            ApimError::NotFound { .. }
        ));
        for s in [408, 429, 500, 502, 503, 504] {
            let e = ApimError::from_status(c, s, b"{}");
            assert!(e.is_retryable(), "{s} should be transient");
            assert_eq!(e.status(), Some(s));
        }
        let e = ApimError::from_status(
            c,
            400,
            br#"{"message":"The path [/a/] is taken","httpStatus":400}"#,
        );
        match &e {
            ApimError::Invalid { message } => assert_eq!(message, "The path [/a/] is taken"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(!e.is_retryable());
        assert!(matches!(
            ApimError::from_status(c, 409, b"not json"),
            ApimError::Invalid { message } if message.starts_with("HTTP 409")
        ));
        assert!(matches!(
            ApimError::from_status(c, 302, b""),
            ApimError::Protocol { .. }
        ));
    }

    #[test]
    fn long_messages_are_truncated() {
        let body = serde_json::json!({ "message": "x".repeat(5000) }).to_string();
        match ApimError::from_status("PUT /y", 400, body.as_bytes()) {
            ApimError::Invalid { message, .. } => {
                assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
