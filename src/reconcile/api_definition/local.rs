//! `local: true`: the gateway ConfigMap gko writes, keeps and removes.

use super::*;

pub(super) fn config_map_name(api: &ApiDefinition) -> String {
    api.name_any()
}

pub(super) fn is_ours(cm: &ConfigMap, api: &ApiDefinition) -> bool {
    let uid = api.metadata.uid.as_deref();
    cm.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(o.uid.as_str()) == uid)
        || (label(cm, CM_MANAGED_BY.0) == Some(CM_MANAGED_BY.1)
            && label(cm, CM_COMPONENT.0) == Some(CM_COMPONENT.1))
}

pub(super) fn label<'a>(cm: &'a ConfigMap, key: &str) -> Option<&'a str> {
    cm.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .map(String::as_str)
}

pub(super) async fn delete_config_map(
    shared: &Shared,
    api: &ApiDefinition,
) -> Result<(), kube::Error> {
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let name = config_map_name(api);
    if let Some(cm) = maps.get_opt(&name).await? {
        if is_ours(&cm, api) {
            match maps.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Writes (or removes) the local ConfigMap: present while `local: true` and STARTED.
pub(super) async fn local_config_map(
    run: &mut Run<'_>,
    refs: &Refs,
    cross_id: &str,
    pushed: Option<&Value>,
) -> Result<(), String> {
    let api = run.api;
    let shared = run.shared;
    let wanted = api.spec.local == Some(true) && desired_state(api) == "STARTED";
    if !wanted {
        // Only look for a ConfigMap to remove when one was written, or when the spec changed since the
        // last reconcile (a safety net should the status have been lost): a resync, or a change of an
        // ApiResource, costs no API-server read for the thousands of APIs that never were local.
        let written = run.status.local_config_map.is_some();
        if !written && !run.spec_changed {
            return Ok(());
        }
        delete_config_map(shared, api)
            .await
            .map_err(|e| format!("cannot remove the local ConfigMap: {e}"))?;
        run.status.local_config_map = None;
        return Ok(());
    }
    let mut definition = match pushed {
        Some(d) => d.clone(),
        None if refs.context.is_some() => {
            // Not in APIM yet (or failing there): the gateway still gets the definition.
            let stamp = Stamp {
                cluster_id: shared.cluster_id.clone(),
                owner: key_of(api).to_string(),
            };
            let plans = run.status.plans.clone();
            let plan_cross_ids = ids::plan_cross_ids(
                api,
                &ids::PlanSources {
                    api_cross_id: cross_id,
                    status_id: run.status.id.as_deref(),
                    spec_id: api.spec.id.as_deref(),
                    status_plans: plans.as_ref(),
                    remote: None,
                },
            );
            match payload::build(
                api,
                &Inputs {
                    cross_id,
                    api_id: run.status.id.as_deref(),
                    plan_ids: plans.as_ref(),
                    plan_cross_ids: Some(&plan_cross_ids),
                    resources: Some(&refs.resources),
                    templates: Some(&refs.templates),
                    stamp: Some(&stamp),
                },
            ) {
                Ok(d) => d,
                Err(_) => return Ok(()),
            }
        }
        None => match payload::build(
            api,
            &Inputs {
                cross_id,
                resources: Some(&refs.resources),
                templates: Some(&refs.templates),
                ..Default::default()
            },
        ) {
            Ok(d) => d,
            Err(e) => return Err(e.to_string()),
        },
    };
    payload::fill_local_ids(&mut definition);
    let text = serde_json::to_string(&definition).map_err(|e| e.to_string())?;
    let ns = api.metadata.namespace.as_deref().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), ns);
    let name = config_map_name(api);
    let existing = maps
        .get_opt(&name)
        .await
        .map_err(|e| format!("cannot read ConfigMap {ns}/{name}: {e}"))?;
    let owner = OwnerReference {
        api_version: ApiDefinition::api_version(&()).into_owned(),
        kind: ApiDefinition::kind(&()).into_owned(),
        name: api.name_any(),
        uid: api.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    };
    let labels: BTreeMap<String, String> = [CM_MANAGED_BY, CM_COMPONENT]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let data: BTreeMap<String, String> = [(CM_KEY.to_owned(), text)].into();
    let written = match existing {
        Some(cm) if !is_ours(&cm, api) => Err(format!(
            "ConfigMap {ns}/{name} exists and is not managed by gko; rename it or the ApiDefinition"
        )),
        Some(cm) if cm.data.as_ref() == Some(&data) => Ok(()),
        Some(mut cm) => {
            cm.data = Some(data);
            cm.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .extend(labels);
            maps.replace(&name, &PostParams::default(), &cm)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot update ConfigMap {ns}/{name}: {e}"))
        }
        None => {
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns.to_owned()),
                    labels: Some(labels),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            let created = maps.create(&PostParams::default(), &cm).await;
            if created.is_ok() {
                run.note(
                    EventType::Normal,
                    "ConfigMapWritten",
                    format!("definition written to ConfigMap {ns}/{name} for the gateway"),
                );
            }
            created
                .map(|_| ())
                .map_err(|e| format!("cannot create ConfigMap {ns}/{name}: {e}"))
        }
    };
    written?;
    run.status.local_config_map = Some(name);
    Ok(())
}
