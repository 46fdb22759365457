//! Rules on `spec.pages` (GKO 4.x: a map keyed by page name).

use serde_json::Value;

use crate::admission::rules::API_PAGE_PARENT_NOT_FOUND;
use crate::admission::templating::is_template;
use crate::admission::Verdict;
use crate::crd::api_definition::ApiDefinitionSpec;

/// Rule `api-page-parent-not-found` (as GKO): in the map form of `spec.pages`, a page's `parent` is
/// another key of the map (the folder it sits in). The 0.x list form has no keys and is not checked.
pub(super) fn page_parents_exist(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let Some(Value::Object(pages)) = &spec.pages else {
        return;
    };
    for (key, page) in pages {
        let Some(parent) = page
            .get("parent")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty() && !is_template(p))
        else {
            continue;
        };
        if !pages.contains_key(parent) {
            let mut keys: Vec<&str> = pages.keys().map(String::as_str).collect();
            keys.retain(|k| k != key);
            verdict.raise(
                &API_PAGE_PARENT_NOT_FOUND,
                format!("spec.pages.{key}.parent"),
                format!(
                    "\"{parent}\" is not a key of spec.pages; set it to the key of the folder page ({}) or remove it",
                    if keys.is_empty() { "there is no other page".to_string() } else { keys.join(", ") }
                ),
            );
        }
    }
}
