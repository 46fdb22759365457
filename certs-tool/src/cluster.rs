//! Kubernetes I/O: read the Secret and webhook configurations, apply a [`Plan`].

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use time::OffsetDateTime;
use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::pki::CertAndKey;
use crate::plan::{
    plan, webhook_patches, CertConfig, Plan, SecretMaterial, SecretWrite, WebhookConfigState,
    WebhookKind, WebhookPatch, WebhookState,
};

/// Secret type we create and require.
pub const SECRET_TYPE_TLS: &str = "kubernetes.io/tls";
/// Field manager of our writes.
pub const DEFAULT_FIELD_MANAGER: &str = "certs-tool";
const MAX_ATTEMPTS: u32 = 5;

/// Everything `ensure`/`check` need: where the Secret lives, which webhook configurations to
/// patch, and the certificate settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsureConfig {
    /// Name of the `kubernetes.io/tls` Secret, in `certs.namespace`.
    pub secret_name: String,
    /// Names of ValidatingWebhookConfigurations and/or MutatingWebhookConfigurations.
    pub webhook_configs: Vec<String>,
    pub certs: CertConfig,
    pub field_manager: String,
}

impl EnsureConfig {
    pub fn new(
        service: impl Into<String>,
        namespace: impl Into<String>,
        secret_name: impl Into<String>,
        webhook_configs: Vec<String>,
    ) -> Self {
        EnsureConfig {
            secret_name: secret_name.into(),
            webhook_configs,
            certs: CertConfig::new(service, namespace),
            field_manager: DEFAULT_FIELD_MANAGER.into(),
        }
    }

    /// `namespace/name` of the Secret, for messages.
    pub fn secret_ref(&self) -> String {
        format!("{}/{}", self.certs.namespace, self.secret_name)
    }
}

/// What was read from the cluster.
#[derive(Clone, Debug)]
pub struct ClusterState {
    pub secret: Option<Secret>,
    pub material: Option<SecretMaterial>,
    pub webhooks: Vec<WebhookConfigState>,
}

/// The result of [`ensure`]: what was done and the material now in force.
#[derive(Clone, Debug)]
pub struct EnsureOutcome {
    pub plan: Plan,
    pub secret_written: bool,
    pub patched: Vec<WebhookPatch>,
    /// PEM caBundle now in the webhooks (current CA, then previous ones).
    pub ca_bundle: String,
    /// The current CA certificate (PEM); its key stays in the Secret.
    pub ca_cert_pem: String,
    /// The serving certificate and key to serve with.
    pub serving: CertAndKey,
    /// When calling [`ensure`] again will next have something to do.
    pub next_action_at: OffsetDateTime,
}

/// Reads the Secret and every named webhook configuration (each looked up as both kinds).
pub async fn read_state(client: &Client, cfg: &EnsureConfig) -> Result<ClusterState> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &cfg.certs.namespace);
    let secret = secrets
        .get_opt(&cfg.secret_name)
        .await
        .map_err(|e| Error::kube(format!("reading Secret {}", cfg.secret_ref()), e))?;
    if let Some(s) = &secret {
        let actual = s.type_.clone().unwrap_or_else(|| "Opaque".into());
        if actual != SECRET_TYPE_TLS {
            return Err(Error::SecretType {
                namespace: cfg.certs.namespace.clone(),
                name: cfg.secret_name.clone(),
                actual,
            });
        }
    }
    let material = secret.as_ref().map(|s| {
        let data: BTreeMap<String, Vec<u8>> = s
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        SecretMaterial::from_data(&data)
    });

    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut webhooks = Vec::new();
    let mut seen = BTreeSet::new();
    for name in &cfg.webhook_configs {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let mut found = false;
        if let Some(v) = validating
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading ValidatingWebhookConfiguration {name}"), e))?
        {
            found = true;
            webhooks.push(WebhookConfigState {
                kind: WebhookKind::Validating,
                name: name.clone(),
                webhooks: v
                    .webhooks
                    .into_iter()
                    .flatten()
                    .map(|w| WebhookState {
                        name: w.name,
                        ca_bundle: w.client_config.ca_bundle.map(|b| b.0),
                    })
                    .collect(),
            });
        }
        if let Some(m) = mutating
            .get_opt(name)
            .await
            .map_err(|e| Error::kube(format!("reading MutatingWebhookConfiguration {name}"), e))?
        {
            found = true;
            webhooks.push(WebhookConfigState {
                kind: WebhookKind::Mutating,
                name: name.clone(),
                webhooks: m
                    .webhooks
                    .into_iter()
                    .flatten()
                    .map(|w| WebhookState {
                        name: w.name,
                        ca_bundle: w.client_config.ca_bundle.map(|b| b.0),
                    })
                    .collect(),
            });
        }
        if !found {
            return Err(Error::WebhookConfigNotFound(name.clone()));
        }
    }
    Ok(ClusterState {
        secret,
        material,
        webhooks,
    })
}

/// Reads the cluster and plans, writing nothing (what `certs-tool check` prints).
pub async fn check(client: &Client, cfg: &EnsureConfig) -> Result<Plan> {
    check_at(client, cfg, OffsetDateTime::now_utc()).await
}

/// [`check`] judging expiry at `now`.
pub async fn check_at(client: &Client, cfg: &EnsureConfig, now: OffsetDateTime) -> Result<Plan> {
    let state = read_state(client, cfg).await?;
    plan(state.material.as_ref(), &state.webhooks, now, &cfg.certs)
}

/// Makes the cluster match `cfg`: creates or reuses the CA and serving certificate, renews or
/// rotates them when due, stores them in the Secret and patches every webhook's caBundle.
/// Idempotent: when nothing is due it writes nothing. Retries when a concurrent writer wins.
pub async fn ensure(client: &Client, cfg: &EnsureConfig) -> Result<EnsureOutcome> {
    ensure_at(client, cfg, OffsetDateTime::now_utc()).await
}

/// [`ensure`] judging expiry at `now` (new certificates start at `now` too).
pub async fn ensure_at(
    client: &Client,
    cfg: &EnsureConfig,
    now: OffsetDateTime,
) -> Result<EnsureOutcome> {
    cfg.certs.validate()?;
    for attempt in 1..=MAX_ATTEMPTS {
        let state = read_state(client, cfg).await?;
        let plan = plan(state.material.as_ref(), &state.webhooks, now, &cfg.certs)?;
        match apply(client, cfg, &state, &plan, now).await {
            Err(e) if e.is_conflict() && attempt < MAX_ATTEMPTS => {
                warn!(attempt, error = %e, "concurrent change, re-reading and planning again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await;
            }
            other => return other,
        }
    }
    Err(Error::TooManyConflicts(MAX_ATTEMPTS))
}

/// Carries out `plan` against the state it was made from: generates what is new, patches the
/// webhooks' caBundle first (so that during a CA change old and new CA are trusted before any
/// certificate of the new CA is published), then writes the Secret (optimistic lock on its
/// resourceVersion).
pub async fn apply(
    client: &Client,
    cfg: &EnsureConfig,
    state: &ClusterState,
    plan: &Plan,
    now: OffsetDateTime,
) -> Result<EnsureOutcome> {
    let secret_ref = cfg.secret_ref();
    for step in plan.steps(&secret_ref) {
        info!(secret = %secret_ref, "{step}");
    }
    if plan.is_noop() {
        debug!(secret = %secret_ref, "certificates and caBundles are up to date");
    }
    let material = plan.materialize(now, &cfg.certs)?;
    let bundle = material.ca_bundle.as_bytes();

    let patches = webhook_patches(&state.webhooks, Some(bundle));
    for p in &patches {
        patch_ca_bundle(client, cfg, p, bundle).await?;
        info!(kind = %p.kind, name = %p.config, webhooks = ?p.webhooks, "patched caBundle");
    }

    let secret_written = match plan.secret {
        SecretWrite::None => false,
        SecretWrite::Create => {
            create_secret(client, cfg, &material.secret).await?;
            info!(secret = %secret_ref, "created Secret");
            true
        }
        SecretWrite::Update => {
            let Some(existing) = &state.secret else {
                return Err(Error::Config(format!(
                    "internal: plan updates Secret {secret_ref} that was not read"
                )));
            };
            update_secret(client, cfg, existing, &material.secret).await?;
            info!(secret = %secret_ref, "updated Secret");
            true
        }
    };

    Ok(EnsureOutcome {
        plan: plan.clone(),
        secret_written,
        patched: patches,
        ca_bundle: material.ca_bundle.clone(),
        ca_cert_pem: material.ca.cert_pem.clone(),
        serving: material.serving.clone(),
        next_action_at: material.next_action_at,
    })
}

/// Strategic merge keyed by webhook name: only `clientConfig.caBundle` of the listed webhooks
/// changes; rules, selectors, url/service and other webhooks stay as they are.
async fn patch_ca_bundle(
    client: &Client,
    cfg: &EnsureConfig,
    p: &WebhookPatch,
    bundle: &[u8],
) -> Result<()> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bundle);
    let body = serde_json::json!({
        "webhooks": p.webhooks.iter().map(|name| serde_json::json!({
            "name": name,
            "clientConfig": { "caBundle": b64 },
        })).collect::<Vec<_>>(),
    });
    let params = PatchParams {
        field_manager: Some(cfg.field_manager.clone()),
        ..Default::default()
    };
    let action = format!("patching caBundle of {}/{}", p.kind, p.config);
    match p.kind {
        WebhookKind::Validating => {
            let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
            api.patch(&p.config, &params, &Patch::Strategic(body))
                .await
                .map_err(|e| Error::kube(action, e))?;
        }
        WebhookKind::Mutating => {
            let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
            api.patch(&p.config, &params, &Patch::Strategic(body))
                .await
                .map_err(|e| Error::kube(action, e))?;
        }
    }
    Ok(())
}

fn set_material(data: &mut BTreeMap<String, ByteString>, material: &SecretMaterial) {
    for (key, value) in material.to_data() {
        match value {
            Some(v) => {
                data.insert(key.to_string(), ByteString(v));
            }
            None => {
                data.remove(key);
            }
        }
    }
}

async fn create_secret(
    client: &Client,
    cfg: &EnsureConfig,
    material: &SecretMaterial,
) -> Result<()> {
    let mut data = BTreeMap::new();
    set_material(&mut data, material);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(cfg.secret_name.clone()),
            namespace: Some(cfg.certs.namespace.clone()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_string(),
                "certs-tool".to_string(),
            )])),
            ..Default::default()
        },
        type_: Some(SECRET_TYPE_TLS.into()),
        data: Some(data),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), &cfg.certs.namespace);
    let params = PostParams {
        field_manager: Some(cfg.field_manager.clone()),
        ..Default::default()
    };
    api.create(&params, &secret)
        .await
        .map_err(|e| Error::kube(format!("creating Secret {}", cfg.secret_ref()), e))?;
    Ok(())
}

/// Replaces the Secret we read, keeping its metadata and any other data keys; the
/// resourceVersion we read makes a concurrent change fail with 409 instead of being overwritten.
async fn update_secret(
    client: &Client,
    cfg: &EnsureConfig,
    existing: &Secret,
    material: &SecretMaterial,
) -> Result<()> {
    let mut secret = existing.clone();
    let mut data = secret.data.take().unwrap_or_default();
    set_material(&mut data, material);
    secret.data = Some(data);
    secret.string_data = None;
    secret.metadata.managed_fields = None;
    let api: Api<Secret> = Api::namespaced(client.clone(), &cfg.certs.namespace);
    let params = PostParams {
        field_manager: Some(cfg.field_manager.clone()),
        ..Default::default()
    };
    api.replace(&cfg.secret_name, &params, &secret)
        .await
        .map_err(|e| Error::kube(format!("updating Secret {}", cfg.secret_ref()), e))?;
    Ok(())
}
