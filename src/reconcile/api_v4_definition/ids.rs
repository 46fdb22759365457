//! Identity of a v4 API, as pure decisions: HRID mode or legacy UUID mode (GKO 4.12+), and the ids GKO
//! derives (`U()` = XXH3-128 printed as a UUID) for legacy objects and for `_import/crd` (GKO ≤ 4.11).

use std::collections::BTreeMap;

use crate::apim::V4Identity;
use crate::crd::api_v4_definition::AUTOMATION_API_MANAGED;
use crate::crd::ApiV4Definition;

/// GKO 4.x's `U(seed)` (the model's one derivation, see `model::gko_ids`).
pub use crate::model::gko_ids::xxh3_uuid as gko_uuid;

/// A plan or page key as an hrid: every space and `.` replaced by `-` (GKO's rule).
pub fn sanitise(key: &str) -> String {
    key.replace([' ', '.'], "-")
}

/// The API hrid GKO uses: `<namespace>-<name>`, not sanitised further.
pub fn api_hrid(namespace: &str, name: &str) -> String {
    format!("{namespace}-{name}")
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// `spec.id`, else `status.id`.
pub fn known_id(api: &ApiV4Definition) -> Option<&str> {
    non_empty(api.spec.id.as_deref())
        .or_else(|| non_empty(api.status.as_ref().and_then(|s| s.id.as_deref())))
}

/// Whether the object carries GKO's `AutomationAPIManaged` condition (true).
pub fn automation_managed(api: &ApiV4Definition) -> bool {
    api.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == AUTOMATION_API_MANAGED && c.status == "True")
    })
}

/// HRID mode when no id is known or the object was moved to HRIDs; legacy (the UUID) otherwise, so an
/// API synced by GKO ≤ 4.11 (or named by `spec.id`) keeps its identity.
pub fn identity(api: &ApiV4Definition) -> V4Identity {
    let namespace = api.metadata.namespace.as_deref().unwrap_or_default();
    let name = api.metadata.name.as_deref().unwrap_or_default();
    match known_id(api) {
        Some(id) if !automation_managed(api) => V4Identity::Legacy(id.to_owned()),
        _ => V4Identity::Hrid(api_hrid(namespace, name)),
    }
}

/// `<namespace>/<name>`.
fn object_path(api: &ApiV4Definition) -> String {
    format!(
        "{}/{}",
        api.metadata.namespace.as_deref().unwrap_or_default(),
        api.metadata.name.as_deref().unwrap_or_default()
    )
}

/// GKO's crossId for ids it computes: `status.crossId` → `spec.crossId` → U(`<ns>/<name>`).
pub fn legacy_cross_id(api: &ApiV4Definition) -> String {
    let status = api.status.as_ref().and_then(|s| s.cross_id.as_deref());
    non_empty(status)
        .or_else(|| non_empty(api.spec.cross_id.as_deref()))
        .map_or_else(|| gko_uuid(&object_path(api)), str::to_owned)
}

/// The API id `_import/crd` needs (GKO ≤ 4.11): `status.id` → `spec.id` → U(crossId + org + env).
pub fn import_crd_id(api: &ApiV4Definition, cross_id: &str, org: &str, env: &str) -> String {
    let status = api.status.as_ref().and_then(|s| s.id.as_deref());
    non_empty(status)
        .or_else(|| non_empty(api.spec.id.as_deref()))
        .map_or_else(|| gko_uuid(&format!("{cross_id}{org}{env}")), str::to_owned)
}

/// Ids GKO computes when it sends them (legacy mode, `_import/crd`, no context).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyIds {
    pub api_id: String,
    pub cross_id: String,
    /// plan key → id: `status.plans[key]` → U(apiId + key).
    pub plans: BTreeMap<String, String>,
}

impl LegacyIds {
    pub fn new(api: &ApiV4Definition, api_id: String, cross_id: String) -> Self {
        let known = api.status.as_ref().and_then(|s| s.plans.as_ref());
        let plans = api
            .spec
            .plans
            .iter()
            .flatten()
            .map(|(key, _)| {
                let id = known
                    .and_then(|p| p.get(key))
                    .filter(|id| !id.is_empty())
                    .cloned()
                    .unwrap_or_else(|| gko_uuid(&format!("{api_id}{key}")));
                (key.clone(), id)
            })
            .collect();
        LegacyIds {
            api_id,
            cross_id,
            plans,
        }
    }

    /// Page id: U(apiId + `/` + key).
    pub fn page_id(&self, key: &str) -> String {
        gko_uuid(&format!("{}/{key}", self.api_id))
    }
}

/// Page crossId: U(`<ns>/<name>` + `/` + key).
pub fn page_cross_id(api: &ApiV4Definition, key: &str) -> String {
    gko_uuid(&format!("{}/{key}", object_path(api)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::common::Condition;
    use crate::crd::ApiV4DefinitionStatus;

    fn api(spec_id: Option<&str>, status: Option<ApiV4DefinitionStatus>) -> ApiV4Definition {
        let mut a = ApiV4Definition::new("my-api", Default::default());
        a.metadata.namespace = Some("default".into());
        a.spec.id = spec_id.map(str::to_owned);
        a.status = status;
        a
    }

    fn managed() -> Condition {
        Condition {
            type_: AUTOMATION_API_MANAGED.into(),
            status: "True".into(),
            reason: AUTOMATION_API_MANAGED.into(),
            ..Default::default()
        }
    }

    #[test]
    fn gko_uuids_match_the_reference_vectors() {
        assert_eq!(
            gko_uuid("default/my-api"),
            "3d7306da-8a12-9e6b-9749-deaab5bcf711"
        );
        let id = gko_uuid("default-my-api");
        assert_eq!(id, "78609c86-6ad0-628f-1c8a-8aceaee6a925");
        assert_eq!(
            gko_uuid(&format!("{id}KeyLess")),
            "fc707279-6750-5cb9-a3dd-a91409ab7f3e"
        );
    }

    #[test]
    fn mode_is_hrid_without_id_or_with_the_condition() {
        assert_eq!(
            identity(&api(None, None)),
            V4Identity::Hrid("default-my-api".into())
        );
        let synced = ApiV4DefinitionStatus {
            id: Some("6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10".into()),
            ..Default::default()
        };
        assert_eq!(
            identity(&api(None, Some(synced.clone()))),
            V4Identity::Legacy("6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10".into())
        );
        let moved = ApiV4DefinitionStatus {
            conditions: vec![managed()],
            ..synced
        };
        assert_eq!(
            identity(&api(None, Some(moved))),
            V4Identity::Hrid("default-my-api".into())
        );
        // A user-written spec.id takes over an existing API.
        assert_eq!(
            identity(&api(Some("abc"), None)),
            V4Identity::Legacy("abc".into())
        );
    }

    #[test]
    fn legacy_ids_follow_gko() {
        let mut a = api(None, None);
        a.spec.plans = Some([("KeyLess".to_string(), Default::default())].into());
        a.spec.cross_id = None;
        let ids = LegacyIds::new(
            &a,
            "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10".into(),
            legacy_cross_id(&a),
        );
        assert_eq!(ids.cross_id, "3d7306da-8a12-9e6b-9749-deaab5bcf711");
        assert_eq!(
            ids.plans.get("KeyLess").map(String::as_str),
            Some("b9469751-84e2-a1e7-fa3d-a0f686161b6e")
        );
        assert_eq!(ids.page_id("docs"), "3b21eabf-4593-1eda-0dba-0ef78be393f8");
        assert_eq!(
            page_cross_id(&a, "docs"),
            "8357001f-fc8f-a1fe-f3b8-9fd05fa31266"
        );
        // status.plans wins.
        a.status = Some(ApiV4DefinitionStatus {
            plans: Some([("KeyLess".to_string(), "kept".to_string())].into()),
            ..Default::default()
        });
        let ids = LegacyIds::new(&a, "x".into(), "c".into());
        assert_eq!(ids.plans.get("KeyLess").map(String::as_str), Some("kept"));
    }

    #[test]
    fn import_crd_id_and_sanitising() {
        let a = api(None, None);
        let cross = legacy_cross_id(&a);
        assert_eq!(
            import_crd_id(&a, &cross, "DEFAULT", "DEFAULT"),
            gko_uuid(&format!("{cross}DEFAULTDEFAULT"))
        );
        assert_eq!(sanitise("Free plan v1.0"), "Free-plan-v1-0");
        assert_eq!(api_hrid("team", "orders"), "team-orders");
    }
}
