//! Rule on `spec.endpointGroups`: each group holds at least one endpoint the API's listeners can use.

use crate::admission::rules::APIV4_ENDPOINT_GROUP_UNUSABLE;
use crate::admission::{at, Verdict};
use crate::crd::api_v4_definition::{ApiType, ApiV4DefinitionSpec, EndpointGroup, ListenerType};

/// Endpoint plugins of the proxy API types; a MESSAGE API uses any endpoint but these (kafka, mqtt5,
/// rabbitmq, solace, mock...).
const PROXY_TYPES: [&str; 3] = ["http-proxy", "tcp-proxy", "native-kafka"];

/// Which endpoint types an API can use, from its type and its listeners.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Usable {
    /// One of these (PROXY: http-proxy for HTTP listeners, tcp-proxy for TCP; NATIVE: native-kafka).
    Only(Vec<&'static str>),
    /// Anything but the proxy types (MESSAGE).
    Messaging,
    /// Not judged (LLM, MCP and A2A proxies, or no listener the rule knows).
    Unchecked,
}

pub(super) fn usable_types(spec: &ApiV4DefinitionSpec) -> Usable {
    match spec.type_ {
        Some(ApiType::Proxy) => {
            let mut types = Vec::new();
            if spec.listeners_of(ListenerType::Http).next().is_some() {
                types.push("http-proxy");
            }
            if spec.listeners_of(ListenerType::Tcp).next().is_some() {
                types.push("tcp-proxy");
            }
            if types.is_empty() {
                Usable::Unchecked
            } else {
                Usable::Only(types)
            }
        }
        Some(ApiType::Native) => Usable::Only(vec!["native-kafka"]),
        Some(ApiType::Message) => Usable::Messaging,
        _ => Usable::Unchecked,
    }
}

impl Usable {
    fn allows(&self, type_: &str) -> bool {
        match self {
            Usable::Only(types) => types.contains(&type_),
            Usable::Messaging => !PROXY_TYPES.contains(&type_),
            Usable::Unchecked => true,
        }
    }

    fn describe(&self) -> String {
        match self {
            Usable::Only(types) => format!("of type {}", types.join(" or ")),
            Usable::Messaging => {
                "of a messaging type (kafka, mqtt5, rabbitmq, solace, mock...)".into()
            }
            Usable::Unchecked => String::new(),
        }
    }
}

/// Service discovery fills the group with endpoints at run time.
fn discovers(group: &EndpointGroup) -> bool {
    group
        .services
        .as_ref()
        .and_then(|s| s.discovery.as_ref())
        .is_some_and(|d| d.enabled == Some(true))
}

/// Rule `apiv4-endpoint-group-unusable`: every endpoint group (unless it discovers its endpoints)
/// holds at least one endpoint whose type the API's listeners can use and that matches the group's
/// own type.
pub(super) fn endpoint_groups_usable(spec: &ApiV4DefinitionSpec, verdict: &mut Verdict) {
    let usable = usable_types(spec);
    let api_type = spec.type_.map_or("?", ApiType::as_str);
    for (i, group) in spec.endpoint_groups.iter().flatten().enumerate() {
        if discovers(group) {
            continue;
        }
        let name = group.name.as_deref().unwrap_or_default();
        let endpoints = group.endpoints.as_deref().unwrap_or_default();
        let group_type = group.type_.as_deref().filter(|t| !t.is_empty());
        let fits = |t: &str| usable.allows(t) && group_type.is_none_or(|g| g == t);
        if endpoints
            .iter()
            .any(|e| e.type_.as_deref().is_some_and(fits))
        {
            continue;
        }
        let found: Vec<&str> = endpoints
            .iter()
            .filter_map(|e| e.type_.as_deref())
            .collect();
        let what = if found.is_empty() {
            "has no endpoint".to_string()
        } else {
            format!(
                "has only endpoints of type {}, none that its listeners can use",
                found.join(", ")
            )
        };
        let wanted = match (&usable, group_type) {
            (_, Some(g)) if usable.allows(g) => format!("of the group's type {g}"),
            (_, Some(g)) => format!(
                "{} (and set the group's type, now {g}, to the same)",
                usable.describe()
            ),
            (Usable::Unchecked, None) => "with a type".to_string(),
            (_, None) => usable.describe(),
        };
        verdict.raise(
            &APIV4_ENDPOINT_GROUP_UNUSABLE,
            at("spec.endpointGroups", i, ""),
            format!(
                "endpoint group \"{name}\" of this {api_type} API {what}; add an endpoint {wanted}"
            ),
        );
    }
}
