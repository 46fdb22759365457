//! Certificate generation (rcgen, ECDSA P-256) and inspection (x509-parser).
//!
//! Nothing here talks to a cluster; everything is deterministic except key generation.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};

/// A subject alternative name: DNS name or IP address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl FromStr for San {
    type Err = Error;

    /// An IP address (v4 or v6) or a DNS name (lower-cased; a leading `*.` wildcard is allowed).
    fn from_str(s: &str) -> Result<Self> {
        let value = s.trim();
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        let invalid = |reason: &str| Error::InvalidSan {
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let name = value.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err(invalid("empty"));
        }
        if name.len() > 253 {
            return Err(invalid("longer than 253 characters"));
        }
        for (i, label) in name.split('.').enumerate() {
            if i == 0 && label == "*" {
                continue;
            }
            if label.is_empty() || label.len() > 63 {
                return Err(invalid("each label must be 1 to 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(invalid("labels may only contain a-z, 0-9 and '-'"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("labels must not start or end with '-'"));
            }
        }
        Ok(San::Dns(name))
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

impl San {
    fn to_rcgen(&self) -> Result<SanType> {
        Ok(match self {
            San::Dns(name) => SanType::DnsName(name.as_str().try_into()?),
            San::Ip(ip) => SanType::IpAddress(*ip),
        })
    }
}

/// The four in-cluster names of a Service: `svc`, `svc.ns`, `svc.ns.svc`,
/// `svc.ns.svc.<cluster_domain>`.
pub fn service_sans(service: &str, namespace: &str, cluster_domain: &str) -> Vec<San> {
    let names = [
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{cluster_domain}"),
    ];
    names
        .into_iter()
        .map(|n| San::Dns(n.to_ascii_lowercase()))
        .collect()
}

/// A PEM private key. `Debug` never prints it; use [`PrivateKeyPem::expose_pem`] to write it out.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(String);

impl PrivateKeyPem {
    pub fn new(pem: impl Into<String>) -> Self {
        PrivateKeyPem(pem.into())
    }
    /// The PEM text (PKCS#8 `PRIVATE KEY` for keys made here).
    pub fn expose_pem(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem([redacted])")
    }
}

/// A certificate in PEM with its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: PrivateKeyPem,
}

/// How long a new certificate is valid: `notBefore = now - backdate`, `notAfter = now + validity`.
/// The backdate absorbs clock skew between this machine and the API server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime {
    pub validity: Duration,
    pub backdate: Duration,
}

fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

fn new_key() -> Result<KeyPair> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

/// Makes a self-signed CA (ECDSA P-256, `CA:true, pathlen:0`, keyCertSign + cRLSign).
pub fn generate_ca(
    common_name: &str,
    now: OffsetDateTime,
    lifetime: Lifetime,
) -> Result<CertAndKey> {
    let now = whole_seconds(now);
    let key = new_key()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "certs-tool");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - lifetime.backdate;
    params.not_after = now + lifetime.validity;
    let cert = params.self_signed(&key)?;
    Ok(CertAndKey {
        cert_pem: pem_encode("CERTIFICATE", cert.der()),
        key_pem: PrivateKeyPem(key.serialize_pem()),
    })
}

/// Issues a serving (TLS server) certificate for `sans`, signed by `ca`, with a new ECDSA P-256
/// key. `notAfter` is clamped to the CA's `notAfter` so the chain never outlives its anchor.
pub fn issue_serving(
    ca: &CertAndKey,
    sans: &[San],
    now: OffsetDateTime,
    lifetime: Lifetime,
) -> Result<CertAndKey> {
    if sans.is_empty() {
        return Err(Error::Config(
            "a serving certificate needs at least one SAN".into(),
        ));
    }
    let now = whole_seconds(now);
    let ca_info = CertInfo::from_pem(&ca.cert_pem)?;
    let ca_key = KeyPair::from_pem(ca.key_pem.expose_pem())?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;

    let key = new_key()?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let cn = sans
        .iter()
        .find_map(|s| match s {
            San::Dns(n) if n.len() <= 64 => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "certs-tool serving certificate".to_string());
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans.iter().map(San::to_rcgen).collect::<Result<_>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - lifetime.backdate;
    params.not_after = std::cmp::min(now + lifetime.validity, ca_info.not_after);
    if params.not_after <= now {
        return Err(Error::Config(format!(
            "the CA expired at {}; cannot issue a serving certificate",
            ca_info.not_after
        )));
    }
    let cert = params.signed_by(&key, &issuer)?;
    Ok(CertAndKey {
        cert_pem: pem_encode("CERTIFICATE", cert.der()),
        key_pem: PrivateKeyPem(key.serialize_pem()),
    })
}

/// PEM-encodes DER with 64-column lines and a trailing newline (the canonical form we write).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// What we need to know about a certificate, read with x509-parser.
#[derive(Clone, PartialEq, Eq)]
pub struct CertInfo {
    der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sans: BTreeSet<San>,
    pub is_ca: bool,
}

impl fmt::Debug for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertInfo")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("sans", &self.sans)
            .field("is_ca", &self.is_ca)
            .finish()
    }
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| Error::Parse(format!("invalid DER: {e}")))?;
    Ok(cert)
}

impl CertInfo {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let x = parse_x509(der)?;
        let mut sans = BTreeSet::new();
        if let Some(ext) = x
            .subject_alternative_name()
            .map_err(|e| Error::Parse(format!("subjectAltName: {e}")))?
        {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(n) => {
                        sans.insert(San::Dns(n.to_ascii_lowercase()));
                    }
                    GeneralName::IPAddress(b) => {
                        let ip = match b.len() {
                            4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                            16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            sans.insert(San::Ip(ip));
                        }
                    }
                    _ => {}
                }
            }
        }
        let is_ca = x
            .basic_constraints()
            .map_err(|e| Error::Parse(format!("basicConstraints: {e}")))?
            .is_some_and(|bc| bc.value.ca);
        Ok(CertInfo {
            der: der.to_vec(),
            subject: x.subject().to_string(),
            issuer: x.issuer().to_string(),
            serial: x.raw_serial_as_string(),
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            sans,
            is_ca,
        })
    }

    /// Parses the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        parse_pem_bundle(pem)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Parse("no CERTIFICATE block found".into()))
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Canonical PEM of this certificate.
    pub fn to_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.der)
    }

    /// notAfter - notBefore.
    pub fn lifetime(&self) -> Duration {
        self.not_after - self.not_before
    }

    /// Time left until notAfter (negative when expired).
    pub fn remaining(&self, now: OffsetDateTime) -> Duration {
        self.not_after - now
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.not_after <= now
    }

    /// True when less than a third of the certificate's life is left (or it has expired).
    pub fn less_than_third_left(&self, now: OffsetDateTime) -> bool {
        self.remaining(now) * 3 < self.lifetime()
    }

    /// When less than a third of the life will be left: `notAfter - lifetime/3`.
    pub fn renewal_due_at(&self) -> OffsetDateTime {
        self.not_after - self.lifetime() / 3
    }

    /// True when `issuer`'s subject is this certificate's issuer and `issuer`'s key verifies
    /// this certificate's signature.
    pub fn is_signed_by(&self, issuer: &CertInfo) -> bool {
        let (Ok(me), Ok(ca)) = (parse_x509(&self.der), parse_x509(&issuer.der)) else {
            return false;
        };
        me.issuer().as_raw() == ca.subject().as_raw()
            && me.verify_signature(Some(ca.public_key())).is_ok()
    }

    /// True when `key_pem` is the private key of this certificate's public key.
    pub fn matches_key(&self, key_pem: &PrivateKeyPem) -> bool {
        let (Ok(me), Ok(key)) = (
            parse_x509(&self.der),
            KeyPair::from_pem(key_pem.expose_pem()),
        ) else {
            return false;
        };
        use rcgen::PublicKeyData as _;
        me.public_key().raw == key.subject_public_key_info().as_slice()
    }
}

/// Parses every `CERTIFICATE` block of a PEM text (other blocks are ignored).
pub fn parse_pem_bundle(pem: &str) -> Result<Vec<CertInfo>> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| Error::Parse(format!("invalid PEM: {e}")))?;
        if block.label == "CERTIFICATE" {
            out.push(CertInfo::from_der(&block.contents)?);
        }
    }
    Ok(out)
}

/// Concatenated canonical PEM of `certs`, in order: the caBundle format.
pub fn pem_bundle<'a>(certs: impl IntoIterator<Item = &'a CertInfo>) -> String {
    certs.into_iter().map(CertInfo::to_pem).collect()
}

/// A CA plus a serving certificate made with no cluster (for `gko serve --self-signed`, tests and
/// `certs-tool generate`).
#[derive(Clone, Debug)]
pub struct SelfSigned {
    pub ca: CertAndKey,
    pub serving: CertAndKey,
}

/// Makes a fresh CA and a serving certificate for `sans`.
pub fn generate_self_signed(
    sans: &[San],
    now: OffsetDateTime,
    ca_lifetime: Lifetime,
    serving_lifetime: Lifetime,
) -> Result<SelfSigned> {
    let cn = format!("certs-tool self-signed CA {}", now.unix_timestamp());
    let ca = generate_ca(&cn, now, ca_lifetime)?;
    let serving = issue_serving(&ca, sans, now, serving_lifetime)?;
    Ok(SelfSigned { ca, serving })
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into `dir`, creating it if needed.
pub fn write_self_signed(dir: &std::path::Path, certs: &SelfSigned) -> Result<()> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    write_file(&dir.join("ca.crt"), certs.ca.cert_pem.as_bytes(), 0o644)?;
    write_file(
        &dir.join("tls.crt"),
        certs.serving.cert_pem.as_bytes(),
        0o644,
    )?;
    write_file(
        &dir.join("tls.key"),
        certs.serving.key_pem.expose_pem().as_bytes(),
        0o600,
    )?;
    Ok(())
}

/// Writes through a temporary file and a rename, so readers never see half a file.
fn write_file(path: &std::path::Path, content: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    let err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(content).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    fn lt(validity: Duration) -> Lifetime {
        Lifetime {
            validity,
            backdate: Duration::minutes(1),
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sans(names: &[&str]) -> Vec<San> {
        names.iter().map(|n| n.parse().unwrap()).collect()
    }

    /// What a TLS client does: chain to one of `roots`, serverAuth, and the name matches.
    pub(crate) fn webpki_verify(
        leaf_pem: &str,
        roots_pem: &str,
        name: &str,
        at: OffsetDateTime,
    ) -> bool {
        let leaf = CertificateDer::from(CertInfo::from_pem(leaf_pem).unwrap().der().to_vec());
        let roots: Vec<CertificateDer<'static>> = parse_pem_bundle(roots_pem)
            .unwrap()
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect();
        let anchors: Vec<_> = roots
            .iter()
            .map(|r| webpki::anchor_from_trusted_cert(r).unwrap())
            .collect();
        let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let time =
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.unix_timestamp() as u64));
        let chain = ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        chain.is_ok() && ee.verify_is_valid_for_subject_name(&server_name).is_ok()
    }

    #[test]
    fn san_parsing() {
        assert_eq!(
            "127.0.0.1".parse::<San>().unwrap(),
            San::Ip([127, 0, 0, 1].into())
        );
        assert_eq!(
            "::1".parse::<San>().unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            "Foo.Example.".parse::<San>().unwrap(),
            San::Dns("foo.example".into())
        );
        assert_eq!(
            "*.example.com".parse::<San>().unwrap(),
            San::Dns("*.example.com".into())
        );
        for bad in ["", "a..b", "-a.b", "a_b", "a b", &"x".repeat(64)] {
            assert!(bad.parse::<San>().is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn service_names() {
        let s = service_sans("gko-webhook", "gko", "cluster.local");
        assert_eq!(
            s,
            sans(&[
                "gko-webhook",
                "gko-webhook.gko",
                "gko-webhook.gko.svc",
                "gko-webhook.gko.svc.cluster.local"
            ])
        );
    }

    #[test]
    fn ca_properties() {
        let t = now();
        let ca = generate_ca("test CA", t, lt(Duration::days(10))).unwrap();
        let info = CertInfo::from_pem(&ca.cert_pem).unwrap();
        assert!(info.is_ca);
        assert!(info.subject.contains("CN=test CA"));
        assert_eq!(info.subject, info.issuer);
        assert!(info.is_signed_by(&info));
        assert!(info.matches_key(&ca.key_pem));
        assert_eq!(
            info.not_after.unix_timestamp(),
            (t + Duration::days(10)).unix_timestamp()
        );
        assert_eq!(
            info.not_before.unix_timestamp(),
            (t - Duration::minutes(1)).unix_timestamp()
        );
        assert!(ca.key_pem.expose_pem().contains("BEGIN PRIVATE KEY"));
        assert!(!format!("{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn serving_cert_verifies_against_its_ca_only() {
        let t = now();
        let ca = generate_ca("CA one", t, lt(Duration::days(100))).unwrap();
        let other = generate_ca("CA two", t, lt(Duration::days(100))).unwrap();
        let names = sans(&["svc", "svc.ns", "svc.ns.svc", "127.0.0.1"]);
        let leaf = issue_serving(&ca, &names, t, lt(Duration::days(30))).unwrap();
        let info = CertInfo::from_pem(&leaf.cert_pem).unwrap();
        let ca_info = CertInfo::from_pem(&ca.cert_pem).unwrap();
        let other_info = CertInfo::from_pem(&other.cert_pem).unwrap();

        assert!(!info.is_ca);
        assert_eq!(info.sans, names.iter().cloned().collect());
        assert_eq!(info.issuer, ca_info.subject);
        assert!(info.is_signed_by(&ca_info));
        assert!(!info.is_signed_by(&other_info));
        assert!(info.matches_key(&leaf.key_pem));
        assert!(!info.matches_key(&ca.key_pem));

        // A real verifier agrees: chain, serverAuth EKU, host name and IP.
        assert!(webpki_verify(&leaf.cert_pem, &ca.cert_pem, "svc.ns.svc", t));
        assert!(webpki_verify(&leaf.cert_pem, &ca.cert_pem, "127.0.0.1", t));
        assert!(!webpki_verify(
            &leaf.cert_pem,
            &ca.cert_pem,
            "other.ns.svc",
            t
        ));
        assert!(!webpki_verify(
            &leaf.cert_pem,
            &other.cert_pem,
            "svc.ns.svc",
            t
        ));
        let both = format!("{}{}", other.cert_pem, ca.cert_pem);
        assert!(webpki_verify(&leaf.cert_pem, &both, "svc.ns.svc", t));
    }

    #[test]
    fn serving_cert_never_outlives_the_ca() {
        let t = now();
        let ca = generate_ca("short CA", t, lt(Duration::hours(2))).unwrap();
        let leaf = issue_serving(&ca, &sans(&["svc"]), t, lt(Duration::days(365))).unwrap();
        let ca_info = CertInfo::from_pem(&ca.cert_pem).unwrap();
        let info = CertInfo::from_pem(&leaf.cert_pem).unwrap();
        assert_eq!(info.not_after, ca_info.not_after);

        let expired = generate_ca("old CA", t - Duration::days(10), lt(Duration::days(1))).unwrap();
        assert!(issue_serving(&expired, &sans(&["svc"]), t, lt(Duration::days(1))).is_err());
    }

    #[test]
    fn third_of_life_threshold() {
        let t = now();
        let ca = generate_ca(
            "CA",
            t,
            Lifetime {
                validity: Duration::seconds(300),
                backdate: Duration::ZERO,
            },
        )
        .unwrap();
        let info = CertInfo::from_pem(&ca.cert_pem).unwrap();
        let start = info.not_before;
        assert!(!info.less_than_third_left(start + Duration::seconds(199)));
        assert!(!info.less_than_third_left(start + Duration::seconds(200)));
        assert!(info.less_than_third_left(start + Duration::seconds(201)));
        assert!(info.less_than_third_left(start + Duration::seconds(400)));
        assert_eq!(info.renewal_due_at(), start + Duration::seconds(200));
    }

    #[test]
    fn bundle_round_trip() {
        let t = now();
        let a = generate_ca("A", t, lt(Duration::days(1))).unwrap();
        let b = generate_ca("B", t, lt(Duration::days(1))).unwrap();
        let infos = parse_pem_bundle(&format!("{}\n{}", a.cert_pem, b.cert_pem)).unwrap();
        assert_eq!(infos.len(), 2);
        let bundle = pem_bundle(&infos);
        assert_eq!(bundle, format!("{}{}", a.cert_pem, b.cert_pem));
        assert!(parse_pem_bundle("garbage").unwrap().is_empty());
        assert!(CertInfo::from_pem("garbage").is_err());
    }

    #[test]
    fn self_signed_files() {
        let dir = tempfile::tempdir().unwrap();
        let t = now();
        let certs = generate_self_signed(
            &sans(&["localhost", "127.0.0.1"]),
            t,
            lt(Duration::days(10)),
            lt(Duration::days(5)),
        )
        .unwrap();
        write_self_signed(dir.path(), &certs).unwrap();
        let ca = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
        let crt = std::fs::read_to_string(dir.path().join("tls.crt")).unwrap();
        let key = std::fs::read_to_string(dir.path().join("tls.key")).unwrap();
        assert!(webpki_verify(&crt, &ca, "localhost", t));
        assert!(webpki_verify(&crt, &ca, "127.0.0.1", t));
        assert!(CertInfo::from_pem(&crt)
            .unwrap()
            .matches_key(&PrivateKeyPem::new(key)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("tls.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
