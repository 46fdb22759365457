//! Every admission rule, allow side and deny side, asserting the exact field path and message.
//!
//! Fixtures are small valid objects built with `json!`; each test changes one thing and checks the
//! whole verdict, so that a rule raising a second, unexpected violation also fails the test.

use gko::admission::{Cause, Engine, Operation, Request, Settings, Verdict, Violation};
use gko::crd::Kind;
use gko::manifests::ManifestSet;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A valid, local ApiDefinition `default/orders` with one KEY_LESS plan and one endpoint.
fn api() -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiDefinition",
        "metadata": {"name": "orders", "namespace": "default"},
        "spec": {
            "name": "Orders",
            "version": "1.0",
            "description": "Orders API",
            "local": true,
            "plans": [{"name": "free", "security": "KEY_LESS"}],
            "proxy": {
                "virtual_hosts": [{"path": "/orders"}],
                "groups": [{
                    "name": "default",
                    "endpoints": [{"name": "backend", "target": "https://orders.internal/v1"}]
                }]
            }
        }
    })
}

/// Another valid API `namespace/name` served at `path`.
fn other_api(namespace: &str, name: &str, path: &str) -> Value {
    let mut a = api();
    a["metadata"] = json!({"name": name, "namespace": namespace});
    a["spec"]["proxy"]["virtual_hosts"] = json!([{ "path": path }]);
    a
}

/// A valid ManagementContext `default/dev` authenticating with a Secret.
fn context() -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ManagementContext",
        "metadata": {"name": "dev", "namespace": "default"},
        "spec": {
            "baseUrl": "https://apim.example.com",
            "organizationId": "DEFAULT",
            "environmentId": "DEFAULT",
            "auth": {"secretRef": {"name": "apim-credentials"}}
        }
    })
}

/// A ManagementContext `namespace/name` with a bearer token (needs nothing else).
fn context_named(namespace: &str, name: &str) -> Value {
    let mut c = context();
    c["metadata"] = json!({"name": name, "namespace": namespace});
    c["spec"]["auth"] = json!({"bearerToken": "token"});
    c
}

/// A valid ApiResource `default/<object>` named `name` of type `type_`.
fn resource(object: &str, name: &str, type_: &str) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1",
        "kind": "ApiResource",
        "metadata": {"name": object, "namespace": "default"},
        "spec": {"name": name, "type": type_, "configuration": {"timeToLiveSeconds": 60}}
    })
}

/// A Secret `default/name` with the given keys.
fn secret(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!("dmFsdWU=")))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

/// A ConfigMap `default/name` with the given keys.
fn config_map(name: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> =
        keys.iter().map(|k| (k.to_string(), json!("v"))).collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
}

/// An inline OAuth2 resource entry of `spec.resources`.
fn inline_oauth2(name: &str) -> Value {
    json!({"name": name, "type": "oauth2", "configuration": {"introspectionEndpoint": "https://idp/introspect"}})
}

/// Places `object` in `namespace` (metadata.namespace).
fn in_namespace(mut object: Value, namespace: &str) -> Value {
    object["metadata"]["namespace"] = json!(namespace);
    object
}

/// Sets the value at a JSON pointer (creating nothing: the parent must exist).
fn with(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let target = object.pointer_mut(parent).expect("parent exists");
    match target {
        Value::Object(map) => {
            map.insert(key.to_string(), value);
        }
        Value::Array(items) => {
            let i: usize = key.parse().expect("array index");
            items[i] = value;
        }
        other => panic!("cannot set {key} in {other}"),
    }
    object
}

/// Removes the value at a JSON pointer.
fn without(mut object: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let removed = object
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(key));
    assert!(removed.is_some(), "nothing at {pointer}");
    object
}

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

fn rule(field: &str, message: &str) -> Violation {
    Violation {
        field: field.into(),
        message: message.into(),
        cause: Cause::Rule,
    }
}

fn reference(field: &str, message: &str) -> Violation {
    Violation {
        cause: Cause::Reference,
        ..rule(field, message)
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

// ---------------------------------------------------------------------------------------------
// ApiDefinition
// ---------------------------------------------------------------------------------------------

mod api_definition {
    use super::*;

    const LOCAL_MSG: &str = "is false (the default since GKO 4.x) and spec.contextRef is not set, so the API would be deployed nowhere; set spec.contextRef to a ManagementContext, or set spec.local: true to deploy it to the gateway through a ConfigMap";

    fn with_context_ref(r: Value) -> Value {
        let a = without(api(), "/spec/local");
        with(a, "/spec/contextRef", r)
    }

    #[test]
    fn the_fixture_is_valid() {
        assert_allowed(&create(&api(), &[]));
    }

    #[test]
    fn name_is_required() {
        assert_denied(
            &create(&without(api(), "/spec/name"), &[]),
            &[rule(
                "spec.name",
                "is required: APIM needs a name for the API; set spec.name",
            )],
        );
        assert_denied(
            &create(&with(api(), "/spec/name", json!("  ")), &[]),
            &[rule(
                "spec.name",
                "is required: APIM needs a name for the API; set spec.name",
            )],
        );
    }

    #[test]
    fn version_is_required() {
        assert_denied(
            &create(&without(api(), "/spec/version"), &[]),
            &[rule(
                "spec.version",
                "is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\"",
            )],
        );
    }

    #[test]
    fn missing_description_only_warns() {
        assert_warned(
            &create(&without(api(), "/spec/description"), &[]),
            &[rule(
                "spec.description",
                "is empty; APIM 4.x requires a description, set spec.description",
            )],
        );
    }

    #[test]
    fn context_ref_resolves_in_the_api_namespace_by_default() {
        let a = with_context_ref(json!({"name": "dev"}));
        assert_allowed(&create(&a, &[context_named("default", "dev")]));
        assert_denied(
            &create(&a, &[context_named("other", "dev")]),
            &[reference(
                "spec.contextRef",
                "ManagementContext default/dev does not exist; create it first or fix spec.contextRef.name/namespace",
            )],
        );
    }

    #[test]
    fn context_ref_namespace_defaults_to_the_api_namespace_not_default() {
        let a = in_namespace(with_context_ref(json!({"name": "dev"})), "team");
        assert_allowed(&create(&a, &[context_named("team", "dev")]));
        assert_denied(
            &create(&a, &[context_named("default", "dev")]),
            &[reference(
                "spec.contextRef",
                "ManagementContext team/dev does not exist; create it first or fix spec.contextRef.name/namespace",
            )],
        );
    }

    #[test]
    fn context_ref_may_point_to_another_namespace() {
        let a = with_context_ref(json!({"name": "dev", "namespace": "apim"}));
        assert_allowed(&create(&a, &[context_named("apim", "dev")]));
        assert_denied(
            &create(&a, &[context_named("default", "dev")]),
            &[reference(
                "spec.contextRef",
                "ManagementContext apim/dev does not exist; create it first or fix spec.contextRef.name/namespace",
            )],
        );
    }

    #[test]
    fn context_ref_name_must_not_be_empty() {
        assert_denied(
            &create(&with_context_ref(json!({"name": ""})), &[]),
            &[rule(
                "spec.contextRef.name",
                "is empty; name the ManagementContext to push this API to",
            )],
        );
    }

    #[test]
    fn a_non_local_api_needs_a_context() {
        assert_denied(
            &create(&with(api(), "/spec/local", json!(false)), &[]),
            &[rule("spec.local", LOCAL_MSG)],
        );
        // Absent means false (the GKO 4.x default).
        assert_denied(
            &create(&without(api(), "/spec/local"), &[]),
            &[rule("spec.local", LOCAL_MSG)],
        );
    }

    #[test]
    fn a_local_api_with_a_context_is_fine() {
        let a = with(api(), "/spec/contextRef", json!({"name": "dev"}));
        assert_allowed(&create(&a, &[context_named("default", "dev")]));
    }

    #[test]
    fn cross_id_must_be_a_uuid() {
        let ok = with(
            api(),
            "/spec/crossId",
            json!("2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d"),
        );
        assert_allowed(&create(&ok, &[]));
        assert_denied(
            &create(&with(api(), "/spec/crossId", json!("orders-api")), &[]),
            &[rule(
                "spec.crossId",
                "\"orders-api\" is not a UUID (like 2b5b5a2c-3f0e-4c8e-9c55-0f6f2a1f8e3d); fix it, or remove it and gko derives a stable one",
            )],
        );
    }

    #[test]
    fn plan_cross_id_must_be_a_uuid() {
        let ok = with(
            api(),
            "/spec/plans/0/crossId",
            json!("7F3C1E2A-0B4D-4E5F-8A9B-0C1D2E3F4A5B"),
        );
        assert_allowed(&create(&ok, &[]));
        assert_denied(
            &create(&with(api(), "/spec/plans/0/crossId", json!("7f3c1e2a0b4d4e5f8a9b0c1d2e3f4a5b")), &[]),
            &[rule(
                "spec.plans[0].crossId",
                "\"7f3c1e2a0b4d4e5f8a9b0c1d2e3f4a5b\" is not a UUID; fix it, or remove it and gko derives one from the API and the plan name",
            )],
        );
    }

    mod resources {
        use super::*;

        #[test]
        fn a_ref_resolves_to_an_api_resource() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"ref": {"name": "cache"}}]),
            );
            assert_allowed(&create(&a, &[resource("cache", "my-cache", "cache")]));
            assert_denied(
                &create(&a, &[]),
                &[reference(
                    "spec.resources[0].ref",
                    "ApiResource default/cache does not exist; create it first or fix the reference",
                )],
            );
        }

        #[test]
        fn a_ref_namespace_defaults_to_the_api_namespace() {
            let a = in_namespace(
                with(
                    api(),
                    "/spec/resources",
                    json!([{"ref": {"name": "cache"}}]),
                ),
                "team",
            );
            let in_team = in_namespace(resource("cache", "my-cache", "cache"), "team");
            assert_allowed(&create(&a, &[in_team]));
            assert_denied(
                &create(&a, &[resource("cache", "my-cache", "cache")]),
                &[reference(
                    "spec.resources[0].ref",
                    "ApiResource team/cache does not exist; create it first or fix the reference",
                )],
            );
        }

        #[test]
        fn a_ref_may_point_to_another_namespace() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"ref": {"name": "cache", "namespace": "shared"}}]),
            );
            let shared = in_namespace(resource("cache", "my-cache", "cache"), "shared");
            assert_allowed(&create(&a, &[shared]));
        }

        #[test]
        fn a_ref_needs_a_name() {
            let a = with(api(), "/spec/resources", json!([{"ref": {"name": " "}}]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.resources[0].ref.name",
                    "is empty; name the ApiResource to use",
                )],
            );
        }

        #[test]
        fn a_ref_with_inline_fields_warns() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"ref": {"name": "cache"}, "name": "ignored"}]),
            );
            assert_warned(
                &create(&a, &[resource("cache", "my-cache", "cache")]),
                &[rule(
                    "spec.resources[0]",
                    "has both `ref` and inline fields; the inline name, type and configuration are ignored, remove them",
                )],
            );
        }

        #[test]
        fn an_inline_resource_is_complete() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"name": "cache", "type": "cache", "configuration": {}}]),
            );
            assert_allowed(&create(&a, &[]));
            let a = with(api(), "/spec/resources", json!([{"enabled": true}]));
            assert_denied(
                &create(&a, &[]),
                &[
                    rule(
                        "spec.resources[0].name",
                        "is required for an inline resource; set it, or use `ref` to point to an ApiResource",
                    ),
                    rule(
                        "spec.resources[0].type",
                        "is required for an inline resource, e.g. cache, cache-redis, oauth2",
                    ),
                    rule(
                        "spec.resources[0].configuration",
                        "is required for an inline resource; add the resource's configuration block",
                    ),
                ],
            );
        }

        #[test]
        fn resource_names_are_unique() {
            let a = with(
                api(),
                "/spec/resources",
                json!([
                    {"name": "cache", "type": "cache", "configuration": {}},
                    {"name": "other", "type": "cache", "configuration": {}},
                    {"name": "cache", "type": "cache-redis", "configuration": {}}
                ]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.resources[2]",
                    "resource name \"cache\" is already used by spec.resources[0]; policies find resources by name, so rename one",
                )],
            );
        }

        #[test]
        fn a_referenced_resource_name_counts_for_uniqueness() {
            let a = with(
                api(),
                "/spec/resources",
                json!([
                    {"ref": {"name": "shared-cache"}},
                    {"name": "my-cache", "type": "cache", "configuration": {}}
                ]),
            );
            assert_denied(
                &create(&a, &[resource("shared-cache", "my-cache", "cache")]),
                &[rule(
                    "spec.resources[1]",
                    "resource name \"my-cache\" is already used by spec.resources[0]; policies find resources by name, so rename one",
                )],
            );
        }

        #[test]
        fn an_unknown_inline_type_only_warns() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"name": "geo", "type": "geoip-db", "configuration": {}}]),
            );
            assert_warned(
                &create(&a, &[]),
                &[rule(
                    "spec.resources[0].type",
                    "\"geoip-db\" is not a resource type of the Gravitee distribution (cache, cache-redis, oauth2, oauth2-am-resource, oauth2-keycloak-resource, auth-provider-inline-resource, auth-provider-ldap-resource, auth-provider-http-resource, confluent-schema-registry, content-provider-inline-resource); fine for a custom plugin, otherwise fix the type",
                )],
            );
        }
        /// A templated type is only known at reconcile time: no unknown-type warning.
        #[test]
        fn a_templated_inline_type_does_not_warn() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"name": "c", "type": "[[ configmap `settings/cache-type` ]]", "configuration": {}}]),
            );
            assert_allowed(&create(&a, &[config_map("settings", &["cache-type"])]));
        }
    }

    mod plans {
        use super::*;

        const NO_PLAN: &str = "is empty but spec.state is STARTED; add at least one plan (e.g. {name: free, security: KEY_LESS}) or set spec.state: STOPPED";

        #[test]
        fn a_started_api_needs_a_plan() {
            assert_denied(
                &create(&without(api(), "/spec/plans"), &[]),
                &[rule("spec.plans", NO_PLAN)],
            );
            assert_denied(
                &create(&with(api(), "/spec/plans", json!([])), &[]),
                &[rule("spec.plans", NO_PLAN)],
            );
            let started = with(api(), "/spec/state", json!("STARTED"));
            assert_denied(
                &create(&with(started, "/spec/plans", json!([])), &[]),
                &[rule("spec.plans", NO_PLAN)],
            );
        }

        #[test]
        fn a_stopped_api_may_have_no_plan() {
            let a = with(
                without(api(), "/spec/plans"),
                "/spec/state",
                json!("STOPPED"),
            );
            assert_allowed(&create(&a, &[]));
        }

        #[test]
        fn plan_names_are_unique() {
            let a = with(
                api(),
                "/spec/plans",
                json!([
                    {"name": "free", "security": "KEY_LESS"},
                    {"name": "keys", "security": "API_KEY"},
                    {"name": " free ", "security": "API_KEY"}
                ]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[2].name",
                    "plan name \"free\" is already used by spec.plans[0]; plan names must be unique, rename one",
                )],
            );
        }

        #[test]
        fn a_plan_needs_a_name() {
            let a = with(api(), "/spec/plans", json!([{"security": "KEY_LESS"}]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].name",
                    "is required; give the plan a name",
                )],
            );
        }

        #[test]
        fn every_known_security_type_is_accepted() {
            let a = with(
                api(),
                "/spec/plans",
                json!([
                    {"name": "a", "security": "KEY_LESS"},
                    {"name": "b", "security": "API_KEY"}
                ]),
            );
            assert_allowed(&create(&a, &[]));
        }

        #[test]
        fn a_plan_needs_a_security_type() {
            let a = with(api(), "/spec/plans", json!([{"name": "free"}]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].security",
                    "is required; use one of KEY_LESS, API_KEY, OAUTH2, JWT",
                )],
            );
        }

        #[test]
        fn an_unknown_security_type_suggests_the_close_one() {
            let a = with(api(), "/spec/plans/0/security", json!("keyless"));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].security",
                    "\"keyless\" is not a known plan security type (did you mean KEY_LESS?); use one of KEY_LESS, API_KEY, OAUTH2, JWT",
                )],
            );
            let a = with(api(), "/spec/plans/0/security", json!("api-key"));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].security",
                    "\"api-key\" is not a known plan security type (did you mean API_KEY?); use one of KEY_LESS, API_KEY, OAUTH2, JWT",
                )],
            );
        }

        #[test]
        fn an_unknown_security_type_without_a_close_one_has_no_hint() {
            let a = with(api(), "/spec/plans/0/security", json!("BASIC"));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].security",
                    "\"BASIC\" is not a known plan security type; use one of KEY_LESS, API_KEY, OAUTH2, JWT",
                )],
            );
        }

        #[test]
        fn a_templated_security_type_is_checked_through_its_reference() {
            let a = with(
                api(),
                "/spec/plans/0/security",
                json!("[[ secret `plan-settings/security` ]]"),
            );
            assert_allowed(&create(&a, &[secret("plan-settings", &["security"])]));
        }
    }

    mod oauth2 {
        use super::*;

        fn oauth2_api(definition: Option<&str>, resources: Value) -> Value {
            let mut plan = json!({"name": "oauth", "security": "OAUTH2"});
            if let Some(d) = definition {
                plan["securityDefinition"] = json!(d);
            }
            let a = with(api(), "/spec/plans", json!([plan]));
            with(a, "/spec/resources", resources)
        }

        const DEF: &str = r#"{"oauthResource":"idp","extractPayload":false}"#;

        #[test]
        fn an_inline_oauth2_resource_is_accepted() {
            let a = oauth2_api(Some(DEF), json!([inline_oauth2("idp")]));
            assert_allowed(&create(&a, &[]));
        }

        #[test]
        fn a_referenced_oauth2_resource_is_accepted() {
            let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "am"}}]));
            assert_allowed(&create(&a, &[resource("am", "idp", "oauth2-am-resource")]));
            assert_allowed(&create(
                &a,
                &[resource("am", "idp", "oauth2-keycloak-resource")],
            ));
        }

        #[test]
        fn a_security_definition_is_required() {
            let a = oauth2_api(None, json!([inline_oauth2("idp")]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "is required for an OAUTH2 plan; name the API's OAuth2 resource, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
                )],
            );
        }

        #[test]
        fn the_security_definition_is_a_json_object() {
            let a = oauth2_api(Some("oauthResource: idp"), json!([inline_oauth2("idp")]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "is not a JSON object; write the security policy configuration as a JSON string, e.g. '{\"oauthResource\":\"my-oauth2\"}'",
                )],
            );
        }

        #[test]
        fn the_security_definition_names_the_oauth_resource() {
            let a = oauth2_api(
                Some(r#"{"extractPayload":true}"#),
                json!([inline_oauth2("idp")]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "has no `oauthResource`; name the OAuth2 resource (in spec.resources) that validates tokens",
                )],
            );
        }

        #[test]
        fn the_oauth_resource_is_a_resource_of_the_api() {
            let a = oauth2_api(Some(DEF), json!([inline_oauth2("other")]));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "oauthResource \"idp\" is not a resource of this API; add it to spec.resources (inline or by ref) or fix the name",
                )],
            );
        }

        #[test]
        fn the_oauth_resource_has_an_oauth2_type() {
            let a = oauth2_api(
                Some(DEF),
                json!([{"name": "idp", "type": "cache", "configuration": {}}]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "oauthResource \"idp\" is a resource of type \"cache\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource",
                )],
            );
            let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "c"}}]));
            assert_denied(
                &create(&a, &[resource("c", "idp", "cache-redis")]),
                &[rule(
                    "spec.plans[0].securityDefinition",
                    "oauthResource \"idp\" is a resource of type \"cache-redis\", not an OAuth2 resource; point it to an oauth2, oauth2-am-resource or oauth2-keycloak-resource resource",
                )],
            );
        }

        /// A resource ref that does not resolve says nothing about the resource's name: only the
        /// missing reference is reported (so `--allow-missing-refs` lets the API through).
        #[test]
        fn an_unresolved_ref_is_reported_once() {
            let a = oauth2_api(Some(DEF), json!([{"ref": {"name": "am"}}]));
            assert_denied(
                &create(&a, &[]),
                &[reference(
                    "spec.resources[0].ref",
                    "ApiResource default/am does not exist; create it first or fix the reference",
                )],
            );
        }
    }

    mod jwt {
        use super::*;

        fn jwt_api(definition: Option<&str>) -> Value {
            let mut plan = json!({"name": "jwt", "security": "JWT"});
            if let Some(d) = definition {
                plan["securityDefinition"] = json!(d);
            }
            with(api(), "/spec/plans", json!([plan]))
        }

        const FIELD: &str = "spec.plans[0].securityDefinition";

        #[test]
        fn a_complete_definition_is_accepted() {
            let a = jwt_api(Some(
                r#"{"signature":"RSA_RS256","publicKeyResolver":"JWKS_URL","resolverParameter":"https://idp/.well-known/jwks.json"}"#,
            ));
            assert_allowed(&create(&a, &[]));
            let a = jwt_api(Some(
                r#"{"signature":"HMAC_HS512","publicKeyResolver":"GATEWAY_KEYS"}"#,
            ));
            assert_allowed(&create(&a, &[]));
        }

        #[test]
        fn a_security_definition_is_required() {
            assert_denied(
                &create(&jwt_api(None), &[]),
                &[rule(
                    FIELD,
                    "is required for a JWT plan; give at least signature, publicKeyResolver and resolverParameter, e.g. '{\"signature\":\"RSA_RS256\",\"publicKeyResolver\":\"JWKS_URL\",\"resolverParameter\":\"https://idp/.well-known/jwks.json\"}'",
                )],
            );
        }

        #[test]
        fn the_signature_is_known() {
            let a = jwt_api(Some(
                r#"{"signature":"RS256","publicKeyResolver":"GIVEN_KEY","resolverParameter":"key"}"#,
            ));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    FIELD,
                    "JWT `signature` is \"RS256\"; use one of RSA_RS256, RSA_RS384, RSA_RS512, HMAC_HS256, HMAC_HS384, HMAC_HS512",
                )],
            );
        }

        #[test]
        fn the_public_key_resolver_is_known() {
            let a = jwt_api(Some(
                r#"{"signature":"RSA_RS256","publicKeyResolver":"JWKS"}"#,
            ));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    FIELD,
                    "JWT `publicKeyResolver` is \"JWKS\"; use one of GIVEN_KEY, GATEWAY_KEYS, JWKS_URL",
                )],
            );
        }

        #[test]
        fn missing_signature_and_resolver_are_both_reported() {
            let a = jwt_api(Some(r#"{"resolverParameter":"key"}"#));
            let v = create(&a, &[]);
            let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, vec![FIELD, FIELD], "{v:?}");
            assert!(v.violations[0].message.contains("`signature`"));
            assert!(v.violations[1].message.contains("`publicKeyResolver`"));
        }

        #[test]
        fn the_resolver_parameter_is_required_unless_gateway_keys() {
            let a = jwt_api(Some(
                r#"{"signature":"RSA_RS256","publicKeyResolver":"GIVEN_KEY","resolverParameter":" "}"#,
            ));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    FIELD,
                    "JWT `resolverParameter` is required with publicKeyResolver GIVEN_KEY: give the key or the JWKS URL",
                )],
            );
        }
    }

    mod entrypoints {
        use super::*;

        #[test]
        fn at_least_one_virtual_host() {
            assert_denied(
                &create(&with(api(), "/spec/proxy/virtual_hosts", json!([])), &[]),
                &[rule(
                    "spec.proxy.virtual_hosts",
                    "is empty; add at least one entrypoint, e.g. virtual_hosts: [{path: /my-api}]",
                )],
            );
        }

        #[test]
        fn a_path_is_required() {
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"host": "api.example.com"}]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.virtual_hosts[0].path",
                    "is required; give the context path of the entrypoint, e.g. /my-api",
                )],
            );
        }

        #[test]
        fn the_path_starts_with_a_slash() {
            let a = with(api(), "/spec/proxy/virtual_hosts/0/path", json!("orders"));
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.virtual_hosts[0].path",
                    "\"orders\" does not start with `/`; write it as \"/orders\"",
                )],
            );
        }

        #[test]
        fn no_duplicate_entrypoint_in_the_api() {
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"path": "/orders"}, {"path": "/orders/"}]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.virtual_hosts[1].path",
                    "entrypoint /orders is declared twice (also spec.proxy.virtual_hosts[0]); remove the duplicate",
                )],
            );
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"host": "a.example.com", "path": "/orders"}, {"host": "A.example.com", "path": "/orders"}]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.virtual_hosts[1].path",
                    "entrypoint a.example.com/orders is declared twice (also spec.proxy.virtual_hosts[0]); remove the duplicate",
                )],
            );
        }

        #[test]
        fn the_same_path_on_other_hosts_is_fine() {
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"host": "a.example.com", "path": "/orders"}, {"host": "b.example.com", "path": "/orders"}]),
            );
            assert_allowed(&create(&a, &[]));
        }
    }

    mod clashes {
        use super::*;

        fn clash(path: &str, relation: &str, theirs: &str, other: &str) -> Violation {
            rule(
                "spec.proxy.virtual_hosts[0].path",
                &format!("context path {path} {relation} {theirs} of ApiDefinition {other}; choose a path that neither equals nor contains another API's"),
            )
        }

        #[test]
        fn an_equal_path_in_the_namespace_is_denied() {
            let v = create(&api(), &[other_api("default", "billing", "/orders")]);
            assert_denied(
                &v,
                &[clash(
                    "/orders",
                    "is already used by",
                    "/orders",
                    "default/billing",
                )],
            );
        }

        #[test]
        fn a_segment_prefix_either_way_is_denied() {
            let v = create(&api(), &[other_api("default", "billing", "/orders/v2")]);
            assert_denied(
                &v,
                &[clash(
                    "/orders",
                    "overlaps",
                    "/orders/v2",
                    "default/billing",
                )],
            );
            let v = create(&api(), &[other_api("default", "root", "/")]);
            assert_denied(&v, &[clash("/orders", "overlaps", "/", "default/root")]);
        }

        #[test]
        fn paths_are_compared_by_segments() {
            let v = create(&api(), &[other_api("default", "billing", "//orders///v2/")]);
            assert_denied(
                &v,
                &[clash(
                    "/orders",
                    "overlaps",
                    "/orders/v2",
                    "default/billing",
                )],
            );
            let mut other = other_api("default", "billing", "/orders/");
            other["spec"]["proxy"]["virtual_hosts"][0]["host"] = json!("");
            let v = create(&api(), &[other]);
            assert_denied(
                &v,
                &[clash(
                    "/orders",
                    "is already used by",
                    "/orders",
                    "default/billing",
                )],
            );
        }

        #[test]
        fn entrypoints_clash_by_host_and_whole_path_segments() {
            use gko::model::Entrypoint;
            let cases = [
                ((None, "/a"), (None, "/a"), true),
                ((None, "/a"), (None, "/a/b"), true),
                ((None, "/a/b"), (None, "/a"), true),
                ((None, "/"), (None, "/a/b"), true),
                ((None, "/a"), (None, "/ab"), false),
                ((None, "/ab"), (None, "/a"), false),
                ((None, "/a/b"), (None, "/a/c"), false),
                ((None, "/a/"), (None, "/a/b"), true),
                ((None, "//a"), (None, "/a"), true),
                ((None, " /a "), (None, "/a/b"), true),
                ((None, "/a//"), (None, "/ab"), false),
                (
                    (Some("API.example.com "), "/a"),
                    (Some("api.example.com"), "/a"),
                    true,
                ),
                ((Some("a.example.com"), "/a"), (None, "/a"), false),
            ];
            for ((h1, p1), (h2, p2), expected) in cases {
                let (a, b) = (Entrypoint::new(h1, p1), Entrypoint::new(h2, p2));
                assert_eq!(a.clashes_with(&b), expected, "{a} vs {b}");
            }
        }

        #[test]
        fn a_string_prefix_is_not_a_clash() {
            assert_allowed(&create(&api(), &[other_api("default", "b", "/ordersx")]));
            assert_allowed(&create(&api(), &[other_api("default", "b", "/order")]));
        }

        #[test]
        fn another_host_is_not_a_clash() {
            let mut other = other_api("default", "b", "/orders");
            other["spec"]["proxy"]["virtual_hosts"][0]["host"] = json!("b.example.com");
            assert_allowed(&create(&api(), &[other]));
        }

        #[test]
        fn another_namespace_clashes_only_cluster_wide() {
            let others = [other_api("team", "billing", "/orders")];
            assert_allowed(&create(&api(), &others));
            let wide = Settings {
                cluster_wide_paths: true,
            };
            assert_denied(
                &create_with(wide, &api(), &others),
                &[clash(
                    "/orders",
                    "is already used by",
                    "/orders",
                    "team/billing",
                )],
            );
        }

        #[test]
        fn the_object_itself_is_not_a_clash() {
            // On UPDATE the stored version of the same API is in the lookup.
            assert_allowed(&create(&api(), &[api()]));
        }

        #[test]
        fn an_api_being_deleted_is_not_a_clash() {
            let mut other = other_api("default", "billing", "/orders");
            other["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
            assert_allowed(&create(&api(), &[other]));
        }

        #[test]
        fn each_entrypoint_is_reported_once() {
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"path": "/orders"}, {"path": "/orders/v2"}]),
            );
            let others = [
                other_api("default", "a", "/orders"),
                other_api("default", "b", "/orders/v2/items"),
            ];
            let v = create(&a, &others);
            let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(
                fields,
                vec![
                    "spec.proxy.virtual_hosts[0].path",
                    "spec.proxy.virtual_hosts[1].path"
                ],
                "{v:?}"
            );
        }

        /// An invalid (empty) path of another API is not the root: it clashes with nothing.
        #[test]
        fn an_empty_path_elsewhere_is_not_the_root() {
            assert_allowed(&create(&api(), &[other_api("default", "broken", "")]));
        }

        /// The field path names the virtual host that clashes, even after one without a path.
        #[test]
        fn the_clash_names_the_right_virtual_host() {
            let a = with(
                api(),
                "/spec/proxy/virtual_hosts",
                json!([{"host": "a.example.com", "path": ""}, {"path": "/orders"}]),
            );
            let v = create(&a, &[other_api("default", "billing", "/orders")]);
            assert_denied(
                &v,
                &[
                    rule(
                        "spec.proxy.virtual_hosts[0].path",
                        "is required; give the context path of the entrypoint, e.g. /my-api",
                    ),
                    Violation {
                        field: "spec.proxy.virtual_hosts[1].path".into(),
                        ..clash(
                            "/orders",
                            "is already used by",
                            "/orders",
                            "default/billing",
                        )
                    },
                ],
            );
        }
    }

    mod endpoints {
        use super::*;

        const NO_ENDPOINT: &str = "has no endpoint; add a group with at least one endpoint, e.g. groups: [{name: default, endpoints: [{name: backend, target: https://backend.example.com}]}]";

        #[test]
        fn at_least_one_endpoint() {
            assert_denied(
                &create(&without(api(), "/spec/proxy/groups"), &[]),
                &[rule("spec.proxy.groups", NO_ENDPOINT)],
            );
            let a = with(
                api(),
                "/spec/proxy/groups",
                json!([{"name": "a", "endpoints": []}, {"name": "b"}]),
            );
            assert_denied(&create(&a, &[]), &[rule("spec.proxy.groups", NO_ENDPOINT)]);
        }

        #[test]
        fn service_discovery_replaces_static_endpoints() {
            let a = with(
                api(),
                "/spec/proxy/groups",
                json!([{"name": "consul", "services": {"discovery": {"enabled": true, "provider": "consul-service-discovery"}}}]),
            );
            assert_allowed(&create(&a, &[]));
            let disabled = with(
                a,
                "/spec/proxy/groups/0/services/discovery/enabled",
                json!(false),
            );
            assert_denied(
                &create(&disabled, &[]),
                &[rule("spec.proxy.groups", NO_ENDPOINT)],
            );
        }

        #[test]
        fn the_target_is_an_absolute_url() {
            for ok in [
                "http://localhost:8080",
                "grpc://orders.internal:9000",
                "https://orders.internal/v1?x=1",
            ] {
                let a = with(api(), "/spec/proxy/groups/0/endpoints/0/target", json!(ok));
                assert_allowed(&create(&a, &[]));
            }
            for bad in ["orders.internal/v1", "/v1", "orders:8080"] {
                let a = with(api(), "/spec/proxy/groups/0/endpoints/0/target", json!(bad));
                assert_denied(
                    &create(&a, &[]),
                    &[rule(
                        "spec.proxy.groups[0].endpoints[0].target",
                        &format!("\"{bad}\" is not an absolute URL; write scheme and host, e.g. https://backend.example.com/path"),
                    )],
                );
            }
        }

        #[test]
        fn the_target_is_required() {
            let a = without(api(), "/spec/proxy/groups/0/endpoints/0/target");
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.groups[0].endpoints[0].target",
                    "is required; give the backend URL, e.g. https://backend.example.com/path",
                )],
            );
        }

        #[test]
        fn a_templated_target_is_checked_through_its_reference() {
            let a = with(
                api(),
                "/spec/proxy/groups/0/endpoints/0/target",
                json!("[[ configmap `backends/orders` ]]"),
            );
            assert_allowed(&create(&a, &[config_map("backends", &["orders"])]));
        }

        #[test]
        fn endpoint_names_are_required() {
            let a = without(api(), "/spec/proxy/groups/0/endpoints/0/name");
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.groups[0].endpoints[0].name",
                    "is required; give the endpoint a name unique in its group",
                )],
            );
        }

        #[test]
        fn endpoint_names_are_unique_per_group() {
            let a = with(
                api(),
                "/spec/proxy/groups",
                json!([
                    {"name": "a", "endpoints": [
                        {"name": "primary", "target": "https://a1.internal"},
                        {"name": "primary", "target": "https://a2.internal"}
                    ]},
                    {"name": "b", "endpoints": [{"name": "primary", "target": "https://b1.internal"}]}
                ]),
            );
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    "spec.proxy.groups[0].endpoints[1].name",
                    "endpoint name \"primary\" is already used by spec.proxy.groups[0].endpoints[0]; endpoint names must be unique in a group",
                )],
            );
        }
    }

    mod templating {
        use super::*;

        fn templated_target(template: &str) -> Value {
            with(
                api(),
                "/spec/proxy/groups/0/endpoints/0/target",
                json!(template),
            )
        }

        const FIELD: &str = "spec.proxy.groups[0].endpoints[0].target";

        #[test]
        fn a_secret_template_resolves() {
            let a = templated_target("[[ secret `backends/orders` ]]");
            assert_allowed(&create(&a, &[secret("backends", &["orders"])]));
        }

        #[test]
        fn a_missing_secret_is_a_reference_violation() {
            let a = templated_target("[[ secret `backends/orders` ]]");
            assert_denied(
                &create(&a, &[]),
                &[reference(
                    FIELD,
                    "the template refers to Secret default/backends, which does not exist; create it with key `orders` or fix the template",
                )],
            );
        }

        #[test]
        fn a_missing_key_is_a_reference_violation() {
            let a = templated_target("[[ secret `backends/orders` ]]");
            assert_denied(
                &create(&a, &[secret("backends", &["billing"])]),
                &[reference(
                    FIELD,
                    "the template refers to key `orders` of Secret default/backends, which has no such key; add the key or fix the template",
                )],
            );
        }

        #[test]
        fn a_configmap_template_resolves() {
            let a = templated_target("https://[[ configmap `hosts/orders` ]]/v1");
            assert_allowed(&create(&a, &[config_map("hosts", &["orders"])]));
            // A Secret of that name does not do.
            assert_denied(
                &create(&a, &[secret("hosts", &["orders"])]),
                &[reference(
                    FIELD,
                    "the template refers to ConfigMap default/hosts, which does not exist; create it with key `orders` or fix the template",
                )],
            );
        }

        #[test]
        fn a_template_may_name_the_namespace() {
            let a = templated_target("[[ secret `shared/backends/orders` ]]");
            let shared = in_namespace(secret("backends", &["orders"]), "shared");
            assert_allowed(&create(&a, &[shared]));
            assert_denied(
                &create(&a, &[secret("backends", &["orders"])]),
                &[reference(
                    FIELD,
                    "the template refers to Secret shared/backends, which does not exist; create it with key `orders` or fix the template",
                )],
            );
        }

        #[test]
        fn a_template_that_is_not_understood_is_denied() {
            let a = templated_target("[[ env `ORDERS_URL` ]]");
            assert_denied(
                &create(&a, &[]),
                &[rule(
                    FIELD,
                    "template `[[ env `ORDERS_URL` ]]` is not understood; write [[ secret `name/key` ]] or [[ configmap `name/key` ]]",
                )],
            );
        }

        #[test]
        fn templates_in_free_form_configuration_are_checked() {
            let a = with(
                api(),
                "/spec/resources",
                json!([{"name": "idp", "type": "oauth2", "configuration": {"clientSecret": "[[ secret `idp/secret` ]]"}}]),
            );
            assert_allowed(&create(&a, &[secret("idp", &["secret"])]));
            assert_denied(
                &create(&a, &[]),
                &[reference(
                    "spec.resources[0].configuration.clientSecret",
                    "the template refers to Secret default/idp, which does not exist; create it with key `secret` or fix the template",
                )],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ManagementContext
// ---------------------------------------------------------------------------------------------

mod management_context {
    use super::*;

    const ONE_OF: &str =
        "set exactly one of bearerToken, credentials (username and password) or secretRef";

    fn credentials_secret() -> Value {
        secret("apim-credentials", &["username", "password"])
    }

    fn with_auth(auth: Value) -> Value {
        with(context(), "/spec/auth", auth)
    }

    #[test]
    fn the_fixture_is_valid() {
        assert_allowed(&create(&context(), &[credentials_secret()]));
    }

    #[test]
    fn a_bearer_token_is_enough() {
        assert_allowed(&create(&with_auth(json!({"bearerToken": "t0k3n"})), &[]));
    }

    #[test]
    fn credentials_are_enough() {
        let c = with_auth(json!({"credentials": {"username": "admin", "password": "admin"}}));
        assert_allowed(&create(&c, &[]));
    }

    #[test]
    fn base_url_is_required() {
        assert_denied(
            &create(
                &without(context(), "/spec/baseUrl"),
                &[credentials_secret()],
            ),
            &[rule(
                "spec.baseUrl",
                "is required; give the Management API URL, e.g. https://apim.example.com",
            )],
        );
    }

    #[test]
    fn base_url_is_an_absolute_http_url() {
        for ok in ["http://apim:8083", "https://apim.example.com/management"] {
            let c = with(context(), "/spec/baseUrl", json!(ok));
            assert_allowed(&create(&c, &[credentials_secret()]));
        }
        for bad in ["apim.example.com", "ftp://apim.example.com", "/management"] {
            let c = with(context(), "/spec/baseUrl", json!(bad));
            assert_denied(
                &create(&c, &[credentials_secret()]),
                &[rule(
                    "spec.baseUrl",
                    &format!("\"{bad}\" is not an absolute http(s) URL; write it like https://apim.example.com"),
                )],
            );
        }
    }

    #[test]
    fn organization_and_environment_are_required() {
        let c = with(context(), "/spec/organizationId", json!(""));
        let c = without(c, "/spec/environmentId");
        assert_denied(
            &create(&c, &[credentials_secret()]),
            &[
                rule(
                    "spec.organizationId",
                    "is required; give the APIM organization id, e.g. DEFAULT",
                ),
                rule(
                    "spec.environmentId",
                    "is required; give the APIM environment id, e.g. DEFAULT",
                ),
            ],
        );
    }

    #[test]
    fn auth_is_required() {
        assert_denied(
            &create(&without(context(), "/spec/auth"), &[]),
            &[rule("spec.auth", &format!("is required; {ONE_OF}"))],
        );
        assert_denied(
            &create(&with_auth(json!({})), &[]),
            &[rule("spec.auth", &format!("is empty; {ONE_OF}"))],
        );
        assert_denied(
            &create(&with_auth(json!({"bearerToken": ""})), &[]),
            &[rule("spec.auth", &format!("is empty; {ONE_OF}"))],
        );
    }

    #[test]
    fn exactly_one_auth_method() {
        let c = with_auth(json!({"bearerToken": "t", "secretRef": {"name": "apim-credentials"}}));
        assert_denied(
            &create(&c, &[credentials_secret()]),
            &[rule(
                "spec.auth",
                "sets bearerToken and secretRef; keep exactly one of them",
            )],
        );
        let c = with_auth(json!({
            "bearerToken": "t",
            "credentials": {"username": "u", "password": "p"},
            "secretRef": {"name": "apim-credentials"}
        }));
        assert_denied(
            &create(&c, &[credentials_secret()]),
            &[rule(
                "spec.auth",
                "sets bearerToken and credentials and secretRef; keep exactly one of them",
            )],
        );
    }

    #[test]
    fn credentials_need_both_username_and_password() {
        let c = with_auth(json!({"credentials": {"username": "admin"}}));
        assert_denied(
            &create(&c, &[]),
            &[rule(
                "spec.auth.credentials.password",
                "is required with credentials; set both username and password",
            )],
        );
        let c = with_auth(json!({"credentials": {"password": "admin", "username": ""}}));
        assert_denied(
            &create(&c, &[]),
            &[rule(
                "spec.auth.credentials.username",
                "is required with credentials; set both username and password",
            )],
        );
    }

    #[test]
    fn the_secret_must_exist() {
        assert_denied(
            &create(&context(), &[]),
            &[reference(
                "spec.auth.secretRef",
                "Secret default/apim-credentials does not exist; create it with key bearerToken, or keys username and password",
            )],
        );
    }

    #[test]
    fn the_secret_namespace_defaults_to_the_context_namespace() {
        let c = in_namespace(context(), "apim");
        let in_apim = in_namespace(credentials_secret(), "apim");
        assert_allowed(&create(&c, &[in_apim]));
        assert_denied(
            &create(&c, &[credentials_secret()]),
            &[reference(
                "spec.auth.secretRef",
                "Secret apim/apim-credentials does not exist; create it with key bearerToken, or keys username and password",
            )],
        );
        let c = with_auth(json!({"secretRef": {"name": "apim-credentials", "namespace": "vault"}}));
        let in_vault = in_namespace(credentials_secret(), "vault");
        assert_allowed(&create(&c, &[in_vault]));
    }

    #[test]
    fn the_secret_holds_a_token_or_username_and_password() {
        assert_allowed(&create(
            &context(),
            &[secret("apim-credentials", &["bearerToken"])],
        ));
        assert_denied(
            &create(&context(), &[secret("apim-credentials", &["username", "token"])]),
            &[reference(
                "spec.auth.secretRef",
                "Secret default/apim-credentials has neither key bearerToken nor keys username and password (it has: token, username); add them",
            )],
        );
        assert_denied(
            &create(&context(), &[secret("apim-credentials", &[])]),
            &[reference(
                "spec.auth.secretRef",
                "Secret default/apim-credentials has neither key bearerToken nor keys username and password (it has: no keys); add them",
            )],
        );
    }

    #[test]
    fn the_secret_ref_needs_a_name() {
        let c = with_auth(json!({"secretRef": {"name": ""}}));
        assert_denied(
            &create(&c, &[]),
            &[rule(
                "spec.auth.secretRef.name",
                "is empty; name the Secret holding the credentials",
            )],
        );
    }

    #[test]
    fn a_templated_bearer_token_is_checked_through_its_reference() {
        let c = with_auth(json!({"bearerToken": "[[ secret `apim/token` ]]"}));
        assert_allowed(&create(&c, &[secret("apim", &["token"])]));
        assert_denied(
            &create(&c, &[]),
            &[reference(
                "spec.auth.bearerToken",
                "the template refers to Secret default/apim, which does not exist; create it with key `token` or fix the template",
            )],
        );
    }

    mod cloud {
        use super::*;

        fn cloud(cloud: Value) -> Value {
            let c = without(context(), "/spec/auth");
            let c = without(c, "/spec/baseUrl");
            with(c, "/spec/cloud", cloud)
        }

        #[test]
        fn a_token_is_enough() {
            assert_allowed(&create(&cloud(json!({"token": "cloud-token"})), &[]));
        }

        #[test]
        fn a_secret_with_cloud_token_is_enough() {
            let c = cloud(json!({"secretRef": {"name": "cloud"}}));
            assert_allowed(&create(&c, &[secret("cloud", &["cloudToken"])]));
        }

        #[test]
        fn token_and_secret_are_exclusive() {
            let c = cloud(json!({"token": "t", "secretRef": {"name": "cloud"}}));
            assert_denied(
                &create(&c, &[secret("cloud", &["cloudToken"])]),
                &[rule(
                    "spec.cloud",
                    "sets both token and secretRef; keep one",
                )],
            );
        }

        #[test]
        fn one_of_token_and_secret_is_required() {
            assert_denied(
                &create(&cloud(json!({})), &[]),
                &[rule(
                    "spec.cloud",
                    "needs a token or a secretRef to a Secret with key cloudToken",
                )],
            );
        }

        #[test]
        fn the_secret_exists_and_holds_cloud_token() {
            let c = cloud(json!({"secretRef": {"name": "cloud"}}));
            assert_denied(
                &create(&c, &[]),
                &[reference(
                    "spec.cloud.secretRef",
                    "Secret default/cloud does not exist; create it with key cloudToken",
                )],
            );
            assert_denied(
                &create(&c, &[secret("cloud", &["token"])]),
                &[reference(
                    "spec.cloud.secretRef",
                    "Secret default/cloud has no key cloudToken; add it",
                )],
            );
        }

        #[test]
        fn auth_is_ignored_with_cloud() {
            let c = with(
                cloud(json!({"token": "t"})),
                "/spec/auth",
                json!({"bearerToken": "x"}),
            );
            assert_warned(
                &create(&c, &[]),
                &[rule(
                    "spec.auth",
                    "is ignored when spec.cloud is set; remove it",
                )],
            );
        }
    }

    mod delete {
        use super::*;

        fn api_using(namespace: &str, name: &str, context_ref: Value) -> Value {
            let a = other_api(namespace, name, &format!("/{name}"));
            with(a, "/spec/contextRef", context_ref)
        }

        #[test]
        fn an_unused_context_can_be_deleted() {
            let others = [
                api(),
                api_using("default", "a", json!({"name": "prod"})),
                api_using("team", "b", json!({"name": "dev"})),
            ];
            assert_allowed(&delete(Kind::ManagementContext, "default", "dev", &others));
        }

        #[test]
        fn a_used_context_cannot_be_deleted() {
            let others = [
                api_using("default", "a", json!({"name": "dev"})),
                api_using("team", "b", json!({"name": "dev", "namespace": "default"})),
            ];
            assert_denied(
                &delete(Kind::ManagementContext, "default", "dev", &others),
                &[rule(
                    "metadata.name",
                    "the context is still used by 2 ApiDefinitions (default/a, team/b); delete those ApiDefinitions or point their spec.contextRef to another context first",
                )],
            );
        }

        #[test]
        fn one_referrer_is_singular() {
            let others = [api_using("default", "a", json!({"name": "dev"}))];
            assert_denied(
                &delete(Kind::ManagementContext, "default", "dev", &others),
                &[rule(
                    "metadata.name",
                    "the context is still used by 1 ApiDefinition (default/a); delete those ApiDefinitions or point their spec.contextRef to another context first",
                )],
            );
        }

        #[test]
        fn at_most_five_referrers_are_listed() {
            let others: Vec<Value> = (1..=7)
                .map(|i| api_using("default", &format!("api-{i}"), json!({"name": "dev"})))
                .collect();
            assert_denied(
                &delete(Kind::ManagementContext, "default", "dev", &others),
                &[rule(
                    "metadata.name",
                    "the context is still used by 7 ApiDefinitions (default/api-1, default/api-2, default/api-3, default/api-4, default/api-5 and 2 more); delete those ApiDefinitions or point their spec.contextRef to another context first",
                )],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ApiResource
// ---------------------------------------------------------------------------------------------

mod api_resource {
    use super::*;

    #[test]
    fn the_fixture_is_valid() {
        assert_allowed(&create(&resource("cache", "my-cache", "cache"), &[]));
    }

    #[test]
    fn name_type_and_configuration_are_required() {
        let r = resource("cache", "my-cache", "cache");
        let r = with(r, "/spec/name", json!(" "));
        let r = without(r, "/spec/type");
        let r = without(r, "/spec/configuration");
        assert_denied(
            &create(&r, &[]),
            &[
                rule(
                    "spec.name",
                    "is required; it is the name policies use to find the resource",
                ),
                rule(
                    "spec.type",
                    "is required, e.g. cache, cache-redis, oauth2, oauth2-am-resource",
                ),
                rule(
                    "spec.configuration",
                    "is required; add the resource's configuration block",
                ),
            ],
        );
    }

    #[test]
    fn an_unknown_type_only_warns() {
        assert_warned(
            &create(&resource("geo", "geo", "geoip-db"), &[]),
            &[rule(
                "spec.type",
                "\"geoip-db\" is not a resource type of the Gravitee distribution (cache, cache-redis, oauth2, oauth2-am-resource, oauth2-keycloak-resource, auth-provider-inline-resource, auth-provider-ldap-resource, auth-provider-http-resource, confluent-schema-registry, content-provider-inline-resource); fine for a custom plugin, otherwise fix the type",
            )],
        );
    }

    #[test]
    fn a_templated_type_does_not_warn() {
        let r = resource("cache", "my-cache", "[[ configmap `settings/cache-type` ]]");
        assert_allowed(&create(&r, &[config_map("settings", &["cache-type"])]));
    }

    #[test]
    fn a_used_resource_cannot_be_deleted() {
        let user = |ns: &str, name: &str, r: Value| {
            with(
                other_api(ns, name, &format!("/{name}")),
                "/spec/resources",
                json!([{ "ref": r }]),
            )
        };
        let others = [
            user("default", "a", json!({"name": "cache"})),
            user(
                "team",
                "b",
                json!({"name": "cache", "namespace": "default"}),
            ),
            user("team", "c", json!({"name": "cache"})),
        ];
        assert_denied(
            &delete(Kind::ApiResource, "default", "cache", &others),
            &[rule(
                "metadata.name",
                "the resource is still used by 2 ApiDefinitions (default/a, team/b); remove it from their spec.resources first",
            )],
        );
        assert_allowed(&delete(Kind::ApiResource, "default", "redis", &others));
    }
}

// ---------------------------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------------------------

mod engine {
    use super::*;

    #[test]
    fn every_schema_error_is_reported() {
        let a = with(api(), "/spec/state", json!("RUNNING"));
        let a = with(a, "/spec/visibility", json!("SECRET"));
        let a = with(a, "/spec/plans/0/order", json!("first"));
        let v = create(&a, &[]);
        let fields: Vec<&str> = v.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(v.violations.len(), 3, "{v:?}");
        for f in ["spec.state", "spec.visibility", "spec.plans[0].order"] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert!(v.violations.iter().all(|v| v.cause == Cause::Schema));
        assert!(v.violations.contains(&Violation {
            field: "spec.state".into(),
            message: "\"RUNNING\" is not a valid value; use one of STARTED, STOPPED".into(),
            cause: Cause::Schema,
        }));
    }

    #[test]
    fn an_unknown_field_is_a_schema_error_with_a_suggestion() {
        let a = with(api(), "/spec/contextref", json!({"name": "dev"}));
        let v = create(&a, &[]);
        assert_eq!(
            v.violations,
            vec![Violation {
                field: "spec.contextref".into(),
                message: "unknown field `contextref`: it is not part of the ApiDefinition schema; did you mean `contextRef`? remove it or correct its spelling".into(),
                cause: Cause::Schema,
            }]
        );
    }

    /// Reported once (by the schema), with the message saying what a spec needs.
    #[test]
    fn a_missing_spec_is_denied_once() {
        let cases = [
            (
                api(),
                "is required; an ApiDefinition needs at least name, version, proxy and plans",
            ),
            (
                context(),
                "is required; a ManagementContext needs baseUrl, organizationId, environmentId and auth",
            ),
            (
                resource("cache", "my-cache", "cache"),
                "is required; an ApiResource needs name, type and configuration",
            ),
        ];
        for (object, message) in cases {
            let v = create(&without(object, "/spec"), &[]);
            assert_denied(
                &v,
                &[Violation {
                    cause: Cause::Schema,
                    ..rule("spec", message)
                }],
            );
        }
    }

    #[test]
    fn a_request_without_object_is_denied() {
        let obj = api();
        let mut req = request(Operation::Create, &obj, None);
        req.object = None;
        let v = Engine::default().validate(&req, &ManifestSet::new());
        assert_denied(
            &v,
            &[rule("object", "the request carries no object to validate")],
        );
    }

    #[test]
    fn an_update_of_an_object_being_deleted_is_always_allowed() {
        let broken = without(api(), "/spec/name");
        let mut deleting = with(broken.clone(), "/spec/state", json!("RUNNING"));
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        let v = Engine::default().validate(
            &request(Operation::Update, &deleting, Some(&broken)),
            &ManifestSet::new(),
        );
        assert_allowed(&v);
    }

    #[test]
    fn an_update_with_an_unchanged_spec_only_warns() {
        let broken = without(api(), "/spec/name");
        let mut relabelled = broken.clone();
        relabelled["metadata"]["labels"] = json!({"team": "orders"});
        let v = Engine::default().validate(
            &request(Operation::Update, &relabelled, Some(&broken)),
            &ManifestSet::new(),
        );
        assert_warned(
            &v,
            &[rule(
                "spec.name",
                "is required: APIM needs a name for the API; set spec.name (the spec is unchanged, so this update is allowed)",
            )],
        );
    }

    #[test]
    fn an_update_that_changes_the_spec_is_denied() {
        let broken = without(api(), "/spec/name");
        let changed = with(broken.clone(), "/spec/version", json!("2.0"));
        let v = Engine::default().validate(
            &request(Operation::Update, &changed, Some(&broken)),
            &ManifestSet::new(),
        );
        assert_denied(
            &v,
            &[rule(
                "spec.name",
                "is required: APIM needs a name for the API; set spec.name",
            )],
        );
    }

    #[test]
    fn deleting_an_api_definition_and_connect_are_allowed() {
        assert_allowed(&delete(Kind::ApiDefinition, "default", "orders", &[api()]));
        let obj = api();
        let v = Engine::default().validate(
            &request(Operation::Connect, &obj, None),
            &ManifestSet::new(),
        );
        assert_allowed(&v);
    }

    #[test]
    fn the_denial_message_names_the_object_and_every_violation() {
        let a = without(without(api(), "/spec/name"), "/spec/version");
        let v = create(&a, &[]);
        assert_eq!(
            v.denial_message(Kind::ApiDefinition, "default", "orders"),
            "ApiDefinition default/orders: spec.name: is required: APIM needs a name for the API; set spec.name; spec.version: is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\""
        );
    }

    #[test]
    fn warning_lines_name_the_object() {
        let v = create(&without(api(), "/spec/description"), &[]);
        assert_eq!(
            v.warning_lines(Kind::ApiDefinition, "default", "orders"),
            vec!["ApiDefinition default/orders: spec.description: is empty; APIM 4.x requires a description, set spec.description"]
        );
    }
}
