//! The pure planner: Secret material + webhook caBundles + now + config → [`Plan`].
//!
//! No I/O and no randomness here; [`Plan::materialize`] generates the keys the plan asks for and
//! [`crate::cluster`] writes the result.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use time::{Duration, OffsetDateTime};

use crate::duration::format_duration;
use crate::error::{Error, Result};
use crate::pki::{
    generate_ca, issue_serving, pem_bundle, service_sans, CertAndKey, CertInfo, Lifetime,
    PrivateKeyPem, San,
};

/// Secret key of the serving certificate (PEM).
pub const TLS_CRT: &str = "tls.crt";
/// Secret key of the serving private key (PKCS#8 PEM).
pub const TLS_KEY: &str = "tls.key";
/// Secret key of the current CA certificate (PEM).
pub const CA_CRT: &str = "ca.crt";
/// Secret key of the current CA private key (PKCS#8 PEM), kept so later runs can renew.
pub const CA_KEY: &str = "ca.key";
/// Secret key of the previous CA certificate(s) still trusted during a CA change (PEM bundle).
pub const CA_PREVIOUS: &str = "ca-previous.crt";

/// Default CA validity: 5 years.
pub const DEFAULT_CA_VALIDITY: Duration = Duration::days(5 * 365);
/// Default serving certificate validity: 1 year.
pub const DEFAULT_SERVING_VALIDITY: Duration = Duration::days(365);
/// Default time a serving certificate signed by the new CA must have been in the Secret before the
/// previous CA leaves the caBundle (kubelet refreshes mounted Secrets within about a minute or two).
pub const DEFAULT_CA_OVERLAP: Duration = Duration::hours(1);
/// Default backdating of notBefore, for clock skew between this host and the API server.
pub const DEFAULT_BACKDATE: Duration = Duration::minutes(1);

/// What certificates to keep for which Service, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertConfig {
    /// Service name of the webhook (`gko-webhook`).
    pub service: String,
    /// Namespace of the Service and of the Secret.
    pub namespace: String,
    /// Cluster DNS domain for the fourth SAN (`cluster.local`).
    pub cluster_domain: String,
    /// More SANs (DNS names or IPs, e.g. `127.0.0.1` for local tests).
    pub extra_sans: Vec<San>,
    /// Validity of a new CA.
    pub ca_validity: Duration,
    /// Validity of a new serving certificate (clamped to the CA's notAfter).
    pub serving_validity: Duration,
    /// How long a serving certificate signed by the new CA must have been in the Secret before the
    /// previous CA is dropped from the caBundle.
    pub ca_overlap: Duration,
    /// notBefore = now - backdate.
    pub backdate: Duration,
}

impl CertConfig {
    /// Defaults: `cluster.local`, CA 5 years, serving 1 year, overlap 1 hour, backdate 1 minute.
    pub fn new(service: impl Into<String>, namespace: impl Into<String>) -> Self {
        CertConfig {
            service: service.into(),
            namespace: namespace.into(),
            cluster_domain: "cluster.local".into(),
            extra_sans: Vec::new(),
            ca_validity: DEFAULT_CA_VALIDITY,
            serving_validity: DEFAULT_SERVING_VALIDITY,
            ca_overlap: DEFAULT_CA_OVERLAP,
            backdate: DEFAULT_BACKDATE,
        }
    }

    /// The SANs the serving certificate must have, exactly.
    pub fn desired_sans(&self) -> BTreeSet<San> {
        service_sans(&self.service, &self.namespace, &self.cluster_domain)
            .into_iter()
            .chain(self.extra_sans.iter().cloned())
            .collect()
    }

    pub fn ca_lifetime(&self) -> Lifetime {
        Lifetime {
            validity: self.ca_validity,
            backdate: self.backdate,
        }
    }

    pub fn serving_lifetime(&self) -> Lifetime {
        Lifetime {
            validity: self.serving_validity,
            backdate: self.backdate,
        }
    }

    /// Rejects settings that cannot work or would renew on every run.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (what, value) in [
            ("service", &self.service),
            ("namespace", &self.namespace),
            ("cluster domain", &self.cluster_domain),
        ] {
            if let Err(e) = value.parse::<San>() {
                return bad(format!("{what} {value:?} is not a valid DNS name: {e}"));
            }
        }
        if self.backdate.is_negative() || self.ca_overlap.is_negative() {
            return bad("backdate and CA overlap must not be negative".into());
        }
        // A certificate is renewed when less than a third of (validity + backdate) is left; a
        // validity not above the backdate would be renewed again on every run.
        for (what, validity) in [("CA", self.ca_validity), ("serving", self.serving_validity)] {
            if validity <= self.backdate || validity < Duration::SECOND {
                return bad(format!(
                    "{what} validity {} must be at least 1s and longer than the backdate {}",
                    format_duration(validity),
                    format_duration(self.backdate)
                ));
            }
        }
        Ok(())
    }

    fn ca_common_name(&self, now: OffsetDateTime) -> String {
        let mut who = format!("{}.{}", self.service, self.namespace);
        who.truncate(36);
        format!("{who} webhook CA {}", now.unix_timestamp())
    }
}

/// The certificate material found in (or destined for) the Secret, as text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretMaterial {
    pub ca_crt: Option<String>,
    pub ca_key: Option<PrivateKeyPem>,
    pub ca_previous: Option<String>,
    pub tls_crt: Option<String>,
    pub tls_key: Option<PrivateKeyPem>,
}

impl fmt::Debug for SecretMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMaterial")
            .field("ca_crt", &self.ca_crt.is_some())
            .field("ca_key", &self.ca_key.is_some())
            .field("ca_previous", &self.ca_previous.is_some())
            .field("tls_crt", &self.tls_crt.is_some())
            .field("tls_key", &self.tls_key.is_some())
            .finish()
    }
}

impl SecretMaterial {
    /// Reads our keys from a Secret's `data` (values that are not UTF-8 count as absent).
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Self {
        let text = |k: &str| {
            data.get(k)
                .and_then(|v| String::from_utf8(v.clone()).ok())
                .filter(|s| !s.trim().is_empty())
        };
        SecretMaterial {
            ca_crt: text(CA_CRT),
            ca_key: text(CA_KEY).map(PrivateKeyPem::new),
            ca_previous: text(CA_PREVIOUS),
            tls_crt: text(TLS_CRT),
            tls_key: text(TLS_KEY).map(PrivateKeyPem::new),
        }
    }

    /// Our keys as Secret `data` entries; `None` for a key that must be absent.
    pub fn to_data(&self) -> BTreeMap<&'static str, Option<Vec<u8>>> {
        let b = |s: &Option<String>| s.as_ref().map(|s| s.as_bytes().to_vec());
        let k = |s: &Option<PrivateKeyPem>| s.as_ref().map(|s| s.expose_pem().as_bytes().to_vec());
        BTreeMap::from([
            (CA_CRT, b(&self.ca_crt)),
            (CA_KEY, k(&self.ca_key)),
            (CA_PREVIOUS, b(&self.ca_previous)),
            (TLS_CRT, b(&self.tls_crt)),
            (TLS_KEY, k(&self.tls_key)),
        ])
    }
}

/// The two kinds of admission webhook configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WebhookKind {
    Validating,
    Mutating,
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WebhookKind::Validating => "ValidatingWebhookConfiguration",
            WebhookKind::Mutating => "MutatingWebhookConfiguration",
        })
    }
}

/// One webhook configuration as found in the cluster: its webhooks' names and caBundles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfigState {
    pub kind: WebhookKind,
    pub name: String,
    pub webhooks: Vec<WebhookState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookState {
    pub name: String,
    pub ca_bundle: Option<Vec<u8>>,
}

/// The webhooks of one configuration whose caBundle must be set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookPatch {
    pub kind: WebhookKind,
    pub config: String,
    pub webhooks: Vec<String>,
}

/// The webhooks whose caBundle differs from `bundle`.
pub fn webhook_patches(configs: &[WebhookConfigState], bundle: Option<&[u8]>) -> Vec<WebhookPatch> {
    configs
        .iter()
        .filter_map(|c| {
            let webhooks: Vec<String> = c
                .webhooks
                .iter()
                .filter(|w| bundle.is_none() || w.ca_bundle.as_deref() != bundle)
                .map(|w| w.name.clone())
                .collect();
            (!webhooks.is_empty()).then(|| WebhookPatch {
                kind: c.kind,
                config: c.name.clone(),
                webhooks,
            })
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaAction {
    /// The CA in the Secret stays.
    Keep,
    /// A new CA; nothing of the old one (if any) is worth trusting any longer.
    Create { reason: String },
    /// A new CA; the old certificate stays in `ca-previous.crt` and in the caBundle for a while.
    Rotate { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServingAction {
    Keep,
    Issue { reason: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretWrite {
    None,
    Create,
    Update,
}

/// One certificate of the target caBundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BundleEntry {
    /// The CA this run will generate.
    NewCa,
    Existing(CertInfo),
}

/// A previous CA leaving `ca-previous.crt` and the caBundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedCa {
    /// `None` when `ca-previous.crt` could not be parsed at all.
    pub cert: Option<CertInfo>,
    pub reason: String,
}

/// What `ensure` will do. Built by [`plan`]; `check` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub ca: CaAction,
    pub serving: ServingAction,
    /// Previous CAs trusted after this run (in `ca-previous.crt` and the caBundle).
    pub previous: Vec<CertInfo>,
    pub dropped: Vec<DroppedCa>,
    pub secret: SecretWrite,
    /// The caBundle after this run: the current CA first, then `previous`.
    pub bundle: Vec<BundleEntry>,
    /// Webhooks whose caBundle will be patched.
    pub patches: Vec<WebhookPatch>,
    kept_ca: Option<CertAndKey>,
    kept_serving: Option<CertAndKey>,
}

impl Plan {
    /// True when `ensure` would write nothing.
    pub fn is_noop(&self) -> bool {
        self.secret == SecretWrite::None && self.patches.is_empty()
    }

    /// The target caBundle when it is already known (no new CA in it).
    pub fn known_bundle(&self) -> Option<String> {
        let certs: Option<Vec<&CertInfo>> = self
            .bundle
            .iter()
            .map(|e| match e {
                BundleEntry::Existing(c) => Some(c),
                BundleEntry::NewCa => None,
            })
            .collect();
        certs.map(pem_bundle)
    }

    /// Human-readable steps, in the order `ensure` performs them.
    pub fn steps(&self, secret: &str) -> Vec<String> {
        let mut out = Vec::new();
        match &self.ca {
            CaAction::Keep => {}
            CaAction::Create { reason } => out.push(format!("create CA: {reason}")),
            CaAction::Rotate { reason } => out.push(format!(
                "rotate CA: {reason}; the old CA stays in the caBundle until the new serving certificate is in use"
            )),
        }
        match &self.serving {
            ServingAction::Keep => {}
            ServingAction::Issue { .. } if self.ca != CaAction::Keep => {
                out.push("issue a serving certificate signed by the new CA".into())
            }
            ServingAction::Issue { reason } => {
                out.push(format!("renew serving certificate: {reason}"))
            }
        }
        for d in &self.dropped {
            let what = d
                .cert
                .as_ref()
                .map_or_else(|| "ca-previous.crt".to_string(), |c| c.subject.clone());
            out.push(format!("drop previous CA {what}: {}", d.reason));
        }
        let bundle: Vec<String> = self
            .bundle
            .iter()
            .map(|e| match e {
                BundleEntry::NewCa => "new CA".to_string(),
                BundleEntry::Existing(c) => format!("{} (until {})", c.subject, c.not_after),
            })
            .collect();
        for p in &self.patches {
            out.push(format!(
                "patch caBundle of {}/{} (webhooks: {}) to [{}]",
                p.kind,
                p.config,
                p.webhooks.join(", "),
                bundle.join(", ")
            ));
        }
        match self.secret {
            SecretWrite::None => {}
            SecretWrite::Create => out.push(format!("create Secret {secret}")),
            SecretWrite::Update => out.push(format!("update Secret {secret}")),
        }
        out
    }

    /// Generates what the plan asks for (new CA, new serving key and certificate) and returns the
    /// complete Secret material and caBundle after this run.
    pub fn materialize(&self, now: OffsetDateTime, cfg: &CertConfig) -> Result<Materialized> {
        let ca = match (&self.ca, &self.kept_ca) {
            (CaAction::Keep, Some(ca)) => ca.clone(),
            _ => generate_ca(&cfg.ca_common_name(now), now, cfg.ca_lifetime())?,
        };
        let ca_info = CertInfo::from_pem(&ca.cert_pem)?;
        let serving = match (&self.serving, &self.kept_serving, &self.ca) {
            (ServingAction::Keep, Some(s), CaAction::Keep) => s.clone(),
            _ => {
                let sans: Vec<San> = cfg.desired_sans().into_iter().collect();
                issue_serving(&ca, &sans, now, cfg.serving_lifetime())?
            }
        };
        let serving_info = CertInfo::from_pem(&serving.cert_pem)?;
        let ca_bundle = pem_bundle(std::iter::once(&ca_info).chain(&self.previous));
        let secret = SecretMaterial {
            ca_crt: Some(ca.cert_pem.clone()),
            ca_key: Some(ca.key_pem.clone()),
            ca_previous: (!self.previous.is_empty()).then(|| pem_bundle(&self.previous)),
            tls_crt: Some(serving.cert_pem.clone()),
            tls_key: Some(serving.key_pem.clone()),
        };
        // The next moment a run would have something to do (renewal thresholds are strict).
        let mut next = std::cmp::min(serving_info.renewal_due_at(), ca_info.renewal_due_at());
        for p in &self.previous {
            next = next
                .min(p.not_after)
                .min(serving_info.not_before + cfg.ca_overlap);
        }
        Ok(Materialized {
            secret,
            ca_bundle,
            ca,
            serving,
            next_action_at: next + Duration::SECOND,
        })
    }
}

/// The full state after a run: what goes into the Secret and the webhooks.
#[derive(Clone, Debug)]
pub struct Materialized {
    pub secret: SecretMaterial,
    /// PEM caBundle: current CA, then previous CAs.
    pub ca_bundle: String,
    pub ca: CertAndKey,
    pub serving: CertAndKey,
    /// When a later run will next have something to do (renewal, rotation, dropping a CA).
    pub next_action_at: OffsetDateTime,
}

fn describe_sans(have: &BTreeSet<San>, want: &BTreeSet<San>) -> String {
    let list = |s: Vec<&San>| {
        s.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing: Vec<&San> = want.difference(have).collect();
    let extra: Vec<&San> = have.difference(want).collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", list(missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("unexpected {}", list(extra)));
    }
    format!("SANs no longer match ({})", parts.join("; "))
}

enum CaState {
    Usable(CertInfo, CertAndKey),
    Replace {
        keep_old: Option<CertInfo>,
        reason: String,
    },
}

/// Decides what `ensure` must do. Pure: the same inputs give the same plan.
///
/// * `existing`: the Secret's material, `None` when the Secret does not exist;
/// * `webhooks`: the named webhook configurations as read from the cluster;
/// * `now`: the time to judge expiry against.
pub fn plan(
    existing: Option<&SecretMaterial>,
    webhooks: &[WebhookConfigState],
    now: OffsetDateTime,
    cfg: &CertConfig,
) -> Result<Plan> {
    cfg.validate()?;
    let empty = SecretMaterial::default();
    let m = existing.unwrap_or(&empty);
    let desired = cfg.desired_sans();

    // The CA currently in the Secret, whether or not we can keep using it.
    let old_ca: Option<std::result::Result<CertInfo, Error>> =
        m.ca_crt.as_deref().map(CertInfo::from_pem);
    let ca_state = match (&old_ca, &m.ca_key) {
        (None, _) if existing.is_none() => CaState::Replace {
            keep_old: None,
            reason: "the Secret does not exist".into(),
        },
        (None, _) => CaState::Replace {
            keep_old: None,
            reason: format!("no {CA_CRT} in the Secret"),
        },
        (Some(Err(e)), _) => CaState::Replace {
            keep_old: None,
            reason: format!("{CA_CRT} cannot be used: {e}"),
        },
        (Some(Ok(ca)), _) if !ca.is_ca => CaState::Replace {
            keep_old: None,
            reason: format!("{CA_CRT} is not a CA certificate"),
        },
        (Some(Ok(ca)), _) if ca.is_expired(now) => CaState::Replace {
            keep_old: None,
            reason: format!("the CA expired at {}", ca.not_after),
        },
        (Some(Ok(ca)), None) => CaState::Replace {
            keep_old: Some(ca.clone()),
            reason: format!("no {CA_KEY} in the Secret, so the CA cannot sign"),
        },
        (Some(Ok(ca)), Some(key)) if !ca.matches_key(key) => CaState::Replace {
            keep_old: Some(ca.clone()),
            reason: format!("{CA_KEY} does not match {CA_CRT}"),
        },
        (Some(Ok(ca)), Some(_)) if ca.less_than_third_left(now) => CaState::Replace {
            keep_old: Some(ca.clone()),
            reason: format!(
                "the CA expires at {}, less than a third of its lifetime left",
                ca.not_after
            ),
        },
        (Some(Ok(ca)), Some(key)) => CaState::Usable(
            ca.clone(),
            CertAndKey {
                cert_pem: m.ca_crt.clone().unwrap_or_default(),
                key_pem: key.clone(),
            },
        ),
    };

    let old_serving: Option<std::result::Result<CertInfo, Error>> =
        m.tls_crt.as_deref().map(CertInfo::from_pem);

    // The serving certificate.
    let (ca_action, serving_action, kept_ca, kept_serving) = match &ca_state {
        CaState::Replace { keep_old, reason } => {
            let action = match keep_old {
                Some(_) => CaAction::Rotate {
                    reason: reason.clone(),
                },
                None => CaAction::Create {
                    reason: reason.clone(),
                },
            };
            let serving = ServingAction::Issue {
                reason: "the CA is new".into(),
            };
            (action, serving, None, None)
        }
        CaState::Usable(ca, ca_pair) => {
            let reason = match (&old_serving, &m.tls_key) {
                (None, _) => Some(format!("no {TLS_CRT} in the Secret")),
                (Some(Err(e)), _) => Some(format!("{TLS_CRT} cannot be used: {e}")),
                (Some(Ok(_)), None) => Some(format!("no {TLS_KEY} in the Secret")),
                (Some(Ok(s)), Some(key)) => {
                    if !s.matches_key(key) {
                        Some(format!("{TLS_KEY} does not match {TLS_CRT}"))
                    } else if !s.is_signed_by(ca) {
                        Some("it is not signed by the current CA".into())
                    } else if s.sans != desired {
                        Some(describe_sans(&s.sans, &desired))
                    } else if s.not_before > now {
                        Some(format!("it is not valid before {}", s.not_before))
                    } else if s.is_expired(now) {
                        Some(format!("it expired at {}", s.not_after))
                    } else if s.less_than_third_left(now) {
                        Some(format!(
                            "it expires at {}, less than a third of its lifetime left",
                            s.not_after
                        ))
                    } else {
                        None
                    }
                }
            };
            let kept_serving = match (&m.tls_crt, &m.tls_key) {
                (Some(c), Some(k)) if reason.is_none() => Some(CertAndKey {
                    cert_pem: c.clone(),
                    key_pem: k.clone(),
                }),
                _ => None,
            };
            let serving = match reason {
                Some(reason) => ServingAction::Issue { reason },
                None => ServingAction::Keep,
            };
            (CaAction::Keep, serving, Some(ca_pair.clone()), kept_serving)
        }
    };

    // Previous CAs. They may go once the serving certificate in the Secret has been signed by the
    // current CA for at least the overlap: every certificate served since then chains to it.
    let old_ca_ok = old_ca.as_ref().and_then(|r| r.as_ref().ok());
    let settled_since = match (&old_serving, old_ca_ok) {
        (Some(Ok(s)), Some(ca)) if s.is_signed_by(ca) => Some(s.not_before),
        _ => None,
    };
    let settled = settled_since.is_some_and(|t| t + cfg.ca_overlap <= now);
    let mut previous: Vec<CertInfo> = Vec::new();
    let mut dropped = Vec::new();
    if let Some(pem) = &m.ca_previous {
        match crate::pki::parse_pem_bundle(pem) {
            Err(e) => dropped.push(DroppedCa {
                cert: None,
                reason: format!("{CA_PREVIOUS} cannot be parsed: {e}"),
            }),
            Ok(certs) => {
                for p in certs {
                    let reason = if p.is_expired(now) {
                        Some(format!("it expired at {}", p.not_after))
                    } else if !p.is_ca {
                        Some("it is not a CA certificate".into())
                    } else if old_ca_ok.is_some_and(|c| c.der() == p.der())
                        || previous.iter().any(|q| q.der() == p.der())
                    {
                        Some("duplicate".into())
                    } else if settled {
                        Some(format!(
                            "{TLS_CRT} has been signed by the current CA since {}, longer than the overlap of {}",
                            settled_since.unwrap_or(now),
                            format_duration(cfg.ca_overlap)
                        ))
                    } else {
                        None
                    };
                    match reason {
                        Some(reason) => dropped.push(DroppedCa {
                            cert: Some(p),
                            reason,
                        }),
                        None => previous.push(p),
                    }
                }
            }
        }
    }
    if let CaState::Replace {
        keep_old: Some(old),
        ..
    } = &ca_state
    {
        previous.retain(|p| p.der() != old.der());
        previous.insert(0, old.clone());
    }

    let secret = if existing.is_none() {
        SecretWrite::Create
    } else if ca_action != CaAction::Keep
        || serving_action != ServingAction::Keep
        || !dropped.is_empty()
    {
        SecretWrite::Update
    } else {
        SecretWrite::None
    };

    let current = match &ca_state {
        CaState::Usable(ca, _) => BundleEntry::Existing(ca.clone()),
        CaState::Replace { .. } => BundleEntry::NewCa,
    };
    let bundle: Vec<BundleEntry> = std::iter::once(current)
        .chain(previous.iter().cloned().map(BundleEntry::Existing))
        .collect();

    let mut plan = Plan {
        ca: ca_action,
        serving: serving_action,
        previous,
        dropped,
        secret,
        bundle,
        patches: Vec::new(),
        kept_ca,
        kept_serving,
    };
    let known = plan.known_bundle();
    plan.patches = webhook_patches(webhooks, known.as_deref().map(str::as_bytes));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::webpki_verify;

    const SVC: &str = "gko-webhook";
    const NS: &str = "gko";
    const HOST: &str = "gko-webhook.gko.svc";

    fn t0() -> OffsetDateTime {
        // Whole seconds, like certificate times.
        OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap()
    }

    fn cfg() -> CertConfig {
        let mut c = CertConfig::new(SVC, NS);
        c.ca_validity = Duration::days(300);
        c.serving_validity = Duration::days(30);
        c.backdate = Duration::ZERO;
        c.ca_overlap = Duration::hours(1);
        c
    }

    fn webhooks(bundle: Option<&str>) -> Vec<WebhookConfigState> {
        let wh = |name: &str| WebhookState {
            name: name.into(),
            ca_bundle: bundle.map(|b| b.as_bytes().to_vec()),
        };
        vec![
            WebhookConfigState {
                kind: WebhookKind::Validating,
                name: "gko-validating".into(),
                webhooks: vec![wh("a.gko.io"), wh("b.gko.io")],
            },
            WebhookConfigState {
                kind: WebhookKind::Mutating,
                name: "gko-mutating".into(),
                webhooks: vec![wh("m.gko.io")],
            },
        ]
    }

    /// Runs plan + materialize like `ensure` does and returns the new Secret + caBundle.
    fn run(
        existing: Option<&SecretMaterial>,
        now: OffsetDateTime,
        c: &CertConfig,
    ) -> (Plan, Materialized) {
        let p = plan(existing, &webhooks(None), now, c).unwrap();
        let m = p.materialize(now, c).unwrap();
        (p, m)
    }

    fn info(pem: &Option<String>) -> CertInfo {
        CertInfo::from_pem(pem.as_deref().unwrap()).unwrap()
    }

    fn bundle_subjects(bundle: &str) -> Vec<String> {
        crate::pki::parse_pem_bundle(bundle)
            .unwrap()
            .into_iter()
            .map(|c| c.subject)
            .collect()
    }

    #[test]
    fn no_secret_creates_everything_and_patches_every_webhook() {
        let c = cfg();
        let p = plan(None, &webhooks(None), t0(), &c).unwrap();
        assert!(matches!(p.ca, CaAction::Create { .. }));
        assert!(matches!(p.serving, ServingAction::Issue { .. }));
        assert_eq!(p.secret, SecretWrite::Create);
        assert_eq!(p.bundle, vec![BundleEntry::NewCa]);
        assert_eq!(p.known_bundle(), None);
        assert_eq!(p.patches.len(), 2);
        assert_eq!(p.patches[0].webhooks, vec!["a.gko.io", "b.gko.io"]);
        assert_eq!(p.patches[1].kind, WebhookKind::Mutating);
        assert!(!p.is_noop());

        let m = p.materialize(t0(), &c).unwrap();
        let s = &m.secret;
        assert!(s.ca_previous.is_none());
        let ca = info(&s.ca_crt);
        let leaf = info(&s.tls_crt);
        assert!(ca.is_ca && leaf.is_signed_by(&ca));
        assert_eq!(leaf.sans, c.desired_sans());
        assert_eq!(m.ca_bundle, ca.to_pem());
        assert!(webpki_verify(
            s.tls_crt.as_deref().unwrap(),
            &m.ca_bundle,
            HOST,
            t0()
        ));
        assert!(webpki_verify(
            s.tls_crt.as_deref().unwrap(),
            &m.ca_bundle,
            "gko-webhook.gko.svc.cluster.local",
            t0()
        ));
        // The serving cert is due first: 2/3 of 30 days.
        assert_eq!(
            m.next_action_at,
            t0() + Duration::days(20) + Duration::SECOND
        );
    }

    #[test]
    fn second_run_is_a_noop() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let later = t0() + Duration::days(5);
        let p = plan(Some(&m.secret), &webhooks(Some(&m.ca_bundle)), later, &c).unwrap();
        assert_eq!(p.ca, CaAction::Keep);
        assert_eq!(p.serving, ServingAction::Keep);
        assert_eq!(p.secret, SecretWrite::None);
        assert!(p.patches.is_empty());
        assert!(p.is_noop());
        assert_eq!(p.known_bundle().as_deref(), Some(m.ca_bundle.as_str()));
        assert!(p.steps("gko/x").is_empty());
        // Materializing a no-op plan returns the very same material.
        let again = p.materialize(later, &c).unwrap();
        assert_eq!(again.secret, m.secret);
        assert_eq!(again.ca_bundle, m.ca_bundle);
    }

    #[test]
    fn wrong_or_missing_bundle_only_patches_those_webhooks() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let mut hooks = webhooks(Some(&m.ca_bundle));
        hooks[0].webhooks[1].ca_bundle = None;
        hooks[1].webhooks[0].ca_bundle = Some(b"stale".to_vec());
        let p = plan(Some(&m.secret), &hooks, t0(), &c).unwrap();
        assert_eq!(p.secret, SecretWrite::None);
        assert_eq!(
            p.patches,
            vec![
                WebhookPatch {
                    kind: WebhookKind::Validating,
                    config: "gko-validating".into(),
                    webhooks: vec!["b.gko.io".into()]
                },
                WebhookPatch {
                    kind: WebhookKind::Mutating,
                    config: "gko-mutating".into(),
                    webhooks: vec!["m.gko.io".into()]
                },
            ]
        );
    }

    #[test]
    fn serving_renewed_when_less_than_a_third_left() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let leaf = info(&m.secret.tls_crt);
        // 30 days of life: renewed once less than 10 days are left.
        let just_before = leaf.not_after - Duration::days(10);
        let p = plan(
            Some(&m.secret),
            &webhooks(Some(&m.ca_bundle)),
            just_before,
            &c,
        )
        .unwrap();
        assert_eq!(p.serving, ServingAction::Keep);
        let after = just_before + Duration::SECOND;
        let p = plan(Some(&m.secret), &webhooks(Some(&m.ca_bundle)), after, &c).unwrap();
        assert!(matches!(&p.serving, ServingAction::Issue { reason } if reason.contains("third")));
        assert_eq!(p.ca, CaAction::Keep);
        assert_eq!(p.secret, SecretWrite::Update);
        assert!(
            p.patches.is_empty(),
            "same CA: the caBundle does not change"
        );

        let m2 = p.materialize(after, &c).unwrap();
        assert_eq!(m2.secret.ca_crt, m.secret.ca_crt);
        assert_eq!(m2.secret.ca_key, m.secret.ca_key);
        assert_ne!(m2.secret.tls_crt, m.secret.tls_crt);
        assert_ne!(
            m2.secret.tls_key, m.secret.tls_key,
            "a new key for every renewal"
        );
        assert_eq!(
            info(&m2.secret.tls_crt).not_after,
            after + Duration::days(30)
        );
        assert!(webpki_verify(
            m2.secret.tls_crt.as_deref().unwrap(),
            &m.ca_bundle,
            HOST,
            after
        ));

        // Expired is renewed too.
        let p = plan(
            Some(&m.secret),
            &webhooks(Some(&m.ca_bundle)),
            leaf.not_after + Duration::days(1),
            &c,
        )
        .unwrap();
        assert!(
            matches!(&p.serving, ServingAction::Issue { reason } if reason.contains("expired"))
        );
    }

    #[test]
    fn serving_renewed_when_sans_change() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let mut c2 = c.clone();
        c2.extra_sans = vec!["127.0.0.1".parse().unwrap()];
        let p = plan(Some(&m.secret), &webhooks(Some(&m.ca_bundle)), t0(), &c2).unwrap();
        match &p.serving {
            ServingAction::Issue { reason } => {
                assert!(reason.contains("missing IP:127.0.0.1"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let m2 = p.materialize(t0(), &c2).unwrap();
        assert!(webpki_verify(
            m2.secret.tls_crt.as_deref().unwrap(),
            &m2.ca_bundle,
            "127.0.0.1",
            t0()
        ));

        // Removing the extra SAN renews again ("unexpected").
        let p = plan(Some(&m2.secret), &webhooks(Some(&m2.ca_bundle)), t0(), &c).unwrap();
        assert!(
            matches!(&p.serving, ServingAction::Issue { reason } if reason.contains("unexpected IP:127.0.0.1"))
        );

        // Another service name.
        let c3 = CertConfig {
            service: "other".into(),
            ..c.clone()
        };
        let p = plan(Some(&m.secret), &webhooks(Some(&m.ca_bundle)), t0(), &c3).unwrap();
        assert!(matches!(p.serving, ServingAction::Issue { .. }));
    }

    #[test]
    fn broken_serving_material_is_reissued() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let hooks = webhooks(Some(&m.ca_bundle));
        let reason = |s: &SecretMaterial| match plan(Some(s), &hooks, t0(), &c).unwrap().serving {
            ServingAction::Issue { reason } => reason,
            ServingAction::Keep => panic!("kept"),
        };
        let mut s = m.secret.clone();
        s.tls_key = None;
        assert!(reason(&s).contains("no tls.key"));
        let mut s = m.secret.clone();
        s.tls_key = m.secret.ca_key.clone();
        assert!(reason(&s).contains("does not match"));
        let mut s = m.secret.clone();
        s.tls_crt = Some("garbage".into());
        assert!(reason(&s).contains("cannot be used"));
        // Signed by another CA (e.g. restored from an old backup).
        let (_, other) = run(None, t0(), &c);
        let mut s = m.secret.clone();
        s.tls_crt = other.secret.tls_crt.clone();
        s.tls_key = other.secret.tls_key.clone();
        assert!(reason(&s).contains("not signed by the current CA"));
    }

    #[test]
    fn ca_rotation_keeps_old_and_new_then_drops_the_old() {
        let c = cfg(); // CA 300 days, serving 30 days, overlap 1h
        let (_, m1) = run(None, t0(), &c);
        let ca1 = info(&m1.secret.ca_crt);
        let serving1 = m1.secret.tls_crt.clone().unwrap();

        // Keep the serving certificate fresh up to the CA threshold, as periodic runs would.
        let before = ca1.renewal_due_at();
        let mut secret = m1.secret.clone();
        let p = plan(
            Some(&secret),
            &webhooks(Some(&m1.ca_bundle)),
            before - Duration::days(1),
            &c,
        )
        .unwrap();
        assert_eq!(p.ca, CaAction::Keep);
        secret = p
            .materialize(before - Duration::days(1), &c)
            .unwrap()
            .secret;
        let p = plan(Some(&secret), &webhooks(Some(&m1.ca_bundle)), before, &c).unwrap();
        assert_eq!(p.ca, CaAction::Keep, "exactly a third left is still fine");

        // Rotation.
        let t = before + Duration::SECOND;
        let p = plan(Some(&secret), &webhooks(Some(&m1.ca_bundle)), t, &c).unwrap();
        assert!(
            matches!(&p.ca, CaAction::Rotate { reason } if reason.contains("third")),
            "{:?}",
            p.ca
        );
        assert!(matches!(p.serving, ServingAction::Issue { .. }));
        assert_eq!(p.previous, vec![ca1.clone()]);
        assert_eq!(
            p.bundle,
            vec![BundleEntry::NewCa, BundleEntry::Existing(ca1.clone())]
        );
        assert_eq!(p.patches.len(), 2, "every webhook gets old+new");
        assert_eq!(p.secret, SecretWrite::Update);
        let steps = p.steps("gko/cert");
        assert!(steps[0].starts_with("rotate CA"), "{steps:?}");
        let m2 = p.materialize(t, &c).unwrap();
        let ca2 = info(&m2.secret.ca_crt);
        assert_ne!(ca2, ca1);
        assert_eq!(
            bundle_subjects(&m2.ca_bundle),
            vec![ca2.subject.clone(), ca1.subject.clone()]
        );
        assert_eq!(
            m2.secret.ca_previous.as_deref(),
            Some(ca1.to_pem().as_str())
        );
        // No request fails: the old serving cert (still served until pods reload) and the new one
        // both verify against the bundle.
        let old_serving = secret.tls_crt.clone().unwrap();
        assert!(webpki_verify(&old_serving, &m2.ca_bundle, HOST, t));
        assert!(webpki_verify(
            m2.secret.tls_crt.as_deref().unwrap(),
            &m2.ca_bundle,
            HOST,
            t
        ));
        assert!(!webpki_verify(&serving1, &ca2.to_pem(), HOST, t0()));
        // The next action is dropping the old CA after the overlap.
        assert_eq!(m2.next_action_at, t + c.ca_overlap + Duration::SECOND);

        // A run within the overlap keeps both and writes nothing.
        let hooks2 = webhooks(Some(&m2.ca_bundle));
        let t2 = t + Duration::minutes(30);
        let p = plan(Some(&m2.secret), &hooks2, t2, &c).unwrap();
        assert!(p.is_noop(), "{:?}", p.steps("s"));
        assert_eq!(p.previous, vec![ca1.clone()]);

        // After the overlap the old CA goes: Secret updated, webhooks patched to the new CA only.
        let t3 = t + Duration::hours(1);
        let p = plan(Some(&m2.secret), &hooks2, t3, &c).unwrap();
        assert_eq!(p.ca, CaAction::Keep);
        assert_eq!(p.serving, ServingAction::Keep);
        assert_eq!(p.dropped.len(), 1);
        assert_eq!(p.dropped[0].cert.as_ref(), Some(&ca1));
        assert!(p.previous.is_empty());
        assert_eq!(p.secret, SecretWrite::Update);
        assert_eq!(p.known_bundle(), Some(ca2.to_pem()));
        assert_eq!(p.patches.len(), 2);
        let m3 = p.materialize(t3, &c).unwrap();
        assert_eq!(m3.secret.ca_previous, None);
        assert_eq!(m3.ca_bundle, ca2.to_pem());
        assert_eq!(m3.secret.tls_crt, m2.secret.tls_crt);

        // And then it is stable.
        let p = plan(Some(&m3.secret), &webhooks(Some(&m3.ca_bundle)), t3, &c).unwrap();
        assert!(p.is_noop());
    }

    #[test]
    fn previous_ca_dropped_when_expired_even_within_overlap() {
        let mut c = cfg();
        c.ca_overlap = Duration::days(1000);
        let (_, m1) = run(None, t0(), &c);
        let ca1 = info(&m1.secret.ca_crt);
        let t = ca1.renewal_due_at() + Duration::SECOND;
        let (p, m2) = run(Some(&m1.secret), t, &c);
        assert!(matches!(p.ca, CaAction::Rotate { .. }));
        let p = plan(
            Some(&m2.secret),
            &webhooks(Some(&m2.ca_bundle)),
            t + Duration::days(15),
            &c,
        )
        .unwrap();
        assert!(p.is_noop(), "old CA still valid and overlap long");
        let p = plan(
            Some(&m2.secret),
            &webhooks(Some(&m2.ca_bundle)),
            ca1.not_after,
            &c,
        )
        .unwrap();
        assert_eq!(p.dropped.len(), 1);
        assert!(p.dropped[0].reason.contains("expired"));
    }

    #[test]
    fn previous_ca_kept_while_serving_cert_is_not_from_the_current_ca() {
        // A second rotation before the first one settled keeps both older CAs.
        let c = cfg();
        let (_, m1) = run(None, t0(), &c);
        let ca1 = info(&m1.secret.ca_crt);
        let t = ca1.renewal_due_at() + Duration::SECOND;
        let (_, m2) = run(Some(&m1.secret), t, &c);
        let ca2 = info(&m2.secret.ca_crt);
        // Someone restored the old serving cert; also ca.key got lost -> rotate again.
        let mut s = m2.secret.clone();
        s.tls_crt = m1.secret.tls_crt.clone();
        s.tls_key = m1.secret.tls_key.clone();
        s.ca_key = None;
        let t2 = t + Duration::days(1);
        let p = plan(Some(&s), &webhooks(None), t2, &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Rotate { reason } if reason.contains("ca.key")));
        assert_eq!(p.previous, vec![ca2, ca1], "ca1 still signs tls.crt: kept");
        assert!(p.dropped.is_empty());
    }

    #[test]
    fn unusable_ca_material() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let ca = info(&m.secret.ca_crt);
        let hooks = webhooks(Some(&m.ca_bundle));

        // Missing key: rotate, keep the old certificate trusted.
        let mut s = m.secret.clone();
        s.ca_key = None;
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Rotate { reason } if reason.contains("ca.key")));
        assert_eq!(p.previous, vec![ca.clone()]);

        // Key of another certificate.
        let mut s = m.secret.clone();
        s.ca_key = m.secret.tls_key.clone();
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Rotate { reason } if reason.contains("does not match")));

        // Garbage or a non-CA certificate: start over, nothing to keep.
        let mut s = m.secret.clone();
        s.ca_crt = Some("not a cert".into());
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        assert!(matches!(p.ca, CaAction::Create { .. }));
        assert!(p.previous.is_empty());
        let mut s = m.secret.clone();
        s.ca_crt = m.secret.tls_crt.clone();
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Create { reason } if reason.contains("not a CA")));

        // Expired CA: nothing worth keeping.
        let p = plan(Some(&m.secret), &hooks, ca.not_after, &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Create { reason } if reason.contains("expired")));

        // A Secret without our keys (e.g. made empty by hand) is filled in.
        let p = plan(Some(&SecretMaterial::default()), &hooks, t0(), &c).unwrap();
        assert!(matches!(&p.ca, CaAction::Create { reason } if reason.contains("no ca.crt")));
        assert_eq!(p.secret, SecretWrite::Update);

        // Unparseable ca-previous.crt is dropped.
        let mut s = m.secret.clone();
        s.ca_previous = Some("junk".into());
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        let dropped_all = p.dropped.len() == 1 && p.dropped[0].cert.is_none();
        // "junk" has no PEM block at all: nothing parsed, nothing to drop, but also nothing kept.
        assert!(dropped_all || (p.dropped.is_empty() && p.previous.is_empty()));
        // A duplicate of the current CA in ca-previous.crt is dropped.
        let mut s = m.secret.clone();
        s.ca_previous = Some(ca.to_pem());
        let p = plan(Some(&s), &hooks, t0(), &c).unwrap();
        assert_eq!(p.dropped.len(), 1);
        assert_eq!(p.dropped[0].reason, "duplicate");
    }

    #[test]
    fn short_ca_clamps_serving_and_does_not_loop() {
        let mut c = cfg();
        c.ca_validity = Duration::days(3);
        c.serving_validity = Duration::days(365);
        let (_, m) = run(None, t0(), &c);
        assert_eq!(
            info(&m.secret.tls_crt).not_after,
            info(&m.secret.ca_crt).not_after
        );
        let p = plan(
            Some(&m.secret),
            &webhooks(Some(&m.ca_bundle)),
            t0() + Duration::days(1),
            &c,
        )
        .unwrap();
        assert!(p.is_noop());
    }

    #[test]
    fn config_validation() {
        let mut c = cfg();
        c.backdate = Duration::minutes(5);
        c.serving_validity = Duration::minutes(5);
        assert!(plan(None, &[], t0(), &c).is_err());
        let mut c = cfg();
        c.service = "Not Valid".into();
        assert!(matches!(plan(None, &[], t0(), &c), Err(Error::Config(_))));
        let mut c = cfg();
        c.ca_overlap = Duration::seconds(-1);
        assert!(plan(None, &[], t0(), &c).is_err());
    }

    #[test]
    fn secret_material_round_trip_and_redaction() {
        let c = cfg();
        let (_, m) = run(None, t0(), &c);
        let data: BTreeMap<String, Vec<u8>> = m
            .secret
            .to_data()
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            vec!["ca.crt", "ca.key", "tls.crt", "tls.key"]
        );
        assert_eq!(SecretMaterial::from_data(&data), m.secret);
        let debug = format!("{:?} {:?}", m.secret, m);
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
    }
}
