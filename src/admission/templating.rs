//! GKO templating: a string value may be `[[ secret `name/key` ]]` or `[[ configmap `name/key` ]]`
//! (optionally `namespace/name/key`), replaced by the Secret's or ConfigMap's value at reconcile
//! time. Validation checks that what a template names exists, and other rules skip templated values.

use super::rules::{TEMPLATE_KEY_MISSING, TEMPLATE_NOT_UNDERSTOOD, TEMPLATE_SOURCE_NOT_FOUND};
use super::{Ctx, Doc, Verdict};
pub use crate::model::template::{is_template, parse, Source, TemplateRef};

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

/// Replaces, in `value`, every string whose templates all have a known value (a ConfigMap's, or a
/// Secret's read live for this request) by the resolved string, so that rules check what the reconciler
/// will use (GKO resolves templates before its checks too). A string with a template whose value is not
/// known stays as it is: rules skip templated values.
pub(crate) fn resolve_known(ctx: &Ctx<'_>, value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) if is_template(s) => {
            if let Some(resolved) = resolve_str(ctx, s) {
                *s = resolved;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_known(ctx, v)),
        Value::Object(members) => members.values_mut().for_each(|v| resolve_known(ctx, v)),
        _ => {}
    }
}

fn resolve_str(ctx: &Ctx<'_>, s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("[[") {
        let len = rest[start..].find("]]")?;
        let t = parse(&rest[start..start + len + 2])
            .into_iter()
            .next()?
            .ok()?;
        let ns = t.namespace.as_deref().unwrap_or(ctx.namespace);
        let value = match t.source {
            Source::Secret => ctx.lookup.secret_value(ns, &t.name, &t.key),
            Source::ConfigMap => ctx.lookup.config_map_value(ns, &t.name, &t.key),
        }?;
        out.push_str(&rest[..start]);
        out.push_str(value.trim_end_matches(['\n', '\r']));
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    Some(out)
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
