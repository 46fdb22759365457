//! `gko::apim` client against the in-process Management API stand-in.

mod support;

use std::time::{Duration, Instant};

use gko::apim::{
    retry, ApimClient, ApimError, ApimGeneration, ClientOptions, Credentials, RetryPolicy,
};
use serde_json::{json, Value};
use support::apim::{ApimStandIn, AuthKind, Mode, StandInConfig, TEST_TOKEN};

const ORG: &str = "DEFAULT";
const ENV: &str = "DEFAULT";
const ENV2_SUFFIX: &str = "/v2/organizations/DEFAULT/environments/DEFAULT";
const ENV_SUFFIX: &str = "/management/organizations/DEFAULT/environments/DEFAULT";

fn client() -> ApimClient {
    client_with_timeout(Duration::from_secs(5))
}

fn client_with_timeout(request_timeout: Duration) -> ApimClient {
    ApimClient::new(ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout,
        ..ClientOptions::default()
    })
    .expect("client")
}

fn fast_retries(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    }
}

/// A v2 definition as the reconciler would send it.
fn definition(cross_id: &str, path: &str, plans: &[&str]) -> Value {
    let plans: Vec<Value> = plans
        .iter()
        .map(|p| {
            json!({
                "name": p,
                "crossId": format!("{cross_id}-{p}"),
                "security": "KEY_LESS",
                "status": "PUBLISHED",
            })
        })
        .collect();
    json!({
        "crossId": cross_id,
        "name": format!("api-{cross_id}"),
        "version": "1.0",
        "description": "test API",
        "state": "STARTED",
        "proxy": {
            "virtual_hosts": [{ "path": path }],
            "groups": [{ "name": "default", "endpoints": [{ "name": "e", "target": "https://backend.example" }] }],
        },
        "plans": plans,
        "definition_context": { "origin": "kubernetes", "mode": "fully_managed" },
    })
}

// ----- probe -----

#[tokio::test]
async fn probe_detects_apim_4() {
    let apim = ApimStandIn::start_v4().await;
    let probe = client().probe(&apim.default_target()).await.expect("probe");
    assert_eq!(probe.generation, ApimGeneration::V4);
    assert_eq!(
        probe.environment.as_ref().and_then(|e| e.get("id")),
        Some(&json!(ENV))
    );
    assert_eq!(apim.count("GET", ENV2_SUFFIX), 1);
    assert_eq!(apim.total_calls(), 1);
}

#[tokio::test]
async fn probe_detects_apim_3_when_only_v1_answers() {
    let apim = ApimStandIn::start_v3().await;
    let probe = client().probe(&apim.default_target()).await.expect("probe");
    assert_eq!(probe.generation, ApimGeneration::V3);
    let paths: Vec<_> = apim
        .calls()
        .into_iter()
        .map(|c| (c.method, c.path, c.status))
        .collect();
    assert_eq!(
        paths,
        vec![
            ("GET".into(), format!("/management{ENV2_SUFFIX}"), Some(404)),
            ("GET".into(), ENV_SUFFIX.into(), Some(200)),
        ]
    );
}

#[tokio::test]
async fn probe_with_wrong_credentials_is_unauthorized() {
    let apim = ApimStandIn::start_v4().await;
    let target = apim.target_with(ORG, ENV, Credentials::Bearer("wrong-token".into()));
    let err = client().probe(&target).await.expect_err("must fail");
    assert!(
        matches!(err, ApimError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong-token"));
    assert!(client().cached_generation(&target).is_none());
}

#[tokio::test]
async fn probe_unknown_environment_or_organization() {
    let apim = ApimStandIn::start(StandInConfig::v4().environment("acme", "prod")).await;
    let client = client();
    // Unknown environment of a known org: 404 on ENV2 and on ENV.
    let err = client
        .probe(&apim.target("acme", "staging"))
        .await
        .expect_err("unknown env");
    assert!(
        matches!(&err, ApimError::UnknownEnvironment { organization_id, environment_id }
            if organization_id == "acme" && environment_id == "staging"),
        "{err:?}"
    );
    // Unknown organization: 400 on ENV2.
    let err = client
        .probe(&apim.target("nope", "prod"))
        .await
        .expect_err("unknown org");
    assert!(
        matches!(err, ApimError::UnknownEnvironment { .. }),
        "{err:?}"
    );
    // The other environment is fine.
    assert_eq!(
        client
            .probe(&apim.target("acme", "prod"))
            .await
            .expect("probe")
            .generation,
        ApimGeneration::V4
    );

    let apim3 = ApimStandIn::start_v3().await;
    let err = client
        .probe(&apim3.target("DEFAULT", "other"))
        .await
        .expect_err("unknown env on 3.x");
    assert!(
        matches!(err, ApimError::UnknownEnvironment { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn generation_is_detected_once_per_target_and_can_be_forgotten() {
    let apim = ApimStandIn::start(StandInConfig::v4().environment(ORG, "staging")).await;
    let client = client();
    let target = apim.default_target();
    client
        .import(&target, &definition("a", "/a", &["free"]), false)
        .await
        .expect("import a");
    client
        .import(&target, &definition("b", "/b", &["free"]), false)
        .await
        .expect("import b");
    client
        .clone()
        .import(&target, &definition("a", "/a", &["free"]), true)
        .await
        .expect("dry run");
    assert_eq!(
        apim.count("GET", ENV2_SUFFIX),
        1,
        "one probe for the target, clones share it"
    );
    assert_eq!(client.cached_generation(&target), Some(ApimGeneration::V4));

    // Another environment is another target.
    let staging = apim.target(ORG, "staging");
    client
        .import(&staging, &definition("a", "/a", &["free"]), false)
        .await
        .expect("import staging");
    assert_eq!(
        apim.count("GET", "/v2/organizations/DEFAULT/environments/staging"),
        1
    );

    // Forgetting makes the next call probe again, and picks up a changed generation.
    apim.set_mode(Mode::V3);
    client.forget(&target);
    assert!(client.cached_generation(&target).is_none());
    let result = client
        .import(&target, &definition("c", "/c", &["free"]), false)
        .await
        .expect("3.x import");
    assert_eq!(result.generation, ApimGeneration::V3);
    assert_eq!(apim.count("GET", ENV2_SUFFIX), 2);
    client.forget_all();
    assert!(client.cached_generation(&staging).is_none());
}

// ----- import on 4.x -----

#[tokio::test]
async fn import_creates_then_updates_by_cross_id_with_plan_ids() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();

    let created = client
        .import(
            &target,
            &definition("orders", "/orders", &["free", "gold"]),
            false,
        )
        .await
        .expect("create");
    assert!(!created.id.is_empty());
    assert_eq!(created.cross_id, "orders");
    assert_eq!(created.state, "STARTED");
    assert_eq!(created.generation, ApimGeneration::V4);
    assert!(created.errors.is_empty() && created.validated_by_apim && !created.dry_run);
    assert_eq!(
        created.plans.keys().collect::<Vec<_>>(),
        vec!["orders-free", "orders-gold"]
    );

    let call = apim.last_call().expect("a call");
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        (
            "PUT",
            "/management/organizations/DEFAULT/environments/DEFAULT/apis/import-crd"
        )
    );
    assert_eq!(call.query_param("dryRun").as_deref(), Some("false"));
    assert_eq!(
        call.json().and_then(|b| b.get("crossId").cloned()),
        Some(json!("orders"))
    );

    // Update: same crossId, a plan added and the state changed.
    let mut updated_def = definition("orders", "/orders", &["free", "gold", "platinum"]);
    updated_def["state"] = json!("STOPPED");
    let updated = client
        .import(&target, &updated_def, false)
        .await
        .expect("update");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.state, "STOPPED");
    assert_eq!(updated.plans["orders-free"], created.plans["orders-free"]);
    assert_eq!(updated.plans["orders-gold"], created.plans["orders-gold"]);
    assert!(updated.plans.contains_key("orders-platinum"));

    let stored = apim.api(ORG, ENV, "orders").expect("stored");
    assert_eq!(stored.id, created.id);
    assert_eq!(stored.import_count, 2);
    assert_eq!(stored.deploy_count, 2, "import-crd deploys by itself");
    assert_eq!(stored.state, "STOPPED");
    assert_eq!(stored.definition, updated_def);
    assert_eq!(apim.apis(ORG, ENV).len(), 1);

    // Found again by crossId, readable by id.
    let found = client
        .find_by_cross_id(&target, "orders")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.id, created.id);
    assert!(client
        .find_by_cross_id(&target, "nope")
        .await
        .expect("find")
        .is_none());
    let api = client.get_api(&target, &created.id).await.expect("get");
    assert_eq!(api["crossId"], json!("orders"));
    assert_eq!(api["plans"][0]["id"], json!(created.plans["orders-free"]));
}

#[tokio::test]
async fn dry_run_writes_nothing_and_reports_path_clash() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();

    let dry = client
        .import(&target, &definition("new", "/new", &["free"]), true)
        .await
        .expect("dry run");
    assert!(dry.dry_run && dry.errors.severe.is_empty());
    assert_eq!(
        apim.last_call()
            .and_then(|c| c.query_param("dryRun"))
            .as_deref(),
        Some("true")
    );
    assert!(apim.apis(ORG, ENV).is_empty(), "dry run stored nothing");

    client
        .import(&target, &definition("first", "/shared", &["free"]), false)
        .await
        .expect("first");
    let before = apim.apis(ORG, ENV);
    let clash = client
        .import(&target, &definition("second", "/shared/", &["free"]), true)
        .await
        .expect("dry run answers 200 with errors");
    assert_eq!(clash.errors.severe.len(), 1, "{:?}", clash.errors);
    assert!(
        clash.errors.severe[0].contains("/shared/"),
        "{:?}",
        clash.errors
    );
    assert_eq!(apim.apis(ORG, ENV), before, "dry run stored nothing");
}

#[tokio::test]
async fn rejected_definitions_are_invalid_with_apim_message() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client
        .import(&target, &definition("first", "/shared", &[]), false)
        .await
        .expect("first");

    let err = client
        .import(&target, &definition("second", "/shared", &[]), false)
        .await
        .expect_err("path clash");
    match &err {
        ApimError::Invalid { message } => {
            assert_eq!(
                message,
                "The path [/shared/] is already covered by an other API."
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert!(apim.api(ORG, ENV, "second").is_none());

    // APIM refuses a body that is not a JSON object.
    let err = client
        .import(&target, &json!(["not", "an", "object"]), false)
        .await
        .expect_err("array");
    assert!(
        matches!(&err, ApimError::Invalid { message } if message.contains("JSON object")),
        "{err:?}"
    );
}

#[tokio::test]
async fn environments_are_isolated() {
    let apim = ApimStandIn::start(StandInConfig::v4().environment("acme", "prod")).await;
    let client = client();
    let def = definition("same", "/same", &["free"]);
    let a = client
        .import(&apim.default_target(), &def, false)
        .await
        .expect("default");
    let b = client
        .import(&apim.target("acme", "prod"), &def, false)
        .await
        .expect("acme");
    assert_ne!(
        a.id, b.id,
        "same crossId, different environments, different APIs (no path clash either)"
    );
    assert_eq!(apim.apis("acme", "prod").len(), 1);
    assert_eq!(apim.apis(ORG, ENV).len(), 1);
}

// ----- 3.x -----

#[tokio::test]
async fn apim_3_import_marks_managed_and_deploys() {
    let apim = ApimStandIn::start_v3().await;
    let client = client();
    let target = apim.default_target();

    let created = client
        .import(&target, &definition("legacy", "/legacy", &["free"]), false)
        .await
        .expect("create");
    assert_eq!(created.generation, ApimGeneration::V3);
    assert_eq!(created.plans.len(), 1);
    let calls: Vec<String> = apim
        .calls()
        .iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.method,
                c.path.trim_start_matches(ENV_SUFFIX),
                c.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            format!("GET /management{ENV2_SUFFIX}"),
            "GET ".to_owned(),
            "GET /apis?crossId=legacy".to_owned(),
            "POST /apis/import?definitionVersion=2.0.0".to_owned(),
            format!("POST /apis/{}/definition-context", created.id),
            format!("POST /apis/{}/deploy", created.id),
        ]
    );
    let stored = apim.api(ORG, ENV, "legacy").expect("stored");
    assert_eq!(
        stored.definition_context,
        Some(json!({ "origin": "kubernetes", "mode": "fully_managed" }))
    );
    assert_eq!(stored.deploy_count, 1);
    assert_eq!(
        apim.calls().last().and_then(|c| c.json()),
        Some(json!({ "deploymentLabel": "" }))
    );

    // Update: found by crossId, PUT with APIM's id, deployed again.
    apim.clear_calls();
    let updated = client
        .import(
            &target,
            &definition("legacy", "/legacy", &["free", "gold"]),
            false,
        )
        .await
        .expect("update");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.plans["legacy-free"], created.plans["legacy-free"]);
    let put = apim
        .calls()
        .into_iter()
        .find(|c| c.method == "PUT")
        .expect("PUT import");
    assert!(put.path.ends_with("/apis/import"));
    assert_eq!(
        put.json().and_then(|b| b.get("id").cloned()),
        Some(json!(created.id))
    );
    assert_eq!(
        apim.api(ORG, ENV, "legacy").map(|a| a.deploy_count),
        Some(2)
    );
    assert_eq!(apim.count("PUT", "/apis/import-crd"), 0);
}

#[tokio::test]
async fn apim_3_dry_run_only_reads_and_says_so() {
    let apim = ApimStandIn::start_v3().await;
    let client = client();
    let target = apim.default_target();
    let mut def = definition("legacy", "/legacy", &["free"]);
    def["id"] = json!("4b1c0e0e-0000-4000-8000-000000000001");
    let result = client.import(&target, &def, true).await.expect("dry run");
    assert!(result.dry_run && !result.validated_by_apim);
    assert_eq!(result.id, "4b1c0e0e-0000-4000-8000-000000000001");
    assert!(
        result.errors.warning.iter().any(|w| w.contains("3.x")),
        "{:?}",
        result.errors
    );
    assert_eq!(apim.write_calls(), 0);
    assert!(apim.apis(ORG, ENV).is_empty());

    // Without a crossId, 3.x cannot find the API again: refused before any write.
    let err = client
        .import(&target, &json!({ "name": "x" }), false)
        .await
        .expect_err("no crossId");
    assert!(matches!(err, ApimError::Invalid { .. }), "{err:?}");
    assert_eq!(apim.write_calls(), 0);
}

// ----- lifecycle -----

#[tokio::test]
async fn start_stop_and_delete() {
    for mode in [Mode::V4, Mode::V3] {
        let apim = ApimStandIn::start(StandInConfig {
            mode,
            ..StandInConfig::default()
        })
        .await;
        let client = client();
        let target = apim.default_target();
        let id = client
            .import(&target, &definition("x", "/x", &["free"]), false)
            .await
            .expect("import")
            .id;

        client.stop(&target, &id).await.expect("stop");
        assert_eq!(
            apim.api(ORG, ENV, "x").map(|a| a.state),
            Some("STOPPED".into())
        );
        assert_eq!(
            apim.last_call()
                .and_then(|c| c.query_param("action"))
                .as_deref(),
            Some("STOP")
        );
        client.start(&target, &id).await.expect("start");
        assert_eq!(
            apim.api(ORG, ENV, "x").map(|a| a.state),
            Some("STARTED".into())
        );

        assert!(client.delete(&target, &id).await.expect("delete"));
        assert_eq!(
            apim.last_call()
                .and_then(|c| c.query_param("closePlans"))
                .as_deref(),
            Some("true")
        );
        assert!(apim.api(ORG, ENV, "x").is_none());
        assert!(!client
            .delete(&target, &id)
            .await
            .expect("404 on delete is success"));

        let err = client.start(&target, &id).await.expect_err("gone");
        assert!(matches!(err, ApimError::NotFound { .. }), "{err:?}");
        let err = client.get_api(&target, &id).await.expect_err("gone");
        assert!(matches!(err, ApimError::NotFound { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn console_edits_are_visible_for_drift_checks() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    let id = client
        .import(&target, &definition("d", "/d", &[]), false)
        .await
        .expect("import")
        .id;
    assert!(apim.edit_api(ORG, ENV, "d", |api| {
        api.definition["description"] = json!("edited in the console");
        api.state = "STOPPED".into();
    }));
    let api = client.get_api(&target, &id).await.expect("get");
    assert_eq!(api["description"], json!("edited in the console"));
    assert_eq!(api["state"], json!("STOPPED"));
    assert!(!apim.edit_api(ORG, ENV, "missing", |_| {}));
}

// ----- faults -----

#[tokio::test]
async fn latency_beyond_the_client_timeout_is_transient() {
    let apim = ApimStandIn::start_v4().await;
    let client = client_with_timeout(Duration::from_millis(150));
    let target = apim.default_target();
    apim.set_latency(Duration::from_millis(1500));
    let started = Instant::now();
    let err = client.probe(&target).await.expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the client gave up on time"
    );
    assert!(
        matches!(err, ApimError::Transient { status: None, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());

    apim.set_latency(Duration::from_millis(20));
    assert_eq!(
        client
            .probe(&target)
            .await
            .expect("within timeout")
            .generation,
        ApimGeneration::V4
    );
}

#[tokio::test]
async fn server_errors_are_transient_and_retry_converges() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client.probe(&target).await.expect("probe");
    apim.clear_calls();

    apim.fail_next(1, 500);
    let err = client
        .find_by_cross_id(&target, "x")
        .await
        .expect_err("500");
    assert!(
        matches!(
            err,
            ApimError::Transient {
                status: Some(500),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    apim.clear_calls();
    apim.fail_next(2, 503);
    let def = definition("r", "/r", &["free"]);
    let result = retry(&fast_retries(5), || client.import(&target, &def, false))
        .await
        .expect("converges");
    assert_eq!(apim.total_calls(), 3, "two failures then success");
    assert_eq!(apim.api(ORG, ENV, "r").map(|a| a.id), Some(result.id));

    apim.fail_next(1, 429);
    let err = client.get_api(&target, "whatever").await.expect_err("429");
    assert!(
        matches!(
            err,
            ApimError::Transient {
                status: Some(429),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn retry_gives_up_while_failing_and_recovers_after() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client.probe(&target).await.expect("probe");
    apim.clear_calls();

    apim.fail_all(502);
    let err = retry(&fast_retries(3), || client.find_by_cross_id(&target, "x"))
        .await
        .expect_err("still failing");
    assert!(
        matches!(
            err,
            ApimError::Transient {
                status: Some(502),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(apim.total_calls(), 3);

    apim.stop_failing();
    assert!(
        retry(&fast_retries(3), || client.find_by_cross_id(&target, "x"))
            .await
            .expect("recovered")
            .is_none()
    );
    assert_eq!(apim.total_calls(), 4);
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client.probe(&target).await.expect("probe");
    apim.clear_calls();
    apim.fail_next(3, 401);
    let err = retry(&fast_retries(5), || client.find_by_cross_id(&target, "x"))
        .await
        .expect_err("401");
    assert!(
        matches!(err, ApimError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(apim.total_calls(), 1);

    apim.clear_faults();
    apim.fail_next(1, 403);
    let err = client
        .find_by_cross_id(&target, "x")
        .await
        .expect_err("403");
    assert!(
        matches!(err, ApimError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn injected_bad_request_keeps_apim_message() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client.probe(&target).await.expect("probe");
    apim.fail_next(1, 400);
    let err = client
        .import(&target, &definition("i", "/i", &[]), false)
        .await
        .expect_err("400");
    assert!(
        matches!(&err, ApimError::Invalid { message } if message == "Injected fault"),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropped_connections_are_transient_and_retry_converges() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let target = apim.default_target();
    client.probe(&target).await.expect("probe");
    apim.clear_calls();

    apim.drop_next(1);
    let err = client
        .find_by_cross_id(&target, "x")
        .await
        .expect_err("dropped");
    assert!(
        matches!(err, ApimError::Transient { status: None, .. }),
        "{err:?}"
    );
    assert_eq!(apim.dropped_calls(), 1);

    apim.drop_next(2);
    let def = definition("d", "/d", &["free"]);
    let result = retry(&fast_retries(4), || client.import(&target, &def, false))
        .await
        .expect("converges");
    assert_eq!(apim.dropped_calls(), 3);
    assert_eq!(apim.api(ORG, ENV, "d").map(|a| a.id), Some(result.id));
    assert!(apim
        .calls()
        .iter()
        .filter(|c| c.dropped)
        .all(|c| c.status.is_none()));
}

// ----- credentials -----

#[tokio::test]
async fn bearer_wins_over_basic() {
    let apim = ApimStandIn::start(StandInConfig::v4().basic("admin", "hunter2-pw")).await;
    let client = client();
    let both = Credentials::from_parts(
        Some(TEST_TOKEN.into()),
        Some("admin".into()),
        Some("wrong-pw".into()),
    )
    .expect("credentials");
    client
        .probe(&apim.target_with(ORG, ENV, both))
        .await
        .expect("bearer accepted");
    assert_eq!(apim.last_call().map(|c| c.auth), Some(AuthKind::Bearer));

    let basic = Credentials::from_parts(None, Some("admin".into()), Some("hunter2-pw".into()))
        .expect("basic");
    client
        .probe(&apim.target_with(ORG, ENV, basic))
        .await
        .expect("basic accepted");
    assert_eq!(apim.last_call().map(|c| c.auth), Some(AuthKind::Basic));

    let wrong = Credentials::Basic {
        username: "admin".into(),
        password: "nope".into(),
    };
    let err = client
        .probe(&apim.target_with(ORG, ENV, wrong))
        .await
        .expect_err("wrong password");
    assert!(matches!(err, ApimError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn path_prefix_override_is_used() {
    let apim = ApimStandIn::start(StandInConfig::v4().path_prefix("/apim/mgmt")).await;
    let target = apim.default_target();
    assert!(target
        .env2_url()
        .ends_with("/apim/mgmt/v2/organizations/DEFAULT/environments/DEFAULT"));
    client()
        .import(&target, &definition("p", "/p", &[]), false)
        .await
        .expect("import");
    assert!(apim
        .calls()
        .iter()
        .all(|c| c.path.starts_with("/apim/mgmt/")));
}

#[tokio::test]
async fn nothing_prints_secrets() {
    let apim = ApimStandIn::start_v4().await;
    let client = client();
    let bearer = apim.target_with(ORG, ENV, Credentials::Bearer("super-secret-token".into()));
    let basic = apim.target_with(
        ORG,
        ENV,
        Credentials::Basic {
            username: "admin".into(),
            password: "super-secret-pw".into(),
        },
    );
    let e1 = client.probe(&bearer).await.expect_err("401");
    let e2 = client.probe(&basic).await.expect_err("401");
    let out = format!(
        "{bearer:?} {bearer} {basic:?} {basic} {:?} {:?} {:?} {e1} {e1:?} {e2} {e2:?} {client:?}",
        bearer.auth(),
        basic.auth(),
        Credentials::from_parts(None, Some("admin".into()), None).err(),
    );
    assert!(!out.contains("super-secret"), "{out}");
    assert!(!out.contains(TEST_TOKEN), "{out}");
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    let apim = ApimStandIn::start_v4().await;
    let target = apim.default_target();
    drop(apim);
    let err = client().probe(&target).await.expect_err("nothing listens");
    assert!(
        matches!(err, ApimError::Transient { status: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot connect"), "{err}");
}

// ----- trust: a Management API behind a private CA -----

/// A TLS stand-in whose certificate (for 127.0.0.1 and localhost) comes from a fresh private CA; returns
/// the CA file too.
async fn private_ca_stand_in(dir: &std::path::Path) -> (ApimStandIn, std::path::PathBuf) {
    let generated = gko::tls::self_signed(dir, &["localhost".into(), "127.0.0.1".into()])
        .expect("private CA and serving certificate");
    let reloader = gko::tls::CertReloader::load(generated.files).expect("load certificate");
    let config = gko::tls::server_config(reloader.cert.clone()).expect("server config");
    let apim = ApimStandIn::start(StandInConfig::v4().tls(config)).await;
    assert!(
        apim.base_url().starts_with("https://"),
        "{}",
        apim.base_url()
    );
    (apim, generated.ca)
}

fn client_trusting(trust: gko::apim::Trust) -> ApimClient {
    ApimClient::new(ClientOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        trust,
        ..ClientOptions::default()
    })
    .expect("client")
}

#[tokio::test]
async fn private_ca_is_refused_by_default_and_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (apim, _ca) = private_ca_stand_in(dir.path()).await;
    let err = client()
        .probe(&apim.default_target())
        .await
        .expect_err("an unknown CA is refused");
    assert!(matches!(err, ApimError::Tls { .. }), "{err:?}");
    assert!(
        !err.is_retryable(),
        "a trust problem does not go away by retrying: {err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("certificate signed by an unknown authority") && text.contains("apimCa"),
        "{text}"
    );
    assert_eq!(
        apim.total_calls(),
        0,
        "no request got through the refused handshake"
    );
}

#[tokio::test]
async fn private_ca_trusted_with_the_ca_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (apim, ca) = private_ca_stand_in(dir.path()).await;
    let trust = gko::apim::Trust::from_flags(Some(&ca), false).expect("CA bundle");
    assert_eq!(trust.extra_roots(), 1);
    let probe = client_trusting(trust)
        .probe(&apim.default_target())
        .await
        .expect("the private CA is trusted");
    assert_eq!(probe.generation, ApimGeneration::V4);
}

#[tokio::test]
async fn another_ca_in_the_file_does_not_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (apim, _ca) = private_ca_stand_in(&dir.path().join("apim")).await;
    let other = gko::tls::self_signed(&dir.path().join("other"), &["localhost".into()])
        .expect("another CA");
    let trust = gko::apim::Trust::from_flags(Some(&other.ca), false).expect("CA bundle");
    let err = client_trusting(trust)
        .probe(&apim.default_target())
        .await
        .expect_err("a different CA is no trust");
    assert!(matches!(err, ApimError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("set apimCa"), "{err}");
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (apim, _ca) = private_ca_stand_in(dir.path()).await;
    let trust = gko::apim::Trust::from_flags(None, true).expect("trust");
    assert!(trust.insecure_skip_verify());
    client_trusting(trust)
        .probe(&apim.default_target())
        .await
        .expect("verification is off");
}
