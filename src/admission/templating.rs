//! GKO templating: a string value may be `[[ secret `name/key` ]]` or `[[ configmap `name/key` ]]`
//! (optionally `namespace/name/key`), replaced by the Secret's or ConfigMap's value at reconcile
//! time. Validation checks that what a template names exists, and other rules skip templated values.

use super::rules::{TEMPLATE_KEY_MISSING, TEMPLATE_NOT_UNDERSTOOD, TEMPLATE_SOURCE_NOT_FOUND};
use super::{Ctx, Doc, Verdict};

/// What a template refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateRef {
    pub source: Source,
    pub namespace: Option<String>,
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Secret,
    ConfigMap,
}

impl Source {
    fn kind(self) -> &'static str {
        match self {
            Source::Secret => "Secret",
            Source::ConfigMap => "ConfigMap",
        }
    }
}

/// True when the value contains a `[[ ... ]]` template (its real value is only known at reconcile).
pub(crate) fn is_template(value: &str) -> bool {
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
pub(crate) fn parse(value: &str) -> Vec<Result<TemplateRef, String>> {
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

/// Rules `template-not-understood`, `template-source-not-found`, `template-key-missing`: every
/// template in `spec` is understood and names a Secret or ConfigMap that exists and holds the key.
pub(crate) fn check_references(ctx: &Ctx<'_>, spec: &Doc<'_>, path: &str, verdict: &mut Verdict) {
    // Most specs hold no template: one plain pass first, the walk that keeps its way down (for the
    // field paths) only when there is one.
    if !holds_template(spec) {
        return;
    }
    let mut trail = Vec::new();
    walk(ctx, spec, path, &mut trail, verdict);
}

fn holds_template(value: &Doc<'_>) -> bool {
    match value {
        Doc::String(s) => is_template(s),
        Doc::Array(items) => items.iter().any(holds_template),
        Doc::Object(members) => members.iter().any(|(_, v)| holds_template(v)),
        _ => false,
    }
}

/// A step from a value to one of its children.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Walks `value` keeping the way down as borrowed steps: a field path is only formatted for a
/// string that holds a template (the rare case), not for every node.
fn walk<'a>(
    ctx: &Ctx<'_>,
    value: &'a Doc<'_>,
    root: &str,
    trail: &mut Vec<Step<'a>>,
    verdict: &mut Verdict,
) {
    match value {
        Doc::String(s) if is_template(s) => {
            let path = render(root, trail);
            for parsed in parse(s) {
                match parsed {
                    Err(text) => verdict.raise(
                        &TEMPLATE_NOT_UNDERSTOOD,
                        path.as_str(),
                        format!(
                            "template `{text}` is not understood; write [[ secret `name/key` ]] or [[ configmap `name/key` ]]"
                        ),
                    ),
                    Ok(t) => check_one(ctx, &t, &path, verdict),
                }
            }
        }
        Doc::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                trail.push(Step::Index(i));
                walk(ctx, item, root, trail, verdict);
                trail.pop();
            }
        }
        Doc::Object(members) => {
            for (k, v) in members {
                trail.push(Step::Key(k.as_ref()));
                walk(ctx, v, root, trail, verdict);
                trail.pop();
            }
        }
        _ => {}
    }
}

fn render(root: &str, trail: &[Step<'_>]) -> String {
    let mut path = root.to_string();
    for step in trail {
        match step {
            Step::Key(k) => {
                path.push('.');
                path.push_str(k);
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    path
}

fn check_one(ctx: &Ctx<'_>, t: &TemplateRef, path: &str, verdict: &mut Verdict) {
    let ns = t.namespace.as_deref().unwrap_or(ctx.namespace);
    let keys = match t.source {
        Source::Secret => ctx.lookup.secret_keys(ns, &t.name),
        Source::ConfigMap => ctx.lookup.config_map_keys(ns, &t.name),
    };
    let kind = t.source.kind();
    match keys {
        None => verdict.raise(
            &TEMPLATE_SOURCE_NOT_FOUND,
            path,
            format!(
                "the template refers to {kind} {ns}/{}, which does not exist; create it with key `{}` or fix the template",
                t.name, t.key
            ),
        ),
        Some(keys) if !keys.contains(&t.key) => verdict.raise(
            &TEMPLATE_KEY_MISSING,
            path,
            format!(
                "the template refers to key `{}` of {kind} {ns}/{}, which has no such key; add the key or fix the template",
                t.key, t.name
            ),
        ),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gko_templates() {
        let got = parse("[[ secret `graviteeio-templating/security` ]]");
        assert_eq!(
            got,
            vec![Ok(TemplateRef {
                source: Source::Secret,
                namespace: None,
                name: "graviteeio-templating".into(),
                key: "security".into()
            })]
        );
        let got = parse("https://[[ configmap `ns/hosts/backend` ]]/v1");
        assert!(
            matches!(&got[0], Ok(t) if t.namespace.as_deref() == Some("ns") && t.source == Source::ConfigMap)
        );
        assert_eq!(
            parse("[[ env `X` ]]"),
            vec![Err("[[ env `X` ]]".to_string())]
        );
        assert!(is_template("a [[ b ]] c"));
        assert!(!is_template("plain [[ unterminated"));
    }

    #[test]
    fn template_detection_is_a_plain_byte_scan() {
        assert!(is_template("[[]]"));
        assert!(is_template("x[ y [[ secret `a/b` ]]"));
        assert!(is_template("a [[[ b ]]] c"));
        assert!(!is_template("]] before [["));
        assert!(!is_template("[ [ ] ]"));
        assert!(!is_template("[[]"));
        assert!(!is_template("é[[ ü ]"));
        assert!(is_template("é[[ ü ]]"));
        assert!(!is_template(""));
    }
}
