//! The `AdmissionReview` (admission.k8s.io/v1) wire contract, and the one dispatch from a review
//! to the engine (validate) or to the defaults (mutate).
//!
//! Parsing and answering are written against the JSON the API server sends, not a client
//! library's types, so that the response is exactly what the API server expects: the `uid`
//! echoed, `patchType: JSONPatch` with `patch` as a base64 string, denials as `allowed: false` with
//! `status.code` 403 (400 for a malformed request), warnings in `warnings`.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::budget::{self, Stage};
use super::dry_run::{ApimDryRun, DryRunFindings};
use super::lookup::Resolver;
use super::rules::{API_APIM_DRY_RUN_DENIED, API_APIM_DRY_RUN_WARNING};
use super::{patch, Doc, Effect, Engine, Operation, Request, Verdict};
use crate::crd::{Kind, GROUP};

pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

/// The body is not an AdmissionReview at all: the HTTP answer is 400 with this reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadReview {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    NotAReview(String),
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
struct ReviewIn<O> {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<RequestIn<O>>,
}

#[derive(Deserialize, Debug, Default, Clone, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The fields of `AdmissionRequest` gko reads. The objects are `serde_json::Value`s for the
/// mutating webhook (its patch is a diff of `Value`s) and [`Doc`]s borrowing from the body for the
/// validating one.
#[derive(Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RequestIn<O> {
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub operation: String,
    /// A missing `object`/`oldObject` reads as `None` (serde's rule for `Option` fields).
    pub object: Option<O>,
    pub old_object: Option<O>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// The outcome of a review, with what metrics and logs need.
#[derive(Debug, Clone)]
pub struct Reviewed {
    /// The whole `AdmissionReview` to send back.
    pub body: Value,
    pub uid: String,
    pub kind: String,
    pub operation: String,
    pub outcome: Outcome,
    /// Set when a part of the review ran out of the review budget.
    pub out_of_budget: Option<Stage>,
    /// The rule of every violation and warning of a validating review, with the effect it had
    /// (a denial demoted to a warning counts as a warning). Empty for a mutating review.
    pub raised: Vec<(&'static str, Effect)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Patched,
    Denied,
    /// Could not decide (a reference could not be read); the request is refused.
    Error,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Patched => "patched",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

#[derive(Serialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
struct ResponseOut {
    uid: String,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    /// Base64 of the JSON patch (a string on the wire, never an array of numbers).
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

fn review(response: ResponseOut) -> Value {
    json!({
        "apiVersion": ADMISSION_API_VERSION,
        "kind": "AdmissionReview",
        "response": response,
    })
}

fn status(code: u16, message: &str) -> Value {
    let reason = match code {
        400 => "BadRequest",
        403 => "Forbidden",
        _ => "InternalError",
    };
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

/// What review handling reads of an object, in either representation.
pub(crate) trait Object {
    fn is_null(&self) -> bool;
    fn metadata_name(&self) -> Option<&str>;
}

impl Object for Doc<'_> {
    fn is_null(&self) -> bool {
        Doc::is_null(self)
    }

    fn metadata_name(&self) -> Option<&str> {
        self.pointer("/metadata/name").and_then(Doc::as_str)
    }
}

/// Parses a body into the request it carries, with its objects as `O` (`Value` or [`Doc`]).
pub fn parse<'a, O: Deserialize<'a>>(body: &'a [u8]) -> Result<RequestIn<O>, BadReview> {
    // UTF-8 is checked once for the whole body (cheaper than string by string while parsing), then
    // one pass over the text; only a failure pays for telling "not JSON" from "not a review".
    let text = std::str::from_utf8(body)
        .map_err(|e| BadReview::NotJson(format!("it is not UTF-8 text ({e})")))?;
    let review: ReviewIn<O> = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(syntax) => BadReview::NotJson(syntax.to_string()),
                Ok(_) => BadReview::NotAReview(e.to_string()),
            })
        }
    };
    if review.kind.as_deref() != Some("AdmissionReview") {
        return Err(BadReview::NotAReview(format!(
            "kind is {:?}, expected \"AdmissionReview\"",
            review.kind.unwrap_or_default()
        )));
    }
    if review.api_version.as_deref() != Some(ADMISSION_API_VERSION) {
        return Err(BadReview::NotAReview(format!(
            "apiVersion is {:?}; gko answers {ADMISSION_API_VERSION} only (set admissionReviewVersions: [v1])",
            review.api_version.unwrap_or_default()
        )));
    }
    let request = review
        .request
        .ok_or_else(|| BadReview::NotAReview("it has no request".into()))?;
    if request.uid.is_empty() {
        return Err(BadReview::NotAReview("request.uid is empty".into()));
    }
    Ok(request)
}

struct Checked<'a, O> {
    kind: Kind,
    operation: Operation,
    request: Request<'a, O>,
}

/// Checks what the engine needs; a refusal (status 400) is returned as the `Err` response.
fn check<O: Object>(req: &RequestIn<O>) -> Result<Checked<'_, O>, Box<ResponseOut>> {
    let refuse = |message: String| {
        Box::new(ResponseOut {
            uid: req.uid.clone(),
            allowed: false,
            status: Some(status(400, &message)),
            ..Default::default()
        })
    };
    let kind = match Kind::from_kind(&req.kind.kind) {
        Some(k) if req.kind.group == GROUP => k,
        _ => {
            return Err(refuse(format!(
                "gko does not handle {}/{} {}; it validates gravitee.io/v1alpha1 ManagementContext, ApiDefinition and ApiResource only (check the webhook configuration's rules)",
                req.kind.group, req.kind.version, req.kind.kind
            )))
        }
    };
    let Some(operation) = Operation::parse(&req.operation) else {
        return Err(refuse(format!("unknown operation {:?}", req.operation)));
    };
    let object = req.object.as_ref().filter(|o| !o.is_null());
    let old_object = req.old_object.as_ref().filter(|o| !o.is_null());
    let name = if req.name.is_empty() {
        object.and_then(O::metadata_name).unwrap_or_default()
    } else {
        &req.name
    };
    match operation {
        Operation::Create | Operation::Update if object.is_none() => {
            return Err(refuse(format!(
                "a {} request must carry request.object",
                req.operation
            )))
        }
        Operation::Delete if old_object.is_none() && name.is_empty() => {
            return Err(refuse("a DELETE request must name the object".into()))
        }
        _ => {}
    }
    Ok(Checked {
        kind,
        operation,
        request: Request {
            operation,
            kind,
            namespace: &req.namespace,
            name,
            object,
            old_object,
        },
    })
}

fn reviewed<O>(req: &RequestIn<O>, response: ResponseOut, outcome: Outcome) -> Reviewed {
    Reviewed {
        uid: req.uid.clone(),
        kind: req.kind.kind.clone(),
        operation: req.operation.clone(),
        outcome,
        body: review(response),
        out_of_budget: None,
        raised: Vec::new(),
    }
}

/// One log line per violation (`denied`) and warning (`warned`), each with its rule id.
fn log_verdict<O>(req: &RequestIn<O>, name: &str, verdict: &Verdict) {
    for (effect, list) in [
        (Effect::Deny, &verdict.violations),
        (Effect::Warn, &verdict.warnings),
    ] {
        for v in list {
            tracing::info!(
                uid = %req.uid,
                kind = %req.kind.kind,
                namespace = %req.namespace,
                name,
                rule = v.rule,
                effect = effect.as_str(),
                field = %v.field,
                message = %v.message,
                "{}",
                if effect == Effect::Deny { "denied" } else { "warned" }
            );
        }
    }
}

/// Answers a validating review. `dryRun` requests get the same answer; validation has no side
/// effect of any kind. With `dry_run`, an ApiDefinition the rules allow is also dry-run against APIM.
///
/// Reading references and the dry run share `budget`: when the references cannot be read in time the
/// review fails closed, naming them; when the dry run cannot finish, it fails as its mode says.
pub async fn validate(
    req: &RequestIn<Doc<'_>>,
    engine: &Engine,
    resolver: &dyn Resolver,
    dry_run: Option<&dyn ApimDryRun>,
    budget: Duration,
) -> Reviewed {
    let deadline = tokio::time::Instant::now() + budget;
    let checked = match check(req) {
        Ok(c) => c,
        Err(response) => return reviewed(req, *response, Outcome::Denied),
    };
    let resolved = tokio::time::timeout_at(deadline, resolver.resolve(&checked.request)).await;
    let lookup = match resolved {
        Ok(Ok(l)) => l,
        Err(_) => {
            let message = budget::resolve_timeout_message(
                checked.kind,
                &req.namespace,
                checked.request.name,
                checked.request.object,
                budget,
            );
            let response = ResponseOut {
                uid: req.uid.clone(),
                allowed: false,
                status: Some(status(500, &message)),
                ..Default::default()
            };
            let mut out = reviewed(req, response, Outcome::Error);
            out.out_of_budget = Some(Stage::Resolve);
            return out;
        }
        Ok(Err(e)) => {
            let response = ResponseOut {
                uid: req.uid.clone(),
                allowed: false,
                status: Some(status(
                    500,
                    &format!("{e}; gko cannot decide without it, retry"),
                )),
                ..Default::default()
            };
            return reviewed(req, response, Outcome::Error);
        }
    };
    let mut verdict = engine.validate_doc(&checked.request, lookup.as_ref());
    let mut out_of_budget = None;
    if let (Some(dry_run), Some(object), true) = (
        dry_run,
        checked.request.object,
        verdict.allowed()
            && matches!(checked.kind, Kind::ApiDefinition | Kind::ApiV4Definition)
            && matches!(checked.operation, Operation::Create | Operation::Update),
    ) {
        let object = object.to_value();
        let check = dry_run.check(&req.namespace, &object, lookup.as_ref());
        let findings = match tokio::time::timeout_at(deadline, check).await {
            Ok(findings) => findings,
            Err(_) => {
                out_of_budget = Some(Stage::DryRun);
                let message = budget::dry_run_timeout_message(budget, dry_run.fails_open());
                let mut findings = DryRunFindings::default();
                match dry_run.fails_open() {
                    true => findings.warnings.push(message),
                    false => findings.denials.push(message),
                }
                findings
            }
        };
        for warning in findings.warnings {
            verdict.raise(
                &API_APIM_DRY_RUN_WARNING,
                "spec",
                format!("APIM dry run: {warning}"),
            );
        }
        for denial in findings.denials {
            verdict.raise(
                &API_APIM_DRY_RUN_DENIED,
                "spec",
                format!("APIM dry run: {denial}"),
            );
        }
    }
    let name = checked.request.name;
    log_verdict(req, name, &verdict);
    let raised = verdict
        .violations
        .iter()
        .map(|v| (v.rule, Effect::Deny))
        .chain(verdict.warnings.iter().map(|v| (v.rule, Effect::Warn)))
        .collect();
    let warnings = verdict.warning_lines(checked.kind, &req.namespace, name);
    let (response, outcome) = if verdict.allowed() {
        (
            ResponseOut {
                uid: req.uid.clone(),
                allowed: true,
                warnings,
                ..Default::default()
            },
            Outcome::Allowed,
        )
    } else {
        let message = verdict.denial_message(checked.kind, &req.namespace, name);
        (
            ResponseOut {
                uid: req.uid.clone(),
                allowed: false,
                status: Some(status(403, &message)),
                warnings,
                ..Default::default()
            },
            Outcome::Denied,
        )
    };
    Reviewed {
        raised,
        out_of_budget,
        ..reviewed(req, response, outcome)
    }
}

/// Answers a mutating review: the defaults as a base64 JSON patch, or no patch at all when the
/// object already has them. The review is read as the same borrowed tree as a validating one; only
/// the `spec` is copied into a `Value`, the working copy the defaults are applied to and diffed from.
/// A cloud context whose token is inline gets its cloud defaults too (nothing to read); see
/// [`mutate_with`] for one whose token is in a Secret.
pub fn mutate(req: &RequestIn<Doc<'_>>) -> Reviewed {
    mutate_over(req, &super::lookup::Empty)
}

/// [`mutate`], reading first (within `budget`) what a Gravitee Cloud context's defaults need: the
/// Secret holding its token. Every other request is answered without any read.
pub async fn mutate_with(
    req: &RequestIn<Doc<'_>>,
    resolver: &dyn Resolver,
    budget: Duration,
) -> Reviewed {
    let checked = match check(req) {
        Ok(c) => c,
        Err(response) => return reviewed(req, *response, Outcome::Denied),
    };
    let needs_secret = checked.kind == Kind::ManagementContext
        && checked
            .request
            .object
            .and_then(|o| o.pointer("/spec/cloud/secretRef/name"))
            .and_then(Doc::as_str)
            .is_some_and(|n| !n.trim().is_empty());
    if !needs_secret {
        return mutate(req);
    }
    match tokio::time::timeout(budget, resolver.resolve(&checked.request)).await {
        Ok(Ok(lookup)) => mutate_over(req, lookup.as_ref()),
        Ok(Err(e)) => {
            let message = format!("{e}; gko cannot default the cloud context without it, retry");
            reviewed(req, error_response(req, &message), Outcome::Error)
        }
        Err(_) => {
            let message = format!(
                "could not read the cloud token Secret within {}ms; retry",
                budget.as_millis()
            );
            let mut out = reviewed(req, error_response(req, &message), Outcome::Error);
            out.out_of_budget = Some(Stage::Resolve);
            out
        }
    }
}

fn error_response(req: &RequestIn<Doc<'_>>, message: &str) -> ResponseOut {
    ResponseOut {
        uid: req.uid.clone(),
        allowed: false,
        status: Some(status(500, message)),
        ..Default::default()
    }
}

fn mutate_over(req: &RequestIn<Doc<'_>>, lookup: &dyn super::Lookup) -> Reviewed {
    let checked = match check(req) {
        Ok(c) => c,
        Err(response) => return reviewed(req, *response, Outcome::Denied),
    };
    let allow = ResponseOut {
        uid: req.uid.clone(),
        allowed: true,
        ..Default::default()
    };
    let object = match (checked.operation, checked.request.object) {
        (Operation::Create | Operation::Update, Some(o)) => o,
        _ => return reviewed(req, allow, Outcome::Allowed),
    };
    let ops = match object.get("spec") {
        Some(spec) if checked.kind == Kind::ManagementContext => {
            let original = spec.to_value();
            let mut target = original.clone();
            if let Err(verdict) =
                super::management_context::cloud_defaults(&req.namespace, lookup, &mut target)
            {
                let message =
                    verdict.denial_message(checked.kind, &req.namespace, checked.request.name);
                let response = ResponseOut {
                    uid: req.uid.clone(),
                    allowed: false,
                    status: Some(status(403, &message)),
                    ..Default::default()
                };
                return reviewed(req, response, Outcome::Denied);
            }
            patch::spec_patch_to(checked.kind, &original, target, &req.namespace)
        }
        Some(spec) => patch::spec_patch(checked.kind, &spec.to_value(), &req.namespace),
        None => json_patch::Patch::default(),
    };
    if ops.0.is_empty() {
        return reviewed(req, allow, Outcome::Allowed);
    }
    match serde_json::to_vec(&ops) {
        Ok(bytes) => {
            let response = ResponseOut {
                patch_type: Some("JSONPatch"),
                patch: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ..allow
            };
            reviewed(req, response, Outcome::Patched)
        }
        Err(e) => {
            let response = ResponseOut {
                uid: req.uid.clone(),
                allowed: false,
                status: Some(status(500, &format!("gko could not encode its patch: {e}"))),
                ..Default::default()
            };
            reviewed(req, response, Outcome::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures::future::BoxFuture;

    use super::*;
    use crate::admission::dry_run::DryRunFindings;
    use crate::admission::lookup::{Lookup, StaticResolver};
    use crate::admission::Settings;
    use crate::manifests::ManifestSet;

    struct Fake {
        findings: DryRunFindings,
        calls: AtomicUsize,
    }

    impl ApimDryRun for Fake {
        fn check<'a>(
            &'a self,
            _namespace: &'a str,
            _object: &'a Value,
            _lookup: &'a dyn Lookup,
        ) -> BoxFuture<'a, DryRunFindings> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let findings = self.findings.clone();
            Box::pin(async move { findings })
        }
    }

    fn resolver() -> StaticResolver {
        let mut set = ManifestSet::new();
        set.insert(
            "team",
            &json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
                    "metadata": {"name": "dev", "namespace": "team"},
                    "spec": {"baseUrl": "http://apim", "organizationId": "DEFAULT", "environmentId": "DEFAULT",
                             "auth": {"bearerToken": "t"}}}),
        );
        StaticResolver(Arc::new(set))
    }

    fn review_of(kind: &str, object: Value) -> RequestIn<Doc<'static>> {
        let body = json!({
            "apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview",
            "request": {"uid": "u1", "kind": {"group": GROUP, "version": "v1alpha1", "kind": kind},
                        "name": object["metadata"]["name"], "namespace": "team", "operation": "CREATE",
                        "object": object}
        });
        let text = body.to_string();
        let req: RequestIn<Doc<'_>> = parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        RequestIn {
            object: req.object.map(Doc::into_owned),
            old_object: req.old_object.map(Doc::into_owned),
            uid: req.uid,
            kind: req.kind,
            name: req.name,
            namespace: req.namespace,
            operation: req.operation,
            dry_run: req.dry_run,
        }
    }

    fn api() -> Value {
        json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
               "metadata": {"name": "orders", "namespace": "team"},
               "spec": {"name": "orders", "version": "1", "description": "d", "contextRef": {"name": "dev"},
                        "proxy": {"virtual_hosts": [{"path": "/orders"}],
                                  "groups": [{"name": "g", "endpoints": [{"name": "e", "target": "https://b.example"}]}]},
                        "plans": [{"name": "free", "security": "KEY_LESS"}]}})
    }

    #[test]
    fn a_deeply_nested_body_is_a_bad_request_not_a_crash() {
        let body = format!(
            "{{\"apiVersion\": \"{ADMISSION_API_VERSION}\", \"kind\": \"AdmissionReview\", \"request\": {{\"uid\": \"d\", \"object\": {}",
            "[".repeat(1_000_000)
        );
        assert!(matches!(
            parse::<Doc<'_>>(body.as_bytes()),
            Err(BadReview::NotJson(_))
        ));
    }

    #[tokio::test]
    async fn dry_run_findings_become_denials_and_warnings() {
        let engine = Engine::new(Settings::default());
        let resolver = resolver();
        let deny = Fake {
            findings: DryRunFindings {
                denials: vec!["The path [/orders/] is already covered".into()],
                warnings: vec!["plan has no description".into()],
            },
            calls: AtomicUsize::new(0),
        };
        let out = validate(
            &review_of("ApiDefinition", api()),
            &engine,
            &resolver,
            Some(&deny),
            Duration::from_secs(4),
        )
        .await;
        assert_eq!(out.outcome, Outcome::Denied, "{}", out.body);
        let text = out.body.to_string();
        assert!(
            text.contains("APIM dry run: The path [/orders/] is already covered"),
            "{text}"
        );
        assert!(
            text.contains("APIM dry run: plan has no description"),
            "{text}"
        );
        assert_eq!(
            out.raised,
            vec![
                ("api-apim-dry-run-denied", Effect::Deny),
                ("api-apim-dry-run-warning", Effect::Warn)
            ]
        );

        let warn = Fake {
            findings: DryRunFindings {
                denials: Vec::new(),
                warnings: vec!["APIM unreachable".into()],
            },
            calls: AtomicUsize::new(0),
        };
        let out = validate(
            &review_of("ApiDefinition", api()),
            &engine,
            &resolver,
            Some(&warn),
            Duration::from_secs(4),
        )
        .await;
        assert_eq!(out.outcome, Outcome::Allowed, "{}", out.body);
        assert!(out
            .body
            .to_string()
            .contains("APIM dry run: APIM unreachable"));
        assert_eq!(out.raised, vec![("api-apim-dry-run-warning", Effect::Warn)]);
        assert_eq!(warn.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn dry_run_is_skipped_for_denied_objects_and_other_kinds() {
        let engine = Engine::new(Settings::default());
        let resolver = resolver();
        let fake = Fake {
            findings: DryRunFindings::default(),
            calls: AtomicUsize::new(0),
        };
        let mut bad = api();
        bad["spec"]["version"] = Value::Null;
        let out = validate(
            &review_of("ApiDefinition", bad),
            &engine,
            &resolver,
            Some(&fake),
            Duration::from_secs(4),
        )
        .await;
        assert_eq!(out.outcome, Outcome::Denied);
        let resource = json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiResource",
                              "metadata": {"name": "cache", "namespace": "team"},
                              "spec": {"name": "c", "type": "cache-resource", "configuration": {}}});
        validate(
            &review_of("ApiResource", resource),
            &engine,
            &resolver,
            Some(&fake),
            Duration::from_secs(4),
        )
        .await;
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    }
}
