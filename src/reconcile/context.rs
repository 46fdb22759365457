//! Resolving a ManagementContext (and the Secret holding its credentials) into an [`apim::Target`].
//!
//! Targets are cached per context (keyed by the context's uid and generation); a change of the Secret
//! invalidates the entries that use it (see [`TargetCache::invalidate_secret`]). Secret values only ever live
//! in the [`Credentials`] of a target, which never prints them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::Client;

use super::payload;
use crate::apim::{Credentials, Target};
use crate::crd::management_context::ManagementContextSpec;
use crate::crd::ManagementContext;
use crate::model::cloud;
use crate::model::ObjectKey;

/// Why a context cannot be turned into a target.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The context itself is incomplete or wrong (fix the context).
    #[error("{0}")]
    Invalid(String),
    /// Its credentials Secret (or a key of it) is missing.
    #[error("{0}")]
    SecretMissing(String),
    /// A ConfigMap (or a key of it) one of its templates names is missing.
    #[error("{0}")]
    ConfigMapMissing(String),
    /// The Kubernetes API failed while reading the Secret.
    #[error("cannot read Secret {key}: {source}")]
    Kube {
        key: ObjectKey,
        #[source]
        source: kube::Error,
    },
}

/// A resolved context: the target and its identity (for hashes: URL, prefix, org, env — no credentials).
#[derive(Clone, Debug)]
pub struct Resolved {
    pub key: ObjectKey,
    pub target: Target,
    pub identity: String,
}

/// The key of the context an object lives in (`namespace/name`).
pub fn key_of(context: &ManagementContext) -> ObjectKey {
    ObjectKey::new(
        context.metadata.namespace.clone().unwrap_or_default(),
        context.metadata.name.clone().unwrap_or_default(),
    )
}

/// The Secret a context reads its credentials from, if any: the cloud token's Secret for a Gravitee Cloud
/// context, else `auth.secretRef`'s.
pub fn secret_of(context: &ManagementContext) -> Option<ObjectKey> {
    let ns = context.metadata.namespace.as_deref().unwrap_or_default();
    let reference = match context.spec.enabled_cloud() {
        Some(cloud) => cloud.secret_ref.as_ref()?,
        None => context.spec.auth.as_ref()?.secret_ref.as_ref()?,
    };
    (!reference.name.is_empty())
        .then(|| ObjectKey::new(reference.namespace_or(ns), reference.name.clone()))
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(v.0.clone())
            .ok()
            .map(|s| s.trim_end_matches(['\n', '\r']).to_owned());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

/// Where and how to reach APIM, before the target is built.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    base_url: String,
    org: String,
    env: String,
    path: Option<String>,
    credentials: Credentials,
}

/// A Gravitee Cloud context's endpoint, from its token (as GKO): the cloud gate of the token's region unless
/// `baseUrl` is set, the token's organization, `environmentId` (or the token's only environment), the
/// `/apim/rest` prefix unless `path` is set, and the token as bearer token.
fn cloud_endpoint(spec: &ManagementContextSpec, token: &str) -> Result<Endpoint, ContextError> {
    let invalid = |e: cloud::CloudError| ContextError::Invalid(e.to_string());
    let claims = cloud::decode(token).map_err(invalid)?;
    let env = cloud::environment(&claims, spec.environment_id.as_deref()).map_err(invalid)?;
    let base_url = spec
        .base_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| claims.base_url());
    Ok(Endpoint {
        base_url,
        org: claims.org,
        env,
        path: Some(
            spec.path
                .clone()
                .unwrap_or_else(|| cloud::CLOUD_BASE_PATH.to_owned()),
        ),
        credentials: Credentials::Bearer(token.trim().to_owned()),
    })
}

/// An ordinary context's endpoint; `secret` is its `auth.secretRef` Secret, read.
fn plain_endpoint(
    spec: &ManagementContextSpec,
    secret: Option<(&ObjectKey, &Secret)>,
) -> Result<Endpoint, ContextError> {
    let base_url = spec
        .base_url
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ContextError::Invalid("spec.baseUrl is not set".into()))?;
    let auth = spec
        .auth
        .as_ref()
        .ok_or_else(|| ContextError::Invalid("spec.auth is not set".into()))?;
    let credentials = match secret {
        Some((key, secret)) => Credentials::from_parts(
            secret_value(secret, "bearerToken"),
            secret_value(secret, "username"),
            secret_value(secret, "password"),
        )
        .map_err(|e| ContextError::SecretMissing(format!("Secret {key}: {e}")))?,
        None => {
            let basic = auth.credentials.as_ref();
            Credentials::from_parts(
                auth.bearer_token.clone(),
                basic.and_then(|c| c.username.clone()),
                basic.and_then(|c| c.password.clone()),
            )
            .map_err(|e| ContextError::Invalid(e.to_string()))?
        }
    };
    Ok(Endpoint {
        base_url: base_url.to_owned(),
        org: spec.organization_id.clone().unwrap_or_default(),
        env: spec.environment_id.clone().unwrap_or_default(),
        path: spec.path.clone(),
        credentials,
    })
}

/// The context's spec with its `[[ secret ]]` / `[[ configmap ]]` templates replaced by their values (read
/// live, as for ApiDefinitions), e.g. a `baseUrl` kept in a ConfigMap.
async fn with_templates_resolved(
    client: &Client,
    context: &ManagementContext,
) -> Result<ManagementContextSpec, ContextError> {
    let ns = context.metadata.namespace.as_deref().unwrap_or_default();
    let invalid = |e: &dyn std::fmt::Display| ContextError::Invalid(e.to_string());
    let mut value = serde_json::to_value(&context.spec).map_err(|e| invalid(&e))?;
    let keys = payload::template_keys(&value, ns).map_err(|e| invalid(&e))?;
    if keys.is_empty() {
        return Ok(context.spec.clone());
    }
    let mut values = BTreeMap::new();
    for key in keys {
        let object = ObjectKey::new(key.namespace.clone(), key.name.clone());
        let kube_error = |source| ContextError::Kube {
            key: object.clone(),
            source,
        };
        let found = if key.secret {
            Api::<Secret>::namespaced(client.clone(), &key.namespace)
                .get_opt(&key.name)
                .await
                .map_err(kube_error)?
                .and_then(|s| secret_value(&s, &key.key))
        } else {
            Api::<ConfigMap>::namespaced(client.clone(), &key.namespace)
                .get_opt(&key.name)
                .await
                .map_err(kube_error)?
                .and_then(|c| c.data?.get(&key.key).cloned())
        };
        let missing = format!("the template refers to {key}, which does not exist");
        let found = match (found, key.secret) {
            (Some(v), _) => v,
            (None, true) => return Err(ContextError::SecretMissing(missing)),
            (None, false) => return Err(ContextError::ConfigMapMissing(missing)),
        };
        values.insert(key, found);
    }
    payload::substitute(&mut value, ns, &values).map_err(|e| invalid(&e))?;
    serde_json::from_value(value).map_err(|e| invalid(&e))
}

/// Reads the context's credentials (inline or from its Secret) and builds the target.
pub async fn resolve(
    client: &Client,
    context: &ManagementContext,
) -> Result<Resolved, ContextError> {
    let key = key_of(context);
    let resolved_spec = with_templates_resolved(client, context).await?;
    let spec = &resolved_spec;
    let secret = match secret_of(context) {
        None => None,
        Some(secret_key) => {
            let api: Api<Secret> = Api::namespaced(client.clone(), &secret_key.namespace);
            let secret = api
                .get_opt(&secret_key.name)
                .await
                .map_err(|source| ContextError::Kube {
                    key: secret_key.clone(),
                    source,
                })?
                .ok_or_else(|| {
                    ContextError::SecretMissing(format!(
                        "Secret {secret_key} (spec.{}.secretRef) does not exist",
                        if spec.enabled_cloud().is_some() {
                            "cloud"
                        } else {
                            "auth"
                        }
                    ))
                })?;
            Some((secret_key, secret))
        }
    };
    let endpoint = match (spec.enabled_cloud(), &secret) {
        (Some(_), Some((secret_key, secret))) => {
            let token = secret_value(secret, cloud::CLOUD_TOKEN_KEY).ok_or_else(|| {
                ContextError::SecretMissing(format!(
                    "Secret {secret_key} (spec.cloud.secretRef) has no key {}",
                    cloud::CLOUD_TOKEN_KEY
                ))
            })?;
            cloud_endpoint(spec, &token)?
        }
        (Some(cloud), None) => cloud_endpoint(spec, cloud.token.as_deref().unwrap_or_default())?,
        (None, secret) => plain_endpoint(spec, secret.as_ref().map(|(k, s)| (k, s)))?,
    };
    let target = Target::new(
        &endpoint.base_url,
        endpoint.org,
        endpoint.env,
        endpoint.credentials,
    )
    .map_err(|e| ContextError::Invalid(e.to_string()))?
    .with_path_prefix(endpoint.path.as_deref())
    .with_context(key.to_string());
    let identity = payload::target_identity(
        target.base_url(),
        target.path_prefix(),
        target.organization_id(),
        target.environment_id(),
    );
    Ok(Resolved {
        key,
        target,
        identity,
    })
}

#[derive(Clone)]
struct Entry {
    uid: String,
    generation: i64,
    secret: Option<ObjectKey>,
    resolved: Resolved,
}

/// Resolved targets by context, so that a thousand APIs on one context read its Secret once.
#[derive(Clone, Default)]
pub struct TargetCache {
    entries: Arc<Mutex<HashMap<ObjectKey, Entry>>>,
}

impl TargetCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectKey, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached target of `context` when its uid and generation match, else resolved and cached.
    pub async fn get(
        &self,
        client: &Client,
        context: &ManagementContext,
    ) -> Result<Resolved, ContextError> {
        let key = key_of(context);
        let uid = context.metadata.uid.clone().unwrap_or_default();
        let generation = context.metadata.generation.unwrap_or_default();
        if let Some(entry) = self.lock().get(&key) {
            if entry.uid == uid && entry.generation == generation {
                return Ok(entry.resolved.clone());
            }
        }
        let resolved = resolve(client, context).await?;
        self.lock().insert(
            key,
            Entry {
                uid,
                generation,
                secret: secret_of(context),
                resolved: resolved.clone(),
            },
        );
        Ok(resolved)
    }

    /// Drops every target whose credentials come from this Secret. Returns the contexts concerned.
    pub fn invalidate_secret(&self, secret: &ObjectKey) -> Vec<ObjectKey> {
        let mut entries = self.lock();
        let keys: Vec<ObjectKey> = entries
            .iter()
            .filter(|(_, e)| e.secret.as_ref() == Some(secret))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            entries.remove(k);
        }
        keys
    }

    pub fn invalidate(&self, context: &ObjectKey) {
        self.lock().remove(context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ManagementContextSpec;
    use serde_json::json;

    #[test]
    fn secret_reference_defaults_to_context_namespace() {
        let spec: ManagementContextSpec = serde_json::from_value(json!({
            "baseUrl": "http://h", "organizationId": "o", "environmentId": "e",
            "auth": {"secretRef": {"name": "creds"}}
        }))
        .unwrap_or_default();
        let mut ctx = ManagementContext::new("dev", spec);
        ctx.metadata.namespace = Some("apim".into());
        assert_eq!(secret_of(&ctx), Some(ObjectKey::new("apim", "creds")));
        assert_eq!(key_of(&ctx), ObjectKey::new("apim", "dev"));
    }

    fn cloud_token(claims: serde_json::Value) -> String {
        use base64::Engine as _;
        let part = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        format!("{}.{}.sig", part(json!({"alg": "RS256"})), part(claims))
    }

    #[test]
    fn a_cloud_context_targets_the_cloud_gate_with_its_token() {
        let token = cloud_token(json!({"org": "org1", "envs": ["env1"], "cpg": "eu"}));
        let spec: ManagementContextSpec =
            serde_json::from_value(json!({"cloud": {"token": token}})).unwrap_or_default();
        let endpoint = cloud_endpoint(&spec, &token).map_err(|e| e.to_string());
        assert_eq!(
            endpoint,
            Ok(Endpoint {
                base_url: "https://eu.cloudgate.gravitee.io".into(),
                org: "org1".into(),
                env: "env1".into(),
                path: Some("/apim/rest".into()),
                credentials: Credentials::Bearer(token.clone()),
            })
        );
        // baseUrl and path given (e.g. by the mutating webhook, or a stand-in) are kept.
        let spec: ManagementContextSpec = serde_json::from_value(json!({
            "baseUrl": "http://127.0.0.1:9", "path": "/custom", "environmentId": "env1",
            "cloud": {"token": token}
        }))
        .unwrap_or_default();
        let endpoint = cloud_endpoint(&spec, &token).map_err(|e| e.to_string());
        assert!(
            matches!(&endpoint, Ok(e) if e.base_url == "http://127.0.0.1:9" && e.path.as_deref() == Some("/custom"))
        );
    }

    #[test]
    fn a_bad_cloud_token_or_environment_is_an_invalid_context() {
        let spec = ManagementContextSpec::default();
        let err = cloud_endpoint(&spec, "nope").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the cloud token is not a JWT (it is not three dot-separated parts); paste the token Gravitee Cloud gave you, as is")
        );
        let token = cloud_token(json!({"org": "o", "envs": ["a", "b"], "cpg": "us"}));
        let err = cloud_endpoint(&spec, &token).err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("the cloud token lists 2 environments (a, b); set spec.environmentId to one of them")
        );
    }

    #[test]
    fn a_cloud_context_reads_the_cloud_secret_and_an_empty_cloud_block_is_ignored() {
        let spec: ManagementContextSpec = serde_json::from_value(json!({
            "cloud": {"secretRef": {"name": "cloud"}},
            "auth": {"secretRef": {"name": "creds"}}
        }))
        .unwrap_or_default();
        let mut ctx = ManagementContext::new("c", spec);
        ctx.metadata.namespace = Some("apim".into());
        assert_eq!(secret_of(&ctx), Some(ObjectKey::new("apim", "cloud")));
        ctx.spec.cloud = serde_json::from_value(json!({"secretRef": {"name": ""}})).ok();
        assert_eq!(secret_of(&ctx), Some(ObjectKey::new("apim", "creds")));
    }

    #[test]
    fn secret_values_are_decoded_and_trimmed() {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"},
            "data": {"bearerToken": "dG9rZW4K"},
            "stringData": {"username": "admin"}
        }))
        .unwrap_or_default();
        assert_eq!(
            secret_value(&secret, "bearerToken").as_deref(),
            Some("token")
        );
        assert_eq!(secret_value(&secret, "username").as_deref(), Some("admin"));
        assert_eq!(secret_value(&secret, "password"), None);
    }
}
