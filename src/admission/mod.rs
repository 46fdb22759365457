//! The validation engine shared by the webhook and `gko validate`, and the mutation (defaulting).
//!
//! One entry point, [`Engine::validate`]: the object is first checked against its CRD's OpenAPI
//! schema (every error, not just the first), then by the semantic rules of its kind, each a small
//! function in the kind's module. A denial is a normal [`Verdict`], never an error.

pub mod api_definition;
pub(crate) mod api_resource;
pub(crate) mod api_v4_definition;
pub mod budget;
pub mod dry_run;
pub mod lookup;
pub(crate) mod management_context;
pub mod patch;
pub mod review;
pub(crate) mod rules;
pub(crate) mod rules_view;
pub mod schema;
pub(crate) mod templating;

use serde_json::Value;

pub use self::rules::{Effect, Rule, RULES};
use crate::crd::Kind;
pub use crate::model::Doc;
use crate::model::ObjectKey;
pub use lookup::Lookup;

/// The admission operation, as in `AdmissionRequest.operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub(crate) fn parse(s: &str) -> Option<Operation> {
        match s {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

/// What is being admitted. `object` is the new object (CREATE, UPDATE), `old_object` the stored one
/// (UPDATE, DELETE). The engine reads objects as [`Doc`]s (the webhook parses reviews into them);
/// a request over `serde_json::Value`s (the CLI, tests) is borrowed into one.
#[derive(Debug)]
pub struct Request<'a, O = Value> {
    pub operation: Operation,
    pub kind: Kind,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a O>,
    pub old_object: Option<&'a O>,
}

impl<O> Clone for Request<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for Request<'_, O> {}

/// A request as the engine reads it.
pub type DocRequest<'a> = Request<'a, Doc<'a>>;

impl<'a, O> Request<'a, O> {
    /// The same request with other objects.
    pub(crate) fn with_objects<'b, P>(
        &self,
        object: Option<&'b P>,
        old_object: Option<&'b P>,
    ) -> Request<'b, P>
    where
        'a: 'b,
    {
        Request {
            operation: self.operation,
            kind: self.kind,
            namespace: self.namespace,
            name: self.name,
            object,
            old_object,
        }
    }
}

/// One reason to deny (or to warn): the rule raising it, the field path (`spec.plans[1].security`)
/// and what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The id of the [`Rule`] (see [`rules::RULES`]).
    pub rule: &'static str,
    pub field: String,
    pub message: String,
    pub cause: Cause,
}

/// Why a violation was raised: the schema, a rule on the object itself, or a reference to an
/// object that could not be found (which, offline, may only mean it is not among the files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    Schema,
    Rule,
    Reference,
}

impl Violation {
    pub(crate) fn new(rule: &Rule, field: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            rule: rule.id,
            field: field.into(),
            message: message.into(),
            cause: rule.cause,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The outcome of validation: allowed when there is no violation. Warnings never deny.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub violations: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Records that `rule` is broken at `field`: a violation or a warning, by the rule's effect.
    pub(crate) fn raise(
        &mut self,
        rule: &Rule,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let v = Violation::new(rule, field, message);
        match rule.effect {
            Effect::Deny => self.violations.push(v),
            Effect::Warn => self.warnings.push(v),
        }
    }

    /// Denies a missing `spec` with a message saying what it needs. The schema check reports
    /// `spec` as required already: that violation gets the better message (and `rule`'s id)
    /// instead of a second one.
    pub(crate) fn deny_missing_spec(&mut self, rule: &Rule, message: &str) {
        match self.violations.iter_mut().find(|v| v.field == "spec") {
            Some(existing) => {
                existing.message = message.to_string();
                existing.rule = rule.id;
            }
            None => self.raise(rule, "spec", message),
        }
    }

    /// One line naming the object and every violation, as the API server shows it after
    /// `admission webhook "<name>" denied the request: `.
    pub fn denial_message(&self, kind: Kind, namespace: &str, name: &str) -> String {
        let list: Vec<String> = self.violations.iter().map(|v| v.to_string()).collect();
        format!("{kind} {namespace}/{name}: {}", list.join("; "))
    }

    /// Warnings as the API server prints them (`Warning: ...`), each naming the object.
    pub fn warning_lines(&self, kind: Kind, namespace: &str, name: &str) -> Vec<String> {
        self.warnings
            .iter()
            .map(|w| format!("{kind} {namespace}/{name}: {w}"))
            .collect()
    }
}

/// Engine settings (from flags).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Check context-path clashes against ApiDefinitions of every namespace, not only the API's own.
    pub cluster_wide_paths: bool,
}

/// Context handed to every rule.
pub(crate) struct Ctx<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
    pub(crate) lookup: &'a dyn Lookup,
    pub(crate) settings: &'a Settings,
}

/// The validation engine.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    pub settings: Settings,
}

impl Engine {
    pub fn new(settings: Settings) -> Self {
        Engine { settings }
    }

    /// Validates one admission request over `serde_json::Value`s (borrowed, not copied).
    pub fn validate(&self, req: &Request<'_>, lookup: &dyn Lookup) -> Verdict {
        let object = req.object.map(Doc::from_value);
        let old_object = req.old_object.map(Doc::from_value);
        self.validate_doc(
            &req.with_objects(object.as_ref(), old_object.as_ref()),
            lookup,
        )
    }

    /// Validates one admission request. Never fails: malformed objects are denials.
    pub(crate) fn validate_doc(&self, req: &DocRequest<'_>, lookup: &dyn Lookup) -> Verdict {
        let ctx = Ctx {
            namespace: req.namespace,
            name: req.name,
            lookup,
            settings: &self.settings,
        };
        match req.operation {
            Operation::Delete => {
                let mut verdict = Verdict::default();
                match req.kind {
                    Kind::ManagementContext => {
                        management_context::validate_delete(&ctx, &mut verdict)
                    }
                    Kind::ApiResource => api_resource::validate_delete(&ctx, &mut verdict),
                    Kind::ApiDefinition | Kind::ApiV4Definition => {}
                }
                verdict
            }
            Operation::Connect => Verdict::default(),
            Operation::Create | Operation::Update => {
                let Some(object) = req.object else {
                    let mut verdict = Verdict::default();
                    verdict.raise(
                        &rules::REQUEST_OBJECT_MISSING,
                        "object",
                        "the request carries no object to validate",
                    );
                    return verdict;
                };
                if req.operation == Operation::Update && is_being_deleted(object) {
                    // Finalizers must always be removable, whatever the spec says.
                    return Verdict::default();
                }
                let mut verdict = Verdict::default();
                if req.kind == Kind::ApiDefinition
                    && api_definition::ingress_template(object, &mut verdict)
                {
                    return verdict;
                }
                schema::check(req.kind, object, &mut verdict);
                match req.kind {
                    Kind::ApiDefinition => api_definition::validate(&ctx, object, &mut verdict),
                    Kind::ManagementContext => {
                        management_context::validate(&ctx, object, &mut verdict)
                    }
                    Kind::ApiResource => api_resource::validate(&ctx, object, &mut verdict),
                    Kind::ApiV4Definition => {
                        api_v4_definition::validate(&ctx, object, &mut verdict)
                    }
                }
                if req.operation == Operation::Update && spec_unchanged(object, req.old_object) {
                    demote_to_warnings(&mut verdict);
                }
                verdict
            }
        }
    }
}

fn is_being_deleted(object: &Doc<'_>) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

fn spec_unchanged(object: &Doc<'_>, old: Option<&Doc<'_>>) -> bool {
    old.is_some_and(|old| old.get("spec") == object.get("spec"))
}

/// An update that leaves the spec as it was (labels, annotations, finalizers) is not denied for a
/// problem the spec already had when it was admitted: the problems are reported as warnings.
fn demote_to_warnings(verdict: &mut Verdict) {
    for v in verdict.violations.drain(..) {
        verdict.warnings.push(Violation {
            message: format!(
                "{} (the spec is unchanged, so this update is allowed)",
                v.message
            ),
            ..v
        });
    }
}

/// Joins field path segments: `field("spec.plans", 1)` style helpers for rules.
pub(crate) fn at(base: &str, index: usize, rest: &str) -> String {
    if rest.is_empty() {
        format!("{base}[{index}]")
    } else {
        format!("{base}[{index}].{rest}")
    }
}

/// "3 ApiDefinitions (default/a, default/b, team/c)", listing at most five, then "and N more";
/// v2 and v4 APIs together: "2 APIs (ApiDefinition default/a, ApiV4Definition default/b)". Also the
/// plural noun for the fix ("delete those ApiDefinitions").
pub(crate) fn describe_referrers(mut referrers: Vec<(Kind, ObjectKey)>) -> (String, &'static str) {
    referrers.sort();
    const SHOWN: usize = 5;
    let count = referrers.len();
    let one_kind = referrers
        .first()
        .map(|(k, _)| *k)
        .filter(|first| referrers.iter().all(|(k, _)| k == first));
    let (singular, plural) = match one_kind {
        Some(Kind::ApiV4Definition) => ("ApiV4Definition", "ApiV4Definitions"),
        Some(_) => ("ApiDefinition", "ApiDefinitions"),
        None => ("API", "APIs"),
    };
    let noun = if count == 1 { singular } else { plural };
    let names: Vec<String> = referrers
        .iter()
        .take(SHOWN)
        .map(|(kind, key)| match one_kind {
            Some(_) => key.to_string(),
            None => format!("{kind} {key}"),
        })
        .collect();
    let more = if count > SHOWN {
        format!(" and {} more", count - SHOWN)
    } else {
        String::new()
    };
    (
        format!("{count} {noun} ({}{more})", names.join(", ")),
        plural,
    )
}
