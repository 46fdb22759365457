//! Rules on `spec.proxy`: entrypoints (virtual hosts) and endpoints.

use std::collections::HashMap;

use super::entrypoints::indexed_entrypoints;
use crate::admission::rules::{
    API_ENDPOINTS_MISSING, API_ENDPOINT_NAME_DUPLICATE, API_ENDPOINT_NAME_MISSING,
    API_ENDPOINT_TARGET_MISSING, API_ENDPOINT_TARGET_NOT_URL, API_ENTRYPOINTS_MISSING,
    API_ENTRYPOINT_CLASH, API_ENTRYPOINT_DUPLICATE, API_ENTRYPOINT_PATH_MISSING,
    API_ENTRYPOINT_PATH_RELATIVE,
};
use crate::admission::templating::is_template;
use crate::admission::{at, Ctx, Verdict};
use crate::crd::api_definition::{ApiDefinitionSpec, EndpointGroup};
use crate::crd::Kind;
use crate::model::{ApiEntrypoint, Entrypoint, ObjectKey};

/// Rules on `spec.proxy.virtual_hosts`: at least one (`api-entrypoints-missing`), every path set
/// (`api-entrypoint-path-missing`) and starting with `/` (`api-entrypoint-path-relative`), no
/// duplicate host+path inside the API (`api-entrypoint-duplicate`).
pub(super) fn entrypoints(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
    let hosts = spec.proxy.as_ref().and_then(|p| p.virtual_hosts.as_ref());
    let Some(hosts) = hosts.filter(|h| !h.is_empty()) else {
        verdict.raise(
            &API_ENTRYPOINTS_MISSING,
            "spec.proxy.virtual_hosts",
            "is empty; add at least one entrypoint, e.g. virtual_hosts: [{path: /my-api}]",
        );
        return;
    };
    let mut seen: HashMap<Entrypoint, usize> = HashMap::new();
    for (i, vh) in hosts.iter().enumerate() {
        let field = at("spec.proxy.virtual_hosts", i, "path");
        let Some(path) = vh.path.as_deref().filter(|p| !p.trim().is_empty()) else {
            verdict.raise(
                &API_ENTRYPOINT_PATH_MISSING,
                field,
                "is required; give the context path of the entrypoint, e.g. /my-api",
            );
            continue;
        };
        if !path.starts_with('/') {
            verdict.raise(
                &API_ENTRYPOINT_PATH_RELATIVE,
                field,
                format!("\"{path}\" does not start with `/`; write it as \"/{path}\""),
            );
            continue;
        }
        let e = Entrypoint::new(vh.host.as_deref(), path);
        if let Some(first) = seen.get(&e) {
            verdict.raise(
                &API_ENTRYPOINT_DUPLICATE,
                field,
                format!("entrypoint {e} is declared twice (also spec.proxy.virtual_hosts[{first}]); remove the duplicate"),
            );
        } else {
            seen.insert(e, i);
        }
    }
}

/// Rule `api-entrypoint-clash`: no entrypoint equals, or is a prefix of, another ApiDefinition's in
/// the same namespace (every namespace with `--cluster-wide-paths`). Each entrypoint is reported
/// once.
pub(super) fn no_clash_with_other_apis(
    ctx: &Ctx<'_>,
    spec: &ApiDefinitionSpec,
    verdict: &mut Verdict,
) {
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
            .find(|o| !is_same_object(ctx, o));
        if let Some(other) = clash {
            verdict.raise(
                &API_ENTRYPOINT_CLASH,
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
        "context path {e} {relation} {theirs} of {} {}; choose a path that neither equals nor contains another API's",
        other.kind, other.api
    )
}

/// The API being validated (a lookup may hold its stored version; no namespace means the same). An
/// ApiV4Definition of the same name is another API.
fn is_same_object(ctx: &Ctx<'_>, other: &ApiEntrypoint) -> bool {
    other.kind == Kind::ApiDefinition && is_same_key(ctx, &other.api)
}

/// `other` names the object being validated (no namespace means the same).
pub(crate) fn is_same_key(ctx: &Ctx<'_>, other: &ObjectKey) -> bool {
    other.name == ctx.name && (other.namespace.is_empty() || other.namespace == ctx.namespace)
}

/// Rules on `spec.proxy.groups`: at least one endpoint unless a group uses service discovery
/// (`api-endpoints-missing`), endpoint names present and unique per group
/// (`api-endpoint-name-missing`, `api-endpoint-name-duplicate`), every target an absolute URL
/// (`api-endpoint-target-missing`, `api-endpoint-target-not-url`).
pub(super) fn endpoints(spec: &ApiDefinitionSpec, verdict: &mut Verdict) {
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
        verdict.raise(
            &API_ENDPOINTS_MISSING,
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
                None => verdict.raise(
                    &API_ENDPOINT_NAME_MISSING,
                    format!("{}.name", base()),
                    "is required; give the endpoint a name unique in its group",
                ),
                Some(name) => {
                    if let Some(first) = seen.get(name) {
                        verdict.raise(
                            &API_ENDPOINT_NAME_DUPLICATE,
                            format!("{}.name", base()),
                            format!("endpoint name \"{name}\" is already used by spec.proxy.groups[{g}].endpoints[{first}]; endpoint names must be unique in a group"),
                        );
                    } else {
                        seen.insert(name, e);
                    }
                }
            }
            match endpoint.target.as_deref() {
                None | Some("") => verdict.raise(
                    &API_ENDPOINT_TARGET_MISSING,
                    format!("{}.target", base()),
                    "is required; give the backend URL, e.g. https://backend.example.com/path",
                ),
                Some(t) if is_template(t) || is_absolute_url(t) => {}
                Some(t) => verdict.raise(
                    &API_ENDPOINT_TARGET_NOT_URL,
                    format!("{}.target", base()),
                    format!("\"{t}\" is not an absolute URL; write scheme and host, e.g. https://backend.example.com/path"),
                ),
            }
        }
    }
}

/// An absolute URL with a scheme and a host (`https://host/path`, `grpc://host:port`).
pub(super) fn is_absolute_url(s: &str) -> bool {
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
