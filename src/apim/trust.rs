//! Which Management API certificates gko trusts: the system's root store and the bundled public roots,
//! plus an optional PEM bundle (`--apim-ca-file`, chart value `apimCa`), or nothing at all
//! (`--apim-insecure-skip-verify`). Also how a refused certificate is told to the user.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};

use super::ApimError;

/// What the user must set when APIM's certificate is not trusted (named in statuses and errors).
pub const CA_HINT: &str =
    "set apimCa in the chart (gko serve --apim-ca-file) to the CA that signed the Management API's certificate";

/// Said in the log and in every Ready context's status while verification is off.
pub const INSECURE_WARNING: &str =
    "TLS verification of the Management API is DISABLED (--apim-insecure-skip-verify): anyone on the path can read the credentials";

/// TLS trust of an [`super::ApimClient`]. The default trusts the system's roots and the bundled public roots.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// Extra roots (from `--apim-ca-file`), already parsed.
    extra_roots: Vec<reqwest::Certificate>,
    /// Where they came from (for messages).
    ca_file: Option<PathBuf>,
    insecure_skip_verify: bool,
}

impl Trust {
    /// Reads and checks the PEM bundle (when given): a missing file or one without certificates is an error
    /// at start, not at the first call.
    pub fn from_flags(
        ca_file: Option<&Path>,
        insecure_skip_verify: bool,
    ) -> Result<Self, ApimError> {
        let mut trust = Trust {
            insecure_skip_verify,
            ..Trust::default()
        };
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                ApimError::Config(format!(
                    "cannot read --apim-ca-file {}: {e}",
                    path.display()
                ))
            })?;
            trust.extra_roots = parse_bundle(&pem).map_err(|reason| {
                ApimError::Config(format!("--apim-ca-file {}: {reason}", path.display()))
            })?;
            trust.ca_file = Some(path.to_owned());
        }
        Ok(trust)
    }

    /// Trust the certificates of this PEM bundle too.
    pub fn with_pem_bundle(mut self, pem: &[u8]) -> Result<Self, ApimError> {
        let roots = parse_bundle(pem).map_err(ApimError::Config)?;
        self.extra_roots.extend(roots);
        Ok(self)
    }

    pub fn insecure_skip_verify(&self) -> bool {
        self.insecure_skip_verify
    }

    /// Number of extra roots (from `--apim-ca-file`).
    pub fn extra_roots(&self) -> usize {
        self.extra_roots.len()
    }

    /// Applies this trust to a reqwest builder: system and bundled roots stay on; proxies come from the
    /// `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables (reqwest's default).
    pub(crate) fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        for root in &self.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        if self.insecure_skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder
    }
}

/// Every certificate of a PEM bundle; an error when there is none.
fn parse_bundle(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, String> {
    let has_certificate = String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----");
    if !has_certificate {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) in the bundle".into());
    }
    reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("not a PEM bundle: {e}"))
}

/// When a transport failure is a refused TLS certificate or handshake, what to tell the user.
pub(crate) fn tls_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(rustls_error) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(rustls_error));
        }
        current = next_cause(e);
    }
    None
}

/// The cause of `e`: the payload of an `io::Error` (its `source()` skips the payload), else `source()`.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(payload) => Some(payload),
        None => e.source(),
    }
}

/// The message for a rustls failure: the cause in words, then the fix.
pub(crate) fn describe(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            format!("certificate signed by an unknown authority: {CA_HINT}")
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "certificate is not valid for the host of the context's baseUrl: use a name the certificate covers".into(),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate has expired: renew the Management API's certificate".into()
        }
        rustls::Error::InvalidCertificate(other) => {
            format!("certificate not trusted ({other:?}): {CA_HINT}")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_issuer_names_the_chart_value() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let m = describe(&e);
        assert!(
            m.starts_with("certificate signed by an unknown authority"),
            "{m}"
        );
        assert!(m.contains("apimCa") && m.contains("--apim-ca-file"), "{m}");
    }

    #[test]
    fn found_inside_an_io_error() {
        let inner = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, inner);
        let twice = std::io::Error::other(io);
        let wrapped: Box<dyn StdError + Send + Sync> = Box::new(twice);
        let m = tls_failure(wrapped.as_ref()).expect("a TLS failure");
        assert!(m.contains("unknown authority"), "{m}");
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(tls_failure(&plain), None);
    }

    #[test]
    fn a_file_without_certificates_is_refused_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").expect("write");
        let err = Trust::from_flags(Some(&path), false).expect_err("refused");
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        let missing = Trust::from_flags(Some(&dir.path().join("absent.pem")), false)
            .expect_err("missing file");
        assert!(
            missing.to_string().contains("cannot read --apim-ca-file"),
            "{missing}"
        );
    }
}
