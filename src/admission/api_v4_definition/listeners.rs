//! Rules on the paths of HTTP listeners: present, absolute, unique inside the API, and clashing with
//! no other API, v2 or v4 (APIM's prefix rule, over one path space).

use std::collections::HashMap;

use crate::admission::api_definition::is_same_key;
use crate::admission::rules::{
    APIV4_LISTENER_PATHS_MISSING, APIV4_LISTENER_PATH_CLASH, APIV4_LISTENER_PATH_DUPLICATE,
    APIV4_LISTENER_PATH_INVALID,
};
use crate::admission::{at, Ctx, Verdict};
use crate::crd::api_v4_definition::{ApiV4DefinitionSpec, ListenerType};
use crate::crd::Kind;
use crate::model::{v4_entrypoints, ApiEntrypoint, Entrypoint, ListenerPathAt};

/// Rules `apiv4-listener-paths-missing`, `apiv4-listener-path-invalid`,
/// `apiv4-listener-path-duplicate`: every HTTP listener has at least one path (APIM: "HTTP listener
/// requires a minimum of one path"), each path is set and starts with `/`, and no host + path is
/// written twice in the API (APIM: "Path [..] is duplicated").
pub(super) fn http_paths_valid(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    let mut seen: HashMap<Entrypoint, ListenerPathAt> = HashMap::new();
    for (l, listener) in spec.listeners.iter().flatten().enumerate() {
        if listener.type_ != Some(ListenerType::Http) {
            continue;
        }
        let paths = listener.paths.as_deref().unwrap_or_default();
        if paths.is_empty() {
            verdict.raise(
                &APIV4_LISTENER_PATHS_MISSING,
                at("spec.listeners", l, "paths"),
                "is empty; an HTTP listener needs at least one path, e.g. paths: [{path: /my-api}]",
            );
            continue;
        }
        for (p, lp) in paths.iter().enumerate() {
            let here = ListenerPathAt {
                listener: l,
                path: p,
            };
            let path = lp.path.as_deref().unwrap_or_default();
            if path.trim().is_empty() || !path.starts_with('/') {
                let fix = if path.trim().is_empty() {
                    "give the context path, e.g. /my-api".to_string()
                } else {
                    format!("write it as \"/{path}\"")
                };
                verdict.raise(
                    &APIV4_LISTENER_PATH_INVALID,
                    here.field("path"),
                    format!("\"{path}\" is not a context path (it must start with `/`); {fix}"),
                );
                continue;
            }
            let e = Entrypoint::new(lp.host.as_deref(), path);
            match seen.get(&e) {
                Some(first) => verdict.raise(
                    &APIV4_LISTENER_PATH_DUPLICATE,
                    here.field("path"),
                    format!(
                        "context path {e} is already declared at {}; remove one of them",
                        first.field("")
                    ),
                ),
                None => {
                    seen.insert(e, here);
                }
            }
        }
    }
}

/// Rule `apiv4-listener-path-clash`: no HTTP listener path (host + path) equals or contains, by whole
/// segments, one of another API in the namespace (every namespace with `--cluster-wide-paths`),
/// whether that API is an ApiDefinition or an ApiV4Definition. APIM refuses such an import.
pub(super) fn no_clash_with_other_apis(
    ctx: &Ctx<'_>,
    spec: &ApiV4DefinitionSpec,
    verdict: &mut Verdict,
) {
    let scope = if ctx.settings.cluster_wide_paths {
        None
    } else {
        Some(ctx.namespace)
    };
    for (here, e) in v4_entrypoints(spec) {
        let clash = ctx
            .lookup
            .clashing_entrypoints(scope, &e)
            .into_iter()
            .find(|o| !(o.kind == Kind::ApiV4Definition && is_same_key(ctx, &o.api)));
        if let Some(other) = clash {
            verdict.raise(
                &APIV4_LISTENER_PATH_CLASH,
                here.field("path"),
                clash_message(&e, &other),
            );
        }
    }
}

fn clash_message(e: &Entrypoint, other: &ApiEntrypoint) -> String {
    let theirs = &other.entrypoint;
    let relation = if theirs.path == e.path {
        "is already used by"
    } else {
        "overlaps"
    };
    format!(
        "context path {e} {relation} {theirs} of {} {}; choose a path that neither equals nor contains another API's",
        other.kind, other.api
    )
}
