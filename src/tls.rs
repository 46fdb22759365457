//! The webhook's TLS: rustls (TLS 1.2 minimum, 1.3 preferred), a serving certificate loaded from
//! PEM files and reloaded without restart when they change, or generated at start-up.
//!
//! Kubernetes updates a mounted Secret by writing a new timestamped folder and swapping the
//! `..data` symlink, so the certificate and key change at once. The reloader polls: it reads both
//! files through their paths (following the symlinks), and swaps the served certificate only when
//! the content changed and the new pair parses and matches. A half-written pair is skipped and read
//! again at the next tick.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path} holds no usable private key: {message}")]
    BadKey { path: String, message: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Where the serving certificate comes from.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Parses a PEM certificate chain and private key into what rustls serves.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    files: &CertFiles,
) -> Result<CertifiedKey, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.display().to_string(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::BadKey {
        path: files.key.display().to_string(),
        message: e.to_string(),
    })?;
    let signing = any_supported_type(&key).map_err(|e| TlsError::BadKey {
        path: files.key.display().to_string(),
        message: e.to_string(),
    })?;
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match().map_err(|e| TlsError::BadKey {
        path: files.key.display().to_string(),
        message: format!("the key does not match the certificate: {e}"),
    })?;
    Ok(ck)
}

/// Serves the current certificate; [`CertReloader`] replaces it.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

impl ReloadingCert {
    fn set(&self, key: CertifiedKey) {
        if let Ok(mut slot) = self.current.write() {
            *slot = Arc::new(key);
        }
    }

    /// The leaf certificate currently served (DER).
    pub fn leaf(&self) -> Option<Vec<u8>> {
        self.current
            .read()
            .ok()
            .and_then(|c| c.cert.first().map(|d| d.as_ref().to_vec()))
    }
}

/// Loads the files once and keeps watching them.
pub struct CertReloader {
    files: CertFiles,
    digest: RwLock<[u8; 32]>,
    pub cert: Arc<ReloadingCert>,
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(cert);
    h.update([0u8]);
    h.update(key);
    h.finalize().into()
}

impl CertReloader {
    /// Loads the certificate and key; fails when they cannot be used.
    pub fn load(files: CertFiles) -> Result<CertReloader, TlsError> {
        let cert_pem = read(&files.cert)?;
        let key_pem = read(&files.key)?;
        let ck = certified_key(&cert_pem, &key_pem, &files)?;
        Ok(CertReloader {
            digest: RwLock::new(digest(&cert_pem, &key_pem)),
            cert: Arc::new(ReloadingCert {
                current: RwLock::new(Arc::new(ck)),
            }),
            files,
        })
    }

    /// Reads the files again; returns Ok(true) when a new certificate is now served.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let cert_pem = read(&self.files.cert)?;
        let key_pem = read(&self.files.key)?;
        let d = digest(&cert_pem, &key_pem);
        if self.digest.read().map(|cur| *cur == d).unwrap_or(false) {
            return Ok(false);
        }
        let ck = certified_key(&cert_pem, &key_pem, &self.files)?;
        self.cert.set(ck);
        if let Ok(mut cur) = self.digest.write() {
            *cur = d;
        }
        Ok(true)
    }

    /// Polls the files every `interval` until `stop` is cancelled.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        on_reload: impl Fn() + Send + 'static,
        stop: CancellationToken,
    ) {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                match self.reload() {
                    Ok(true) => {
                        tracing::info!(cert = %self.files.cert.display(), "serving certificate reloaded");
                        on_reload();
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "serving certificate not reloaded; keeping the current one")
                    }
                }
            }
        });
    }
}

/// The rustls server configuration: TLS 1.3 and 1.2 (1.3 preferred), HTTP/2 and HTTP/1.1 by ALPN.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Files written by [`self_signed`].
#[derive(Clone, Debug)]
pub struct SelfSigned {
    pub ca: PathBuf,
    pub files: CertFiles,
}

/// Generates a CA and a serving certificate for `names` (DNS names or IP addresses) into `dir`
/// (`ca.crt`, `tls.crt`, `tls.key`; ECDSA P-256), with certs-tool's certificate code.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let gen = |e: certs_tool::Error| TlsError::Generate(e.to_string());
    let sans = names
        .iter()
        .map(|n| n.parse::<certs_tool::San>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(gen)?;
    let day = time::Duration::days(1);
    let ca = certs_tool::Lifetime {
        validity: day * 365 * 5,
        backdate: time::Duration::minutes(1),
    };
    let serving = certs_tool::Lifetime {
        validity: day * 365,
        backdate: time::Duration::minutes(1),
    };
    let generated =
        certs_tool::generate_self_signed(&sans, time::OffsetDateTime::now_utc(), ca, serving)
            .map_err(gen)?;
    certs_tool::write_self_signed(dir, &generated).map_err(gen)?;
    Ok(SelfSigned {
        ca: dir.join("ca.crt"),
        files: CertFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
        },
    })
}
