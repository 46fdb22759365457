//! Entrypoints (host + context path) of an API, normalised, and APIM's clash rule between them.

use super::ObjectKey;

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

/// One entrypoint of an ApiDefinition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiEntrypoint {
    pub api: ObjectKey,
    pub entrypoint: Entrypoint,
}
