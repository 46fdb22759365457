//! Typed errors of the library. Messages never contain key material.

use std::path::PathBuf;

/// Everything that can go wrong while planning, generating or applying certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is unusable (empty service name, zero validity, ...).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A `--extra-san`/`--dns`/`--ip` value is neither an IP address nor a DNS name.
    #[error("invalid subject alternative name {value:?}: {reason}")]
    InvalidSan { value: String, reason: String },

    /// A duration flag such as `--ca-validity` could not be parsed.
    #[error("invalid duration {value:?}: {reason}")]
    InvalidDuration { value: String, reason: String },

    /// rcgen refused to build or sign a certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),

    /// A PEM certificate could not be decoded or parsed.
    #[error("cannot parse certificate: {0}")]
    Parse(String),

    /// A named webhook configuration exists neither as a ValidatingWebhookConfiguration nor as a
    /// MutatingWebhookConfiguration.
    #[error(
        "webhook configuration {0:?} not found (neither a ValidatingWebhookConfiguration nor a MutatingWebhookConfiguration)"
    )]
    WebhookConfigNotFound(String),

    /// The Secret exists with a type other than `kubernetes.io/tls` (the type is immutable).
    #[error(
        "Secret {namespace}/{name} has type {actual:?}, expected \"kubernetes.io/tls\"; delete it or choose another --secret"
    )]
    SecretType {
        namespace: String,
        name: String,
        actual: String,
    },

    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API call failed while {action}: {source}")]
    Kube {
        action: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// Concurrent writers kept changing the Secret between our read and our write.
    #[error("gave up after {0} attempts: the Secret kept changing concurrently (HTTP 409)")]
    TooManyConflicts(u32),

    /// Reading or writing certificate files failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn kube(action: impl Into<String>, source: kube::Error) -> Self {
        Error::Kube {
            action: action.into(),
            source: Box::new(source),
        }
    }

    /// True for HTTP 409 (stale resourceVersion or AlreadyExists): re-reading and re-planning fixes it.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Kube { source, .. } if matches!(source.as_ref(), kube::Error::Api(s) if s.code == 409))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
