//! Apply, phase 1: resolve what the API refers to (context and its credentials, ApiResources, template
//! values) and read the API back from APIM ahead of the push.

use super::*;

/// The API read back from APIM ahead of the push, for the context it was read from.
pub(super) struct Prefetched {
    pub(super) context: ObjectKey,
    pub(super) cross_id: String,
    pub(super) remote: Option<Remote>,
}

/// Reads the API back while the finalizer is being added (new APIs: no finalizer yet, never synced), and
/// searches for its crossId when neither status nor spec gives one ([`ids::api_cross_id`]).
pub(super) async fn prefetch_remote(api: &ApiDefinition, shared: &Shared) -> Option<Prefetched> {
    let has_finalizer = api
        .metadata
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == FINALIZER);
    let never_pushed = super::decide::never_pushed(api.annotations()).is_some();
    let choice = ids::api_cross_id(api);
    let search = matches!(choice, ids::ApiCrossId::Search(_));
    if never_pushed || (has_finalizer && !search) || api.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let key = context_of(api)?;
    let (_, resolved) = resolve_context(shared, &key).await.ok()?;
    let permit = shared.breakers.admit(&key).ok()?;
    let read = match choice {
        ids::ApiCrossId::Known(cross_id) => read_remote(shared, &resolved.target, &cross_id, None)
            .await
            .map(|remote| (cross_id, remote)),
        ids::ApiCrossId::Search(candidates) => {
            search_cross_id(shared, &resolved.target, api, &candidates).await
        }
    };
    match read {
        Ok((cross_id, remote)) => {
            permit.success();
            Some(Prefetched {
                context: key,
                cross_id,
                remote,
            })
        }
        Err(e) => {
            let c = status::classify(&e);
            shared.count_call(c.reason.as_str());
            if c.unreachable && permit.failure() {
                shared.refresh_context(&key);
            }
            None
        }
    }
}

/// What the references resolved to (v2 and v4 APIs alike).
pub(crate) struct Refs {
    pub(crate) context: Option<Resolved>,
    pub(crate) resources: BTreeMap<ObjectKey, ApiResourceSpec>,
    pub(crate) templates: BTreeMap<TemplateKey, String>,
}

/// A reference that cannot be resolved now.
pub(crate) enum RefFailure {
    Missing { reason: Reason, message: String },
    Kube(kube::Error),
}

impl From<ContextError> for RefFailure {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::Invalid(message) => RefFailure::Missing {
                reason: Reason::InvalidContext,
                message,
            },
            ContextError::SecretMissing(message) => RefFailure::Missing {
                reason: Reason::SecretNotFound,
                message,
            },
            ContextError::ConfigMapMissing(message) => RefFailure::Missing {
                reason: Reason::ConfigMapNotFound,
                message,
            },
            ContextError::Kube { source, .. } => RefFailure::Kube(source),
        }
    }
}

pub(crate) fn missing(reason: Reason, message: String) -> RefFailure {
    RefFailure::Missing { reason, message }
}

pub(crate) async fn resolve_context(
    shared: &Shared,
    key: &ObjectKey,
) -> Result<(Arc<ManagementContext>, Resolved), RefFailure> {
    let context = shared.cache.contexts.get(key).ok_or_else(|| {
        missing(
            Reason::ContextNotFound,
            format!("ManagementContext {key} does not exist"),
        )
    })?;
    let resolved = shared.targets.get(&shared.client, &context).await?;
    Ok((context, resolved))
}

pub(super) async fn resolve_refs(api: &ApiDefinition, shared: &Shared) -> Result<Refs, RefFailure> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let resources = resources_of(api)
        .into_iter()
        .map(|r| ObjectKey::new(r.namespace.clone().unwrap_or_default(), r.name.clone()));
    let spec = serde_json::to_value(&api.spec).unwrap_or(Value::Null);
    resolve_refs_for(shared, ns, context_of(api), resources, &spec).await
}

/// Resolves an API's references, whatever its kind: its context (and credentials), the ApiResources it
/// names, and the values of the templates in its `spec`.
pub(crate) async fn resolve_refs_for(
    shared: &Shared,
    ns: &str,
    context: Option<ObjectKey>,
    resource_keys: impl IntoIterator<Item = ObjectKey>,
    spec: &Value,
) -> Result<Refs, RefFailure> {
    let context = match context {
        Some(key) => Some(resolve_context(shared, &key).await?.1),
        None => None,
    };
    let mut resources = BTreeMap::new();
    for key in resource_keys {
        let r = ObjectRef::<crate::crd::ApiResource>::new(&key.name).within(&key.namespace);
        let resource = shared.cache.resources.store.get(&r).ok_or_else(|| {
            missing(
                Reason::ResourceNotFound,
                format!("ApiResource {key} does not exist"),
            )
        })?;
        resources.insert(key, resource.spec.clone());
    }
    let keys = payload::template_keys(spec, ns)
        .map_err(|e| missing(Reason::InvalidTemplate, e.to_string()))?;
    let mut templates = BTreeMap::new();
    for key in keys {
        let value = template_value(shared, &key)
            .await
            .map_err(RefFailure::Kube)?
            .ok_or_else(|| {
                missing(
                    if key.secret {
                        Reason::SecretNotFound
                    } else {
                        Reason::ConfigMapNotFound
                    },
                    format!("the template refers to {key}, which does not exist"),
                )
            })?;
        templates.insert(key, value);
    }
    Ok(Refs {
        context,
        resources,
        templates,
    })
}

/// The value a template names, read live (Secret data is never cached).
pub(crate) async fn template_value(
    shared: &Shared,
    key: &TemplateKey,
) -> Result<Option<String>, kube::Error> {
    if key.secret {
        let api: Api<Secret> = Api::namespaced(shared.client.clone(), &key.namespace);
        Ok(api.get_opt(&key.name).await?.and_then(|s| {
            s.data
                .as_ref()
                .and_then(|d| d.get(&key.key))
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
                .or_else(|| {
                    s.string_data
                        .as_ref()
                        .and_then(|d| d.get(&key.key))
                        .cloned()
                })
        }))
    } else {
        let api: Api<ConfigMap> = Api::namespaced(shared.client.clone(), &key.namespace);
        let map = api.get_opt(&key.name).await?;
        if let Some(map) = &map {
            release_gko_hold(&api, map).await;
        }
        Ok(map.and_then(|c| c.data.as_ref().and_then(|d| d.get(&key.key)).cloned()))
    }
}

/// Releases a ConfigMap GKO's templating still holds (finalizer and annotations), so it can be deleted once
/// GKO is gone. Best effort: a failure is logged and retried on the next read. (Secrets are read-only for
/// gko; `gko cleanup --finalizers` releases them with the operator's own credentials.)
async fn release_gko_hold(api: &Api<ConfigMap>, map: &ConfigMap) {
    let meta = &map.metadata;
    let Some(patch) = crate::model::gko_meta::release_patch(
        meta.finalizers.as_deref().unwrap_or_default(),
        &meta.annotations.clone().unwrap_or_default(),
        meta.resource_version.as_deref(),
    ) else {
        return;
    };
    let name = meta.name.clone().unwrap_or_default();
    match api
        .patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => tracing::info!(configmap = %name, "released from GKO's templating finalizer"),
        Err(e) => {
            tracing::warn!(configmap = %name, error = %e, "cannot release the ConfigMap from GKO's finalizer")
        }
    }
}
