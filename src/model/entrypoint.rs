//! Entrypoints (host + context path) of an API, normalised, and APIM's clash rule between them.

use super::ObjectKey;
use crate::crd::api_v4_definition::{ApiV4DefinitionSpec, ListenerType};
use crate::crd::Kind;

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
pub fn normalise_path(path: &str) -> String {
    let segments: Vec<&str> = path.trim().split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

fn is_segment_prefix(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path == prefix
        || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/'))
}

/// One entrypoint of an API: an ApiDefinition's virtual host or an ApiV4Definition's HTTP listener path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEntrypoint {
    /// ApiDefinition or ApiV4Definition.
    pub kind: Kind,
    pub api: ObjectKey,
    pub entrypoint: Entrypoint,
}

/// Where an entrypoint of a v4 API is written: `spec.listeners[listener].paths[path]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerPathAt {
    pub listener: usize,
    pub path: usize,
}

impl ListenerPathAt {
    /// `spec.listeners[l].paths[p]` followed by `rest` (`path`, `host`) when not empty.
    pub fn field(&self, rest: &str) -> String {
        let base = format!("spec.listeners[{}].paths[{}]", self.listener, self.path);
        if rest.is_empty() {
            base
        } else {
            format!("{base}.{rest}")
        }
    }
}

/// The entrypoints of a v4 API: every path of its HTTP listeners, with its host, and where it is
/// written. A blank path is no entrypoint (it is denied on its own).
pub fn v4_entrypoints(spec: &ApiV4DefinitionSpec) -> Vec<(ListenerPathAt, Entrypoint)> {
    let mut out = Vec::new();
    for (l, listener) in spec.listeners.iter().flatten().enumerate() {
        if listener.type_ != Some(ListenerType::Http) {
            continue;
        }
        for (p, lp) in listener.paths.iter().flatten().enumerate() {
            if let Some(path) = lp.path.as_deref().filter(|p| !p.trim().is_empty()) {
                let at = ListenerPathAt {
                    listener: l,
                    path: p,
                };
                out.push((at, Entrypoint::new(lp.host.as_deref(), path)));
            }
        }
    }
    out
}
