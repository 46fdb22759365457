//! `gko serve --apply-crds`: the CRDs follow the release. Helm installs `crds/` once and never upgrades
//! them; so at start gko server-side applies its CRDs when the cluster's differ from its own (RBAC:
//! `get` and `patch` on its CRDs by name).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use kube::ResourceExt;
use serde_json::Value;

use super::Kind;

/// Field manager of gko's CRD writes.
pub const FIELD_MANAGER: &str = "gko";

/// What happened to one CRD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrdOutcome {
    /// The cluster's CRD already says what gko's does.
    Unchanged,
    /// Server-side applied.
    Applied,
    /// Not in the cluster: it is the installer's job (Helm `crds/`, `kubectl apply`), gko does not create it.
    Missing,
}

#[derive(Debug, thiserror::Error)]
#[error("--apply-crds: cannot {action} CRD {name}: {source}")]
pub struct ApplyCrdError {
    pub action: &'static str,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

/// Whether `current` (as the API server returns it, with its defaults) already holds everything of
/// `desired`: every field of desired's spec is there with the same value, and each version's schema is
/// exactly desired's (a removed property counts as a difference).
pub fn is_current(current: &Value, desired: &Value) -> bool {
    let (Some(cur), Some(want)) = (current.get("spec"), desired.get("spec")) else {
        return false;
    };
    if !contains(cur, want) {
        return false;
    }
    let schemas = |spec: &Value| -> Vec<Value> {
        spec.get("versions")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .map(|v| {
                        v.pointer("/schema/openAPIV3Schema")
                            .cloned()
                            .unwrap_or(Value::Null)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    schemas(cur) == schemas(want)
}

/// `have` contains `want`: objects key by key, arrays element by element (same length), scalars equal.
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| contains(hv, wv))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(hv, wv)| contains(hv, wv))
        }
        _ => have == want,
    }
}

/// Applies gko's CRDs where the cluster's differ; returns each CRD's name and outcome.
pub async fn apply_crds(client: &kube::Client) -> Result<Vec<(String, CrdOutcome)>, ApplyCrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut outcomes = Vec::new();
    for kind in Kind::ALL {
        let crd = kind.crd();
        let name = crd.name_any();
        let err = |action, source| ApplyCrdError {
            action,
            name: name.clone(),
            source,
        };
        let current = api.get_opt(&name).await.map_err(|e| err("read", e))?;
        let outcome = match current {
            None => CrdOutcome::Missing,
            Some(current) => {
                let (cur, want) = (to_value(&current), to_value(&crd));
                if is_current(&cur, &want) {
                    CrdOutcome::Unchanged
                } else {
                    api.patch(
                        &name,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&crd),
                    )
                    .await
                    .map_err(|e| err("apply", e))?;
                    CrdOutcome::Applied
                }
            }
        };
        match outcome {
            CrdOutcome::Applied => tracing::info!(crd = %name, "CRD updated to this release's"),
            CrdOutcome::Missing => {
                tracing::warn!(crd = %name, "CRD not installed (install charts/gko/crds or `gko crds`)")
            }
            CrdOutcome::Unchanged => tracing::debug!(crd = %name, "CRD is current"),
        }
        outcomes.push((name, outcome));
    }
    Ok(outcomes)
}

fn to_value(crd: &CustomResourceDefinition) -> Value {
    serde_json::to_value(crd).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Value {
        serde_json::to_value(Kind::ApiDefinition.crd()).expect("crd")
    }

    #[test]
    fn server_defaults_do_not_count_as_a_difference() {
        let want = desired();
        let mut have = want.clone();
        have["spec"]["conversion"] = json!({"strategy": "None"});
        have["spec"]["names"]["listKind"] = json!("ApiDefinitionList");
        have["status"] = json!({"acceptedNames": {}});
        assert!(is_current(&have, &want));
    }

    #[test]
    fn an_older_schema_is_a_difference() {
        let want = desired();
        let mut older = want.clone();
        let props = older
            .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
            .and_then(Value::as_object_mut)
            .expect("spec properties");
        let first = props.keys().next().cloned().expect("a property");
        props.remove(&first);
        assert!(
            !is_current(&older, &want),
            "a field missing from the cluster's CRD"
        );
        let mut newer = want.clone();
        newer
            .pointer_mut("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
            .and_then(Value::as_object_mut)
            .expect("spec properties")
            .insert("removedSince".into(), json!({"type": "string"}));
        assert!(!is_current(&newer, &want), "a field gko no longer has");
    }

    #[test]
    fn other_changes_are_differences() {
        let want = desired();
        let mut have = want.clone();
        have["spec"]["versions"][0]["additionalPrinterColumns"] = json!([]);
        assert!(!is_current(&have, &want));
        assert!(!is_current(&json!({}), &want));
    }
}
