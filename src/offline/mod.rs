//! `gko validate`: the offline twin of the webhook. Reads manifests from files and folders,
//! resolves references among them, and runs the same engine as the webhook on every
//! gravitee.io/v1alpha1 object.

mod nulls;
mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::admission::rules::FILES_DUPLICATE_OBJECT;
use crate::admission::{Cause, Engine, Operation, Request, Violation};
use crate::crd::{Kind, API_VERSION};
use crate::manifests::{Inserted, ManifestSet};

/// Exit code when every object passes.
pub(crate) const EXIT_OK: i32 = 0;
/// Exit code when at least one object is denied.
pub(crate) const EXIT_DENIED: i32 = 1;
/// Exit code when some input could not be read or parsed.
pub(crate) const EXIT_UNREADABLE: i32 = 2;

/// Options of `gko validate`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Namespace of documents that do not name one (as `kubectl apply -n`).
    pub namespace: String,
    /// Report references to objects missing from the files as warnings instead of denials.
    pub allow_missing_refs: bool,
}

/// One parsed document of the input.
#[derive(Clone, Debug)]
pub(crate) struct Document {
    pub file: String,
    /// 1-based position in its file.
    pub index: usize,
    pub value: Value,
    /// Where its fields are in the file.
    pub(crate) at: yaml::Positions,
}

/// A problem with the input itself.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct InputError {
    pub file: String,
    /// 1-based document number, absent when the whole file is unreadable.
    pub document: Option<usize>,
    /// 1-based line the problem is on, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub message: String,
}

/// A violation or warning, with the line of its field in the input file.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub violation: Violation,
    /// 1-based line of the field (or of its closest enclosing field present in the file).
    pub line: u64,
}

/// The verdict on one object.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectReport {
    pub file: String,
    pub document: usize,
    /// 1-based line the object starts on.
    pub line: u64,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub allowed: bool,
    pub violations: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// Everything `gko validate` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub objects: Vec<ObjectReport>,
    /// Documents of kinds gko does not validate (kept for reference resolution when they are
    /// Secrets or ConfigMaps).
    pub skipped: Vec<InputError>,
    pub errors: Vec<InputError>,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        if self
            .errors
            .iter()
            .any(|e| e.document.is_none() || e.message.starts_with("invalid YAML"))
        {
            EXIT_UNREADABLE
        } else if !self.errors.is_empty() || self.objects.iter().any(|o| !o.allowed) {
            EXIT_DENIED
        } else {
            EXIT_OK
        }
    }

    pub fn denied(&self) -> usize {
        self.objects.iter().filter(|o| !o.allowed).count()
    }

    /// Denials caused by references that are not among the files.
    pub(crate) fn missing_references(&self) -> usize {
        self.objects
            .iter()
            .flat_map(|o| o.violations.iter())
            .filter(|v| v.violation.cause == Cause::Reference)
            .count()
    }

    /// The human-readable report: one line per violation, `file:line: Kind ns/name: field: message`
    /// (the compiler convention editors and CI annotations understand).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.errors {
            out.push_str(&input_line(e));
            out.push('\n');
        }
        for o in &self.objects {
            let who = format!("{} {}/{}", o.kind, o.namespace, o.name);
            for f in &o.violations {
                let v = &f.violation;
                out.push_str(&format!(
                    "{}:{}: {who}: {}: {}\n",
                    o.file, f.line, v.field, v.message
                ));
            }
            for f in &o.warnings {
                let w = &f.violation;
                out.push_str(&format!(
                    "{}:{}: {who}: warning: {}: {}\n",
                    o.file, f.line, w.field, w.message
                ));
            }
        }
        for s in &self.skipped {
            out.push_str(&format!("{} (skipped)\n", input_line(s)));
        }
        let missing = self.missing_references();
        if missing > 0 {
            out.push_str(&format!(
                "note: {missing} violation(s) are references to objects that are not among the given files; add those manifests to the check, or pass --allow-missing-refs when they exist in the cluster\n"
            ));
        }
        out.push_str(&format!(
            "gko validate: {} object(s) checked, {} denied, {} warning(s), {} input error(s), {} document(s) skipped\n",
            self.objects.len(),
            self.denied(),
            self.objects.iter().map(|o| o.warnings.len()).sum::<usize>(),
            self.errors.len(),
            self.skipped.len()
        ));
        out
    }
}

fn input_line(e: &InputError) -> String {
    let file = match e.line {
        Some(line) => format!("{}:{line}", e.file),
        None => e.file.clone(),
    };
    match e.document {
        Some(d) => format!("{file}: document {d}: {}", e.message),
        None => format!("{file}: {}", e.message),
    }
}

/// Collects the files named on the command line: files as given, folders walked recursively for
/// `.yaml`, `.yml` and `.json` files, in a stable order.
pub(crate) fn collect_files(paths: &[PathBuf], errors: &mut Vec<InputError>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out, errors);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            errors.push(InputError {
                file: p.display().to_string(),
                document: None,
                line: None,
                message: "no such file or folder".into(),
            });
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<InputError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(InputError {
                file: dir.display().to_string(),
                document: None,
                line: None,
                message: format!("cannot read folder: {e}"),
            });
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out, errors);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
}

/// Splits a file's text into documents (multi-document YAML, or JSON which is YAML too).
/// Empty documents are dropped and not counted; a document that does not parse is an error of its
/// own, and the documents before it are still read.
pub(crate) fn parse_documents(
    file: &str,
    text: &str,
    errors: &mut Vec<InputError>,
) -> Vec<Document> {
    let (parsed, error) = yaml::documents(text);
    let docs: Vec<Document> = parsed
        .into_iter()
        .enumerate()
        .map(|(i, (mut value, at))| {
            if let Classified::Ours(kind, _) = classify(&value) {
                nulls::prune(&mut value, crate::admission::schema::schema_of(kind));
            }
            Document {
                file: file.to_string(),
                index: i + 1,
                value,
                at,
            }
        })
        .collect();
    if let Some(e) = error {
        errors.push(InputError {
            file: file.to_string(),
            document: Some(docs.len() + 1),
            line: e.line,
            message: format!("invalid YAML: {}", e.message),
        });
    }
    docs
}

/// Reads and parses every file.
pub(crate) fn load(paths: &[PathBuf], errors: &mut Vec<InputError>) -> Vec<Document> {
    let files = collect_files(paths, errors);
    let mut docs = Vec::new();
    for f in files {
        let name = f.display().to_string();
        match std::fs::read_to_string(&f) {
            Ok(text) => docs.extend(parse_documents(&name, &text, errors)),
            Err(e) => errors.push(InputError {
                file: name,
                document: None,
                line: None,
                message: format!("cannot read file: {e}"),
            }),
        }
    }
    docs
}

/// What a document is, for `gko validate`.
enum Classified<'a> {
    Ours(Kind, &'a str),
    Skip(String),
    Error(String),
}

fn classify(doc: &Value) -> Classified<'_> {
    let Some(obj) = doc.as_object() else {
        return Classified::Error(
            "not a Kubernetes object (a mapping with apiVersion, kind and metadata)".into(),
        );
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let kind = obj.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let missing = match (api_version, kind) {
            (None, None) => "apiVersion and kind",
            (None, _) => "apiVersion",
            _ => "kind",
        };
        return Classified::Error(format!("{missing} missing; every manifest needs apiVersion and kind (e.g. apiVersion: {API_VERSION}, kind: ApiDefinition)"));
    };
    let group = api_version.split('/').next().unwrap_or_default();
    match Kind::from_kind(kind) {
        Some(k) if api_version == API_VERSION => match obj
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) if !name.is_empty() => Classified::Ours(k, name),
            _ => Classified::Error(format!(
                "{kind} has no metadata.name; give the object a name"
            )),
        },
        Some(_) if group == crate::crd::GROUP => Classified::Error(format!(
            "apiVersion {api_version} is not served; {kind} is {API_VERSION}"
        )),
        None if group == crate::crd::GROUP => {
            let near = Kind::ALL
                .into_iter()
                .find(|k| crate::admission::schema::levenshtein(k.as_str(), kind) <= 2);
            match near {
                Some(k) => Classified::Error(format!("unknown kind {kind}; did you mean {k}?")),
                None => Classified::Skip(format!(
                    "{api_version} {kind} is a kind gko does not validate"
                )),
            }
        }
        _ => Classified::Skip(format!("{api_version} {kind} is not a gravitee.io kind")),
    }
}

fn namespace_of<'a>(doc: &'a Value, default: &'a str) -> &'a str {
    doc.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
}

/// Validates a set of documents against each other.
pub(crate) fn validate_documents(
    docs: &[Document],
    engine: &Engine,
    options: &Options,
    mut errors: Vec<InputError>,
) -> Report {
    let mut set = ManifestSet::new();
    let mut seen: std::collections::HashMap<(String, String, String), (String, usize)> =
        Default::default();
    let mut duplicate_notes: Vec<(usize, String)> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let ns = namespace_of(&d.value, &options.namespace);
        if set.insert(ns, &d.value) == Inserted::Replaced {
            if let Classified::Ours(kind, name) = classify(&d.value) {
                let key = (kind.as_str().to_string(), ns.to_string(), name.to_string());
                if let Some((file, index)) = seen.get(&key) {
                    duplicate_notes.push((i, format!("{file} (document {index})")));
                }
            }
        }
        if let Classified::Ours(kind, name) = classify(&d.value) {
            seen.insert(
                (kind.as_str().to_string(), ns.to_string(), name.to_string()),
                (d.file.clone(), d.index),
            );
        }
    }

    let mut report = Report::default();
    for (i, d) in docs.iter().enumerate() {
        match classify(&d.value) {
            Classified::Error(message) => errors.push(InputError {
                file: d.file.clone(),
                document: Some(d.index),
                line: Some(d.at.first_line()),
                message,
            }),
            Classified::Skip(message) => report.skipped.push(InputError {
                file: d.file.clone(),
                document: Some(d.index),
                line: Some(d.at.first_line()),
                message,
            }),
            Classified::Ours(kind, name) => {
                let namespace = namespace_of(&d.value, &options.namespace);
                let req = Request {
                    operation: Operation::Create,
                    kind,
                    namespace,
                    name,
                    object: Some(&d.value),
                    old_object: None,
                };
                let mut verdict = engine.validate(&req, &set);
                for (_, earlier) in duplicate_notes.iter().filter(|(at, _)| *at == i) {
                    verdict.raise(
                        &FILES_DUPLICATE_OBJECT,
                        "metadata.name",
                        format!("the same {kind} is also defined in {earlier}; this later definition replaces it, as with kubectl apply"),
                    );
                }
                if options.allow_missing_refs {
                    let (refs, rest): (Vec<Violation>, Vec<Violation>) = verdict
                        .violations
                        .into_iter()
                        .partition(|v| v.cause == Cause::Reference);
                    verdict.violations = rest;
                    verdict.warnings.extend(refs);
                }
                let allowed = verdict.allowed();
                let locate = |v: Violation| Finding {
                    line: d.at.line_of(&v.field),
                    violation: v,
                };
                report.objects.push(ObjectReport {
                    file: d.file.clone(),
                    document: d.index,
                    line: d.at.first_line(),
                    kind: kind.as_str().to_string(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    allowed,
                    violations: verdict.violations.into_iter().map(locate).collect(),
                    warnings: verdict.warnings.into_iter().map(locate).collect(),
                });
            }
        }
    }
    report.errors = errors;
    report
}

/// Loads `paths` and validates everything in them.
pub fn run(paths: &[PathBuf], engine: &Engine, options: &Options) -> Report {
    let mut errors = Vec::new();
    let docs = load(paths, &mut errors);
    validate_documents(&docs, engine, options, errors)
}
