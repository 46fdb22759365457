//! Rules for `ApiDefinition`. Each rule is one small function with its message; see README for the
//! table of rules.

use std::collections::HashMap;

use serde_json::Value;

use super::templating::{self, is_template};
use super::{at, Ctx, Doc, Verdict};
use crate::crd::api_definition::{ApiDefinitionSpec, ApiState, EndpointGroup, Plan, ResourceOrRef};
use crate::model::{ApiEntrypoint, Entrypoint, ObjectKey};

/// Plan security types of a v2 API.
pub const KNOWN_SECURITY: [&str; 4] = ["KEY_LESS", "API_KEY", "OAUTH2", "JWT"];

/// Runs every ApiDefinition rule on `object` (the whole admitted object).
pub fn validate(ctx: &Ctx<'_>, object: &Doc<'_>, verdict: &mut Verdict) {
    let Some(spec_value) = object.get("spec") else {
        verdict.deny_missing_spec(
            "is required; an ApiDefinition needs at least name, version, proxy and plans",
        );
        return;
    };
    // Schema errors were reported already; rules need a decodable spec (without its flows, which no
    // rule reads).
    let Ok(spec) = super::rules_view::decode_spec(spec_value) else {
        return;
    };
    name_and_version(&spec, verdict);
    context_ref_resolves(ctx, &spec, verdict);
    local_needs_context(&spec, verdict);
    cross_ids_well_formed(&spec, verdict);
    let api_resources = resources(ctx, &spec, verdict);
    plans_present_unless_stopped(&spec, verdict);
    plan_names_unique(&spec, verdict);
    plan_security_known(&spec, verdict);
    plan_security_configured(&spec, &api_resources, verdict);
    entrypoints(&spec, verdict);
    no_clash_with_other_apis(ctx, &spec, verdict);
    endpoints(&spec, verdict);
    templating::check_references(ctx, spec_value, "spec", verdict);
}

/// Rule: `spec.name` and `spec.version` are set (APIM requires both); a missing description warns.
pub fn name_and_version(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if blank(&spec.name) {
        verdict.deny(
            "spec.name",
            "is required: APIM needs a name for the API; set spec.name",
        );
    }
    if blank(&spec.version) {
        verdict.deny(
            "spec.version",
            "is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\"",
        );
    }
    if blank(&spec.description) {
        verdict.warn(
            "spec.description",
            "is empty; APIM 4.x requires a description, set spec.description",
        );
    }
}

/// Rule: `spec.contextRef` names an existing ManagementContext (namespace defaults to the API's).
pub fn context_ref_resolves(ctx: &Ctx<'_>, spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let Some(r) = &spec.context_ref else { return };
    if r.name.trim().is_empty() {
        verdict.deny(
            "spec.contextRef.name",
            "is empty; name the ManagementContext to push this API to",
        );
        return;
    }
    let ns = r.namespace_or(ctx.namespace);
    if ctx.lookup.management_context(ns, &r.name).is_none() {
        verdict.deny_reference(
            "spec.contextRef",
            format!(
                "ManagementContext {ns}/{} does not exist; create it first or fix spec.contextRef.name/namespace",
                r.name
            ),
        );
    }
}

/// Rule: an API that is not local must have a context, or it would go nowhere.
pub fn local_needs_context(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if spec.local != Some(true) && spec.context_ref.is_none() {
        verdict.deny(
            "spec.local",
            "is false (the default since GKO 4.x) and spec.contextRef is not set, so the API would be deployed nowhere; set spec.contextRef to a ManagementContext, or set spec.local: true to deploy it to the gateway through a ConfigMap",
        );
    }
}

/// Rule: `spec.crossId` and every plan's `crossId`, when set, are UUIDs.
pub fn cross_ids_well_formed(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    if let Some(id) = spec.cross_id.as_deref() {
        if !is_uuid(id) {
            verdict.deny(
                "spec.crossId",
                format!("\"{id}\" is not a UUID (like 2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d); fix it, or remove it and gko derives a stable one"),
            );
        }
    }
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        if let Some(id) = plan.cross_id.as_deref() {
            if !is_uuid(id) {
                verdict.deny(
                    at("spec.plans", i, "crossId"),
                    format!("\"{id}\" is not a UUID; fix it, or remove it and gko derives one from the API and the plan name"),
                );
            }
        }
    }
}

/// The resources of an API as far as they could be resolved.
#[derive(Debug, Default)]
pub struct ApiResources {
    /// Resource name to resource type.
    pub types: HashMap<String, String>,
    /// Some `ref` did not resolve, so a name missing from `types` may still be a resource of the
    /// API (the missing reference is reported on its own).
    pub unresolved_refs: bool,
}

/// Rules on `spec.resources`: a `ref` names an existing ApiResource; an inline resource has a name,
/// a type and a configuration; resource names are unique. Returns the resolved names and types.
pub fn resources(ctx: &Ctx<'_>, spec: &ApiDefinitionSpec, verdict: &mut Verdict) -> ApiResources {
    let mut out = ApiResources::default();
    let mut first_at: HashMap<String, usize> = HashMap::new();
    for (i, res) in spec.resources.iter().flatten().enumerate() {
        let resolved = match &res.reference {
            Some(r) => {
                let found = resource_ref(ctx, i, res, r, verdict);
                out.unresolved_refs |= found.is_none();
                found
            }
            None => inline_resource(i, res, verdict),
        };
        let Some((name, type_)) = resolved else {
            continue;
        };
        if let Some(first) = first_at.get(&name) {
            verdict.deny(
                at("spec.resources", i, ""),
                format!("resource name \"{name}\" is already used by spec.resources[{first}]; policies find resources by name, so rename one"),
            );
            continue;
        }
        first_at.insert(name.clone(), i);
        out.types.insert(name, type_);
    }
    out
}

fn resource_ref(
    ctx: &Ctx<'_>,
    i: usize,
    res: &ResourceOrRef,
    r: &crate::crd::NamespacedRef,
    verdict: &mut Verdict,
) -> Option<(String, String)> {
    if r.name.trim().is_empty() {
        verdict.deny(
            at("spec.resources", i, "ref.name"),
            "is empty; name the ApiResource to use",
        );
        return None;
    }
    if res.name.is_some() || res.type_.is_some() || res.configuration.is_some() {
        verdict.warn(
            at("spec.resources", i, ""),
            "has both `ref` and inline fields; the inline name, type and configuration are ignored, remove them",
        );
    }
    let ns = r.namespace_or(ctx.namespace);
    match ctx.lookup.api_resource(ns, &r.name) {
        None => {
            verdict.deny_reference(
                at("spec.resources", i, "ref"),
                format!(
                    "ApiResource {ns}/{} does not exist; create it first or fix the reference",
                    r.name
                ),
            );
            None
        }
        Some(found) => Some((
            found.spec.name.clone().unwrap_or_default(),
            found.spec.type_.clone().unwrap_or_default(),
        )),
    }
}

fn inline_resource(
    i: usize,
    res: &ResourceOrRef,
    verdict: &mut Verdict,
) -> Option<(String, String)> {
    let mut ok = true;
    if blank(&res.name) {
        verdict.deny(
            at("spec.resources", i, "name"),
            "is required for an inline resource; set it, or use `ref` to point to an ApiResource",
        );
        ok = false;
    }
    if blank(&res.type_) {
        verdict.deny(
            at("spec.resources", i, "type"),
            "is required for an inline resource, e.g. cache, cache-redis, oauth2",
        );
        ok = false;
    }
    if res.configuration.is_none() {
        verdict.deny(
            at("spec.resources", i, "configuration"),
            "is required for an inline resource; add the resource's configuration block",
        );
    }
    if let Some(t) = res.type_.as_deref() {
        if ok && !is_template(t) && !super::api_resource::is_known_type(t) {
            verdict.warn(
                at("spec.resources", i, "type"),
                super::api_resource::unknown_type_message(t),
            );
        }
    }
    ok.then(|| {
        (
            res.name.clone().unwrap_or_default(),
            res.type_.clone().unwrap_or_default(),
        )
    })
}

/// Rule: a started API has at least one plan (APIM cannot deploy an API without plans).
pub fn plans_present_unless_stopped(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let stopped = spec.state == Some(ApiState::Stopped);
    if !stopped && spec.plans.as_ref().is_none_or(|p| p.is_empty()) {
        verdict.deny(
            "spec.plans",
            "is empty but spec.state is STARTED; add at least one plan (e.g. {name: free, security: KEY_LESS}) or set spec.state: STOPPED",
        );
    }
}

/// Rule: plan names are present and unique (gko derives each plan's crossId from its name).
pub fn plan_names_unique(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        let Some(name) = plan
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            verdict.deny(
                at("spec.plans", i, "name"),
                "is required; give the plan a name",
            );
            continue;
        };
        if let Some(first) = seen.get(name) {
            verdict.deny(
                at("spec.plans", i, "name"),
                format!("plan name \"{name}\" is already used by spec.plans[{first}]; plan names must be unique, rename one"),
            );
        } else {
            seen.insert(name, i);
        }
    }
}

/// Rule: every plan's `security` is one of the v2 types.
pub fn plan_security_known(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        match plan.security.as_deref() {
            None | Some("") => verdict.deny(
                at("spec.plans", i, "security"),
                format!("is required; use one of {}", KNOWN_SECURITY.join(", ")),
            ),
            Some(s) if is_template(s) || KNOWN_SECURITY.contains(&s) => {}
            Some(s) => {
                let hint = KNOWN_SECURITY
                    .iter()
                    .find(|k| squash(k) == squash(s))
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                verdict.deny(
                    at("spec.plans", i, "security"),
                    format!(
                        "\"{s}\" is not a known plan security type{hint}; use one of {}",
                        KNOWN_SECURITY.join(", ")
                    ),
                );
            }
        }
    }
}

/// Rule: OAUTH2 plans name an OAuth2 resource of the API; JWT plans say how to verify tokens.
pub fn plan_security_configured(
    spec: &ApiDefinitionSpec,
    resources: &ApiResources,
    verdict: &mut Verdict,
) {
    for (i, plan) in spec.plans.iter().flatten().enumerate() {
        match plan.security.as_deref() {
            Some("OAUTH2") => oauth2_plan(i, plan, resources, verdict),
            Some("JWT") => jwt_plan(i, plan, verdict),
            _ => {}
        }
    }
}

/// The plan's `securityDefinition` as JSON: `Ok(None)` when absent or templated.
fn security_definition(
    i: usize,
    plan: &Plan,
    verdict: &mut Verdict,
) -> Result<Option<serde_json::Map<String, Value>>, ()> {
    let Some(raw) = plan
        .security_definition
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    else {
        return Ok(None);
    };
    if is_template(raw) {
        return Err(());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => {
            verdict.deny(
                at("spec.plans", i, "securityDefinition"),
                "is not a JSON object; write the security policy configuration as a JSON string, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
            );
            Err(())
        }
    }
}

fn oauth2_plan(i: usize, plan: &Plan, resources: &ApiResources, verdict: &mut Verdict) {
    let def = match security_definition(i, plan, verdict) {
        Ok(Some(def)) => def,
        Ok(None) => {
            verdict.deny(
                at("spec.plans", i, "securityDefinition"),
                "is required for an OAUTH2 plan; name the API's OAuth2 resource, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
            );
            return;
        }
        Err(()) => return,
    };
    let resource = def
        .get("oauthResource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if resource.is_empty() {
        verdict.deny(
            at("spec.plans", i, "securityDefinition"),
            "has no `oauthResource`; name the OAuth2 resource (in spec.resources) that validates tokens",
        );
        return;
    }
    if is_template(resource) {
        return;
    }
    match resources.types.get(resource) {
        // It may be the resource of the unresolved ref, which is reported already.
        None if resources.unresolved_refs => {}
        None => verdict.deny(
            at("spec.plans", i, "securityDefinition"),
            format!("oauthResource \"{resource}\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name"),
        ),
        Some(t) if !t.starts_with("oauth2") => verdict.deny(
            at("spec.plans", i, "securityDefinition"),
            format!("oauthResource \"{resource}\" is a resource of type \"{t}\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource"),
        ),
        Some(_) => {}
    }
}

const JWT_SIGNATURES: [&str; 6] = [
    "RSA_RS256",
    "RSA_RS384",
    "RSA_RS512",
    "HMAC_HS256",
    "HMAC_HS384",
    "HMAC_HS512",
];
const JWT_RESOLVERS: [&str; 3] = ["GIVEN_KEY", "GATEWAY_KEYS", "JWKS_URL"];

fn jwt_plan(i: usize, plan: &Plan, verdict: &mut Verdict) {
    let field = at("spec.plans", i, "securityDefinition");
    let def = match security_definition(i, plan, verdict) {
        Ok(Some(def)) => def,
        Ok(None) => {
            verdict.deny(
                field,
                "is required for a JWT plan; give at least signature, publicKeyResolver and resolverParameter, e.g. '{\"signature\":\"RSA_RS256\",\"publicKeyResolver\":\"JWKS_URL\",\"resolverParameter\":\"https://idp/.well-known/jwks.json\"}'",
            );
            return;
        }
        Err(()) => return,
    };
    let get = |k: &str| def.get(k).and_then(Value::as_str).unwrap_or_default();
    let signature = get("signature");
    if !JWT_SIGNATURES.contains(&signature) {
        verdict.deny(
            field.clone(),
            format!(
                "JWT `signature` is \"{signature}\"; use one of {}",
                JWT_SIGNATURES.join(", ")
            ),
        );
    }
    let resolver = get("publicKeyResolver");
    if !JWT_RESOLVERS.contains(&resolver) {
        verdict.deny(
            field.clone(),
            format!(
                "JWT `publicKeyResolver` is \"{resolver}\"; use one of {}",
                JWT_RESOLVERS.join(", ")
            ),
        );
    } else if resolver != "GATEWAY_KEYS" && get("resolverParameter").trim().is_empty() {
        verdict.deny(
            field,
            format!("JWT `resolverParameter` is required with publicKeyResolver {resolver}: give the key or the JWKS URL"),
        );
    }
}

/// The entrypoints of an API (virtual hosts with a path). A blank path is no entrypoint (it is
/// denied on its own): read as `/` it would clash with every other API.
pub fn entrypoints_of(spec: &ApiDefinitionSpec) -> Vec<Entrypoint> {
    indexed_entrypoints(spec)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// The entrypoints of an API with their index in `spec.proxy.virtual_hosts`.
fn indexed_entrypoints(spec: &ApiDefinitionSpec) -> Vec<(usize, Entrypoint)> {
    spec.proxy
        .iter()
        .flat_map(|p| p.virtual_hosts.iter().flatten())
        .enumerate()
        .filter_map(|(i, vh)| {
            vh.path
                .as_deref()
                .filter(|p| !p.trim().is_empty())
                .map(|p| (i, Entrypoint::new(vh.host.as_deref(), p)))
        })
        .collect()
}

/// Rules on `spec.proxy.virtual_hosts`: at least one, every path starts with `/`, no duplicate
/// host+path inside the API.
pub fn entrypoints(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let hosts = spec.proxy.as_ref().and_then(|p| p.virtual_hosts.as_ref());
    let Some(hosts) = hosts.filter(|h| !h.is_empty()) else {
        verdict.deny(
            "spec.proxy.virtual_hosts",
            "is empty; add at least one entrypoint, e.g. virtual_hosts: [{path: /my-api}]",
        );
        return;
    };
    let mut seen: HashMap<Entrypoint, usize> = HashMap::new();
    for (i, vh) in hosts.iter().enumerate() {
        let field = at("spec.proxy.virtual_hosts", i, "path");
        let Some(path) = vh.path.as_deref().filter(|p| !p.trim().is_empty()) else {
            verdict.deny(
                field,
                "is required; give the context path of the entrypoint, e.g. /my-api",
            );
            continue;
        };
        if !path.starts_with('/') {
            verdict.deny(
                field,
                format!("\"{path}\" does not start with `/`; write it as \"/{path}\""),
            );
            continue;
        }
        let e = Entrypoint::new(vh.host.as_deref(), path);
        if let Some(first) = seen.get(&e) {
            verdict.deny(
                field,
                format!("entrypoint {e} is declared twice (also spec.proxy.virtual_hosts[{first}]); remove the duplicate"),
            );
        } else {
            seen.insert(e, i);
        }
    }
}

/// Rule: no entrypoint equals, or is a prefix of, another ApiDefinition's in the same namespace
/// (every namespace with `--cluster-wide-paths`). Each entrypoint is reported once.
pub fn no_clash_with_other_apis(ctx: &Ctx<'_>, spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let mine = indexed_entrypoints(spec);
    if mine.is_empty() {
        return;
    }
    let scope = if ctx.settings.cluster_wide_paths {
        None
    } else {
        Some(ctx.namespace)
    };
    for (i, e) in &mine {
        let clash = ctx
            .lookup
            .clashing_entrypoints(scope, e)
            .into_iter()
            .find(|o| !is_same_object(ctx, &o.api));
        if let Some(other) = clash {
            verdict.deny(
                at("spec.proxy.virtual_hosts", *i, "path"),
                clash_message(e, &other),
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
        "context path {e} {relation} {theirs} of ApiDefinition {}; choose a path that neither equals nor contains another API's",
        other.api
    )
}

/// The API being validated (a lookup may hold its stored version; no namespace means the same).
fn is_same_object(ctx: &Ctx<'_>, other: &ObjectKey) -> bool {
    other.name == ctx.name && (other.namespace.is_empty() || other.namespace == ctx.namespace)
}

/// Rules on `spec.proxy.groups`: at least one endpoint (unless a group uses service discovery),
/// every target an absolute URL, endpoint names present and unique per group.
pub fn endpoints(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let groups: &[EndpointGroup] = spec
        .proxy
        .as_ref()
        .and_then(|p| p.groups.as_deref())
        .unwrap_or(&[]);
    let total: usize = groups
        .iter()
        .map(|g| g.endpoints.as_ref().map_or(0, Vec::len))
        .sum();
    let discovery = groups.iter().any(|g| {
        g.services
            .as_ref()
            .and_then(|s| s.discovery.as_ref())
            .is_some_and(|d| d.enabled == Some(true))
    });
    if total == 0 && !discovery {
        verdict.deny(
            "spec.proxy.groups",
            "has no endpoint; add a group with at least one endpoint, e.g. groups: [{name: default, endpoints: [{name: backend, target: https://backend.example.com}]}]",
        );
    }
    for (g, group) in groups.iter().enumerate() {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (e, endpoint) in group.endpoints.iter().flatten().enumerate() {
            // Formatted only for a violation (most endpoints have none).
            let base = || format!("spec.proxy.groups[{g}].endpoints[{e}]");
            match endpoint.name.as_deref().filter(|n| !n.trim().is_empty()) {
                None => verdict.deny(
                    format!("{}.name", base()),
                    "is required; give the endpoint a name unique in its group",
                ),
                Some(name) => {
                    if let Some(first) = seen.get(name) {
                        verdict.deny(
                            format!("{}.name", base()),
                            format!("endpoint name \"{name}\" is already used by spec.proxy.groups[{g}].endpoints[{first}]; endpoint names must be unique in a group"),
                        );
                    } else {
                        seen.insert(name, e);
                    }
                }
            }
            match endpoint.target.as_deref() {
                None | Some("") => verdict.deny(
                    format!("{}.target", base()),
                    "is required; give the backend URL, e.g. https://backend.example.com/path",
                ),
                Some(t) if is_template(t) || is_absolute_url(t) => {}
                Some(t) => verdict.deny(
                    format!("{}.target", base()),
                    format!("\"{t}\" is not an absolute URL; write scheme and host, e.g. https://backend.example.com/path"),
                ),
            }
        }
    }
}

/// An absolute URL with a scheme and a host (`https://host/path`, `grpc://host:port`).
pub fn is_absolute_url(s: &str) -> bool {
    plain_absolute_url(s) || parsed_absolute_url(s)
}

/// The full check, by `url`'s parser.
fn parsed_absolute_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

/// The common shape `scheme://name.example.com[:port][/rest]`, in plain ASCII, which `url` accepts
/// with that host, recognised without `url`'s full parse (its host processing is a few thousand
/// instructions per endpoint, a tenth of a review's rules). Anything else (IP addresses, punycode,
/// user info, `file:`, unusual characters) is left to `url`: this only ever answers `true` where
/// `url` would.
fn plain_absolute_url(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .as_bytes()
        .first()
        .is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !scheme.eq_ignore_ascii_case("file");
    if !scheme_ok {
        return false;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|p| {
        (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= 65535)
    });
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && !(bytes.len() >= 4 && bytes[..4].eq_ignore_ascii_case(b"xn--"))
    };
    // The last label starts with a letter: never read as an IPv4 address.
    let host_ok = host.split('.').all(label_ok)
        && host
            .rsplit('.')
            .next()
            .and_then(|l| l.as_bytes().first())
            .is_some_and(u8::is_ascii_alphabetic);
    let tail_ok = tail
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) && b != b'\\');
    port_ok && host_ok && tail_ok
}

/// A UUID in its canonical 8-4-4-4-12 hexadecimal form.
pub fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn blank(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_url_shortcut_only_accepts_what_url_accepts() {
        let schemes = [
            "http", "https", "HTTPS", "grpc", "grpcs", "ws", "wss", "tcp", "kafka", "ftp", "file",
            "h+t-t.p", "1http", "", "ht tp",
        ];
        let hosts = [
            "backend.example.com",
            "Backend.EXAMPLE.com",
            "b",
            "svc-1.ns.svc.cluster.local",
            "localhost",
            "1.2.3.4",
            "1.2.3",
            "999.1.1.1",
            "0x7f.1",
            "a.1",
            "xn--nxasmq6b.com",
            "xn--zz.com",
            "XN--zz.com",
            "-a.com",
            "a-.com",
            "a..com",
            "a.com.",
            ".a.com",
            "",
            "user@host.com",
            "ex ample.com",
            "exämple.com",
            "[::1]",
            "a_b.com",
            &"l".repeat(64),
        ];
        let ports = [
            "", ":", ":0", ":80", ":8080", ":65535", ":65536", ":99999", ":123456", ":8a",
        ];
        let tails = [
            "",
            "/",
            "/path",
            "/a/b?q=1#f",
            "?q",
            "#f",
            "/a%20b",
            "/a b",
            "/a\\b",
            "/é",
            "/a\tb",
            "/{x}|^`",
            "/a@b",
        ];
        let mut fast = 0;
        for scheme in schemes {
            for host in hosts {
                for port in ports {
                    for tail in tails {
                        let s = format!("{scheme}://{host}{port}{tail}");
                        if plain_absolute_url(&s) {
                            fast += 1;
                            assert!(parsed_absolute_url(&s), "{s}");
                        }
                        assert_eq!(is_absolute_url(&s), parsed_absolute_url(&s), "{s}");
                    }
                }
            }
        }
        // The shortcut does serve the common shapes.
        assert!(fast > 1000, "{fast}");
        for s in [
            "https://backend.example.com/path",
            "grpc://svc:50051",
            "http://b",
        ] {
            assert!(plain_absolute_url(s), "{s}");
        }
        for s in [
            "backend.example.com",
            "https://",
            "mailto:a@b.c",
            "grpc:///path",
        ] {
            assert!(!is_absolute_url(s), "{s}");
        }
    }
}
