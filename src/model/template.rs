//! GKO templates: a string value `[[ secret `name/key` ]]` or `[[ configmap `name/key` ]]`
//! (optionally `namespace/name/key`), replaced by the Secret's or ConfigMap's value at reconcile time.

/// What a template refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    pub source: Source,
    pub namespace: Option<String>,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Secret,
    ConfigMap,
}

impl Source {
    pub fn kind(self) -> &'static str {
        match self {
            Source::Secret => "Secret",
            Source::ConfigMap => "ConfigMap",
        }
    }
}

/// True when the value contains a `[[ ... ]]` template (its real value is only known at reconcile).
pub fn is_template(value: &str) -> bool {
    // Called on every string of every admitted object: a byte scan, not a substring searcher (whose
    // set-up cost more than the search on these short strings).
    find_pair(value.as_bytes(), b'[')
        .is_some_and(|start| find_pair(&value.as_bytes()[start + 2..], b']').is_some())
}

/// Index of the first `cc` (two bytes `c`) in `bytes`.
fn find_pair(bytes: &[u8], c: u8) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.iter().position(|&b| b == c) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&c) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Parses every template of a string. `Err` carries the text of a template that is not understood.
pub fn parse(value: &str) -> Vec<Result<TemplateRef, String>> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("[[") {
        let Some(len) = rest[start..].find("]]") else {
            break;
        };
        let inner = rest[start + 2..start + len].trim();
        out.push(parse_one(inner).ok_or_else(|| format!("[[ {inner} ]]")));
        rest = &rest[start + len + 2..];
    }
    out
}

fn parse_one(inner: &str) -> Option<TemplateRef> {
    let (function, arg) = inner.split_once(char::is_whitespace)?;
    let source = match function {
        "secret" => Source::Secret,
        "configmap" => Source::ConfigMap,
        _ => return None,
    };
    let arg = arg.trim().trim_matches(|c| c == '`' || c == '"');
    let parts: Vec<&str> = arg.split('/').collect();
    let (namespace, name, key) = match parts.as_slice() {
        [name, key] => (None, *name, *key),
        [ns, name, key] => (Some(ns.to_string()), *name, *key),
        _ => return None,
    };
    if name.is_empty() || key.is_empty() {
        return None;
    }
    Some(TemplateRef {
        source,
        namespace,
        name: name.to_string(),
        key: key.to_string(),
    })
}
