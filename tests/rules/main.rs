//! Every admission rule, allow side and deny side, asserting the exact rule id, field path and
//! message; and the engine's behaviour around the rules.
//!
//! One test crate (one binary) with a module per kind and concern. Fixtures are the small valid
//! objects of `tests/support/fixtures.rs`; each test changes one thing and checks the whole
//! verdict, so that a rule raising a second, unexpected violation also fails the test.

#[path = "../support/fixtures.rs"]
mod fixtures;

mod api_definition;
mod api_resource;
mod api_v4_definition;
mod engine;
mod management_context;

use gko::admission::{Cause, Engine, Operation, Request, Settings, Verdict, Violation};
use gko::crd::Kind;
use gko::manifests::ManifestSet;
use serde_json::{json, Value};

pub(crate) use fixtures::*;

/// The manifests the rules resolve references against.
fn set_of(objects: &[Value]) -> ManifestSet {
    let mut set = ManifestSet::new();
    for o in objects {
        let ns = o["metadata"]["namespace"].as_str().unwrap_or("default");
        set.insert(ns, o);
    }
    set
}

fn kind_of(object: &Value) -> Kind {
    Kind::from_kind(object["kind"].as_str().expect("kind")).expect("a gko kind")
}

fn request<'a>(op: Operation, object: &'a Value, old: Option<&'a Value>) -> Request<'a> {
    let meta = &object["metadata"];
    Request {
        operation: op,
        kind: kind_of(object),
        namespace: meta["namespace"].as_str().unwrap_or("default"),
        name: meta["name"].as_str().unwrap_or_default(),
        object: Some(object),
        old_object: old,
    }
}

/// CREATE of `object`, references resolved against `others`.
fn create(object: &Value, others: &[Value]) -> Verdict {
    create_with(Settings::default(), object, others)
}

fn create_with(settings: Settings, object: &Value, others: &[Value]) -> Verdict {
    Engine::new(settings).validate(&request(Operation::Create, object, None), &set_of(others))
}

/// DELETE of `kind` `namespace/name`, with `others` in the cluster.
fn delete(kind: Kind, namespace: &str, name: &str, others: &[Value]) -> Verdict {
    let req = Request {
        operation: Operation::Delete,
        kind,
        namespace,
        name,
        object: None,
        old_object: None,
    };
    Engine::default().validate(&req, &set_of(others))
}

/// The violation `id` raises at `field`, caused by the object itself.
fn rule(id: &'static str, field: &str, message: &str) -> Violation {
    Violation {
        rule: id,
        field: field.into(),
        message: message.into(),
        cause: Cause::Rule,
    }
}

/// The violation `id` raises at `field`, caused by a missing (or incomplete) referenced object.
fn reference(id: &'static str, field: &str, message: &str) -> Violation {
    Violation {
        cause: Cause::Reference,
        ..rule(id, field, message)
    }
}

#[track_caller]
fn assert_allowed(verdict: &Verdict) {
    assert_eq!(verdict, &Verdict::default(), "expected a clean verdict");
}

/// The verdict denies with exactly these violations and warns nothing.
#[track_caller]
fn assert_denied(verdict: &Verdict, expected: &[Violation]) {
    assert_eq!(verdict.violations, expected, "violations");
    assert!(
        verdict.warnings.is_empty(),
        "warnings: {:?}",
        verdict.warnings
    );
}

/// The verdict allows with exactly these warnings.
#[track_caller]
fn assert_warned(verdict: &Verdict, expected: &[Violation]) {
    assert!(
        verdict.violations.is_empty(),
        "violations: {:?}",
        verdict.violations
    );
    assert_eq!(verdict.warnings, expected, "warnings");
}
