//! The entrypoints of an ApiDefinition spec (the noun and its clash rule live in the model layer).

use crate::crd::api_definition::ApiDefinitionSpec;
use crate::model::Entrypoint;

/// The entrypoints of an API (virtual hosts with a path). A blank path is no entrypoint (it is
/// denied on its own): read as `/` it would clash with every other API.
pub(crate) fn entrypoints_of(spec: &ApiDefinitionSpec) -> Vec<Entrypoint> {
    indexed_entrypoints(spec)
        .into_iter()
        .map(|(_, e)| e)
        .collect()
}

/// The entrypoints of an API with their index in `spec.proxy.virtual_hosts`.
pub(crate) fn indexed_entrypoints(spec: &ApiDefinitionSpec) -> Vec<(usize, Entrypoint)> {
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
