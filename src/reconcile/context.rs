//! Resolving a ManagementContext (and the Secret holding its credentials) into an [`apim::Target`].
//!
//! Targets are cached per context (keyed by the context's uid and generation); a change of the Secret
//! invalidates the entries that use it (see [`TargetCache::invalidate_secret`]). Secret values only ever live
//! in the [`Credentials`] of a target, which never prints them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;

use super::payload;
use crate::apim::{Credentials, Target};
use crate::crd::ManagementContext;
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

/// The Secret a context reads its credentials from, if any.
pub fn secret_of(context: &ManagementContext) -> Option<ObjectKey> {
    let ns = context.metadata.namespace.as_deref().unwrap_or_default();
    let reference = context.spec.auth.as_ref()?.secret_ref.as_ref()?;
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

/// Reads the context's credentials (inline or from its Secret) and builds the target.
pub async fn resolve(
    client: &Client,
    context: &ManagementContext,
) -> Result<Resolved, ContextError> {
    let key = key_of(context);
    let spec = &context.spec;
    if spec.cloud.is_some() && spec.auth.is_none() {
        return Err(ContextError::Invalid(
            "Gravitee Cloud contexts (spec.cloud) are not supported by the gko reconciler; use spec.baseUrl and spec.auth".into(),
        ));
    }
    let base_url = spec
        .base_url
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ContextError::Invalid("spec.baseUrl is not set".into()))?;
    let org = spec.organization_id.clone().unwrap_or_default();
    let env = spec.environment_id.clone().unwrap_or_default();
    let auth = spec
        .auth
        .as_ref()
        .ok_or_else(|| ContextError::Invalid("spec.auth is not set".into()))?;

    let credentials = if let Some(secret_key) = secret_of(context) {
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
                    "Secret {secret_key} (spec.auth.secretRef) does not exist"
                ))
            })?;
        Credentials::from_parts(
            secret_value(&secret, "bearerToken"),
            secret_value(&secret, "username"),
            secret_value(&secret, "password"),
        )
        .map_err(|e| ContextError::SecretMissing(format!("Secret {secret_key}: {e}")))?
    } else {
        let basic = auth.credentials.as_ref();
        Credentials::from_parts(
            auth.bearer_token.clone(),
            basic.and_then(|c| c.username.clone()),
            basic.and_then(|c| c.password.clone()),
        )
        .map_err(|e| ContextError::Invalid(e.to_string()))?
    };
    let target = Target::new(base_url, org, env, credentials)
        .map_err(|e| ContextError::Invalid(e.to_string()))?
        .with_path_prefix(spec.path.as_deref())
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
