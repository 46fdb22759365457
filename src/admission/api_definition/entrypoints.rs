//! Entrypoints of an API: normalised host and context path, and when two of them clash.

use crate::crd::api_definition::ApiDefinitionSpec;

/// A normalised entrypoint: lower-case host (empty for any host) and a path with one leading `/`
/// and no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entrypoint {
    pub host: String,
    pub path: String,
}

impl Entrypoint {
    pub fn new(host: Option<&str>, path: &str) -> Self {
        Entrypoint {
            host: host.unwrap_or_default().trim().to_ascii_lowercase(),
            path: normalise_path(path),
        }
    }

    /// Same host and one path equal to, or a whole-segment prefix of, the other.
    pub fn clashes_with(&self, other: &Entrypoint) -> bool {
        self.host == other.host
            && (is_segment_prefix(&self.path, &other.path)
                || is_segment_prefix(&other.path, &self.path))
    }
}

impl std::fmt::Display for Entrypoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.is_empty() {
            f.write_str(&self.path)
        } else {
            write!(f, "{}{}", self.host, self.path)
        }
    }
}

/// `/a//b/` becomes `/a/b`; `a` becomes `/a`; the root stays `/`.
pub(crate) fn normalise_path(path: &str) -> String {
    let segments: Vec<&str> = path.trim().split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

fn is_segment_prefix(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

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
