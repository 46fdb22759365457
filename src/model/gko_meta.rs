//! What Gravitee's own operator (GKO) leaves on objects' metadata, and how gko takes it over. Pure, no I/O.
//!
//! GKO's finalizers on ApiDefinition, ManagementContext and ApiResource are all under
//! `finalizers.gravitee.io/` (`apidefinitiondeletion`, `apidefinitiontemplate`, `managementcontextdeletion`,
//! `apiresource`). Once GKO is gone nothing removes them: gko replaces them with its own (deletes then
//! complete through gko's cleanup).

/// The prefix of every finalizer GKO sets.
pub const GKO_FINALIZER_PREFIX: &str = "finalizers.gravitee.io/";

/// Whether `finalizer` is one of GKO's.
pub fn is_gko_finalizer(finalizer: &str) -> bool {
    finalizer.starts_with(GKO_FINALIZER_PREFIX)
}

/// The finalizers with GKO's replaced by `ours` (added once, where the first of GKO's stood, else at the
/// end); `None` when nothing changes.
pub fn take_over_finalizers(finalizers: &[String], ours: &str) -> Option<Vec<String>> {
    let has_gko = finalizers.iter().any(|f| is_gko_finalizer(f));
    let has_ours = finalizers.iter().any(|f| f == ours);
    if has_ours && !has_gko {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(finalizers.len() + 1);
    for f in finalizers {
        if is_gko_finalizer(f) || f == ours {
            if !out.iter().any(|o| o == ours) {
                out.push(ours.to_owned());
            }
        } else {
            out.push(f.clone());
        }
    }
    if !out.iter().any(|o| o == ours) {
        out.push(ours.to_owned());
    }
    Some(out)
}

/// The finalizer whose removal ends a delete: gko's when present; on an object deleted while GKO's is
/// still there (Kubernetes adds no finalizer to an object being deleted), GKO's, so that gko's cleanup
/// runs and then removes it.
pub fn deletion_finalizer<'a>(finalizers: &'a [String], ours: &'a str) -> &'a str {
    if finalizers.iter().any(|f| f == ours) {
        return ours;
    }
    finalizers
        .iter()
        .find(|f| is_gko_finalizer(f))
        .map_or(ours, String::as_str)
}

/// GKO's finalizers on the Secrets and ConfigMaps it watches for contexts and templates.
pub const GKO_HOLD_FINALIZERS: [&str; 2] = [
    "finalizers.gravitee.io/managementcontextSecret",
    "finalizers.gravitee.io/templating",
];

/// GKO's bookkeeping annotations on those Secrets and ConfigMaps: the count of referrers, and a JSON list of
/// referrers per kind (`gravitee.io/<kind>s`).
const GKO_HOLD_ANNOTATIONS: [&str; 6] = [
    "gravitee.io/references",
    "gravitee.io/apidefinitions",
    "gravitee.io/apiv4definitions",
    "gravitee.io/managementcontexts",
    "gravitee.io/apiresources",
    "gravitee.io/applications",
];

/// The merge patch that releases a Secret or ConfigMap GKO holds (its finalizers removed, its annotations
/// dropped), guarded by `resource_version`; `None` when GKO holds nothing there.
pub fn release_patch(
    finalizers: &[String],
    annotations: &std::collections::BTreeMap<String, String>,
    resource_version: Option<&str>,
) -> Option<serde_json::Value> {
    if !finalizers
        .iter()
        .any(|f| GKO_HOLD_FINALIZERS.contains(&f.as_str()))
    {
        return None;
    }
    let kept: Vec<&String> = finalizers
        .iter()
        .filter(|f| !GKO_HOLD_FINALIZERS.contains(&f.as_str()))
        .collect();
    let dropped: serde_json::Map<String, serde_json::Value> = annotations
        .keys()
        .filter(|k| GKO_HOLD_ANNOTATIONS.contains(&k.as_str()))
        .map(|k| (k.clone(), serde_json::Value::Null))
        .collect();
    let mut metadata = serde_json::json!({ "finalizers": kept });
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = serde_json::json!(version);
    }
    if !dropped.is_empty() {
        metadata["annotations"] = serde_json::Value::Object(dropped);
    }
    Some(serde_json::json!({ "metadata": metadata }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "gravitee.io/gko-finalizer";

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn gkos_finalizers_are_replaced_by_ours_in_place() {
        assert_eq!(
            take_over_finalizers(
                &v(&[
                    "a.io/keep",
                    "finalizers.gravitee.io/apidefinitiondeletion",
                    "b.io/keep"
                ]),
                OURS
            ),
            Some(v(&["a.io/keep", OURS, "b.io/keep"]))
        );
        assert_eq!(
            take_over_finalizers(
                &v(&[
                    "finalizers.gravitee.io/managementcontextdeletion",
                    OURS,
                    "finalizers.gravitee.io/apiresource"
                ]),
                OURS
            ),
            Some(v(&[OURS]))
        );
    }

    #[test]
    fn ours_is_added_when_missing_and_nothing_changes_when_alone() {
        assert_eq!(take_over_finalizers(&[], OURS), Some(v(&[OURS])));
        assert_eq!(
            take_over_finalizers(&v(&["a.io/keep"]), OURS),
            Some(v(&["a.io/keep", OURS]))
        );
        assert_eq!(take_over_finalizers(&v(&["a.io/keep", OURS]), OURS), None);
    }

    #[test]
    fn a_delete_under_gkos_finalizer_ends_with_it() {
        let gko = v(&["finalizers.gravitee.io/apidefinitiondeletion"]);
        assert_eq!(
            deletion_finalizer(&gko, OURS),
            "finalizers.gravitee.io/apidefinitiondeletion"
        );
        assert_eq!(deletion_finalizer(&v(&[OURS]), OURS), OURS);
        assert_eq!(deletion_finalizer(&v(&["a.io/x"]), OURS), OURS);
        assert!(!is_gko_finalizer("gravitee.io/gko-finalizer"));
    }

    #[test]
    fn secrets_and_config_maps_gko_holds_are_released() {
        let annotations: std::collections::BTreeMap<String, String> = [
            ("gravitee.io/references", "2"),
            ("gravitee.io/apidefinitions", "[\"ns/a\"]"),
            ("team.io/owner", "x"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let patch = release_patch(
            &v(&["finalizers.gravitee.io/templating", "a.io/keep"]),
            &annotations,
            Some("42"),
        );
        assert_eq!(
            patch,
            Some(serde_json::json!({"metadata": {
                "finalizers": ["a.io/keep"], "resourceVersion": "42",
                "annotations": {"gravitee.io/apidefinitions": null, "gravitee.io/references": null}
            }}))
        );
        let secret = release_patch(
            &v(&["finalizers.gravitee.io/managementcontextSecret"]),
            &Default::default(),
            None,
        );
        assert_eq!(
            secret,
            Some(serde_json::json!({"metadata": {"finalizers": []}}))
        );
        assert_eq!(release_patch(&v(&["a.io/keep"]), &annotations, None), None);
    }
}
