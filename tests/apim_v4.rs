//! v4 API definitions against the Management API stand-in: its Automation API and `_import/crd` behaviour
//! (raw HTTP), then `gko::apim`'s v4 calls.

mod support;

use serde_json::{json, Value};
use support::apim::{v3, ApimStandIn, StandInConfig, TEST_TOKEN};

const AUTO: &str = "/automation/organizations/DEFAULT/environments/DEFAULT";
const ENV2: &str = "/management/v2/organizations/DEFAULT/environments/DEFAULT";

/// A v4 body in HRID mode, as gko sends it to the Automation API.
fn body(hrid: &str, path: &str) -> Value {
    json!({
        "hrid": hrid, "name": hrid, "version": "1.0", "type": "PROXY", "state": "STARTED",
        "lifecycleState": "UNPUBLISHED", "visibility": "PRIVATE", "definitionVersion": "V4",
        "listeners": [{"type": "HTTP", "paths": [{"path": path}], "entrypoints": [{"type": "http-proxy"}]}],
        "endpointGroups": [{"name": "default", "type": "http-proxy",
            "endpoints": [{"name": "e", "type": "http-proxy", "configuration": {"target": "http://b"}}]}],
        "plans": [{"hrid": "KeyLess", "name": "KeyLess", "status": "PUBLISHED", "type": "API",
                   "mode": "STANDARD", "validation": "AUTO", "security": {"type": "KEY_LESS"}}],
        "categories": ["finance", "unknown-cat"],
    })
}

async fn send(
    apim: &ApimStandIn,
    method: reqwest::Method,
    path_and_query: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path_and_query}", apim.base_url()))
        .bearer_auth(TEST_TOKEN);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("stand-in answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn v3_uuids_are_apim_s() {
    assert_eq!(v3("test"), "098f6bcd-4621-3373-8ade-4e832627b4f6");
    let cross = v3("DEFAULTdefault-my-api");
    assert_eq!(cross, "b54c45d2-1e4f-3330-aa2d-9c931c795b92");
    assert_eq!(
        v3(&format!("{cross}DEFAULT")),
        "cd9b2bb0-fc3e-34cc-ba08-62ac149e3434"
    );
    assert_eq!(
        v3(&format!("{cross}DEFAULTKeyLess")),
        "65fc405c-5cef-3990-8503-d8117151199c"
    );
    assert_eq!(
        v3(&format!("{cross}KeyLess")),
        "0c6bc2b1-c1a9-3781-b6e1-2723111bde3c"
    );
}

#[tokio::test]
async fn automation_put_derives_ids_from_the_hrid_and_echoes_the_spec() {
    let apim = ApimStandIn::start_v4().await;
    apim.set_categories(&["finance"]);
    let put = format!("{AUTO}/apis?dryRun=false");
    let (status, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &put,
        Some(&body("default-my-api", "/my")),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], "cd9b2bb0-fc3e-34cc-ba08-62ac149e3434");
    assert_eq!(answer["crossId"], "b54c45d2-1e4f-3330-aa2d-9c931c795b92");
    assert_eq!(answer["organizationId"], "DEFAULT");
    assert_eq!(answer["plans"][0]["hrid"], "KeyLess");
    assert_eq!(answer["categories"], json!(["finance"]));
    assert_eq!(
        answer["errors"]["warning"],
        json!(["category [unknown-cat] is not defined in environment [DEFAULT]"])
    );
    let stored = apim
        .api_by_hrid("DEFAULT", "DEFAULT", "default-my-api")
        .expect("stored");
    assert_eq!(
        stored.plans.get("KeyLess").map(String::as_str),
        Some("65fc405c-5cef-3990-8503-d8117151199c")
    );
    assert_eq!((stored.deploy_count, stored.state.as_str()), (1, "STARTED"));

    // Same hrid again: an update of the same API.
    let mut stopped = body("default-my-api", "/my");
    stopped["state"] = json!("STOPPED");
    let (status, _) = send(&apim, reqwest::Method::PUT, &put, Some(&stopped)).await;
    assert_eq!(status, 200);
    assert_eq!(apim.apis("DEFAULT", "DEFAULT").len(), 1);
    let stored = apim
        .api_by_hrid("DEFAULT", "DEFAULT", "default-my-api")
        .expect("stored");
    assert_eq!(
        (
            stored.import_count,
            stored.deploy_count,
            stored.state.as_str()
        ),
        (2, 1, "STOPPED")
    );

    let (status, view) = send(
        &apim,
        reqwest::Method::GET,
        &format!("{AUTO}/apis/default-my-api"),
        None,
    )
    .await;
    assert_eq!((status, view["state"].as_str()), (200, Some("STOPPED")));
    let (status, _) = send(
        &apim,
        reqwest::Method::DELETE,
        &format!("{AUTO}/apis/default-my-api"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send(
        &apim,
        reqwest::Method::DELETE,
        &format!("{AUTO}/apis/default-my-api"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn legacy_mode_keeps_the_uuid_and_ids_given() {
    let apim = ApimStandIn::start_v4().await;
    let id = "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10";
    let mut legacy = body(id, "/legacy");
    legacy["crossId"] = json!("8357001f-fc8f-a1fe-f3b8-9fd05fa31266");
    legacy["plans"][0]["id"] = json!("b9469751-84e2-a1e7-fa3d-a0f686161b6e");
    let put = format!("{AUTO}/apis?dryRun=false&hridContainsUUID=true");
    let (status, answer) = send(&apim, reqwest::Method::PUT, &put, Some(&legacy)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], id);
    let stored = apim.api_by_id("DEFAULT", "DEFAULT", id).expect("stored");
    assert_eq!(stored.hrid, None);
    assert_eq!(
        stored.plans.get("KeyLess").map(String::as_str),
        Some("b9469751-84e2-a1e7-fa3d-a0f686161b6e")
    );
    // Addressed by hrid it does not exist; by UUID it does.
    let (status, _) = send(
        &apim,
        reqwest::Method::DELETE,
        &format!("{AUTO}/apis/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &apim,
        reqwest::Method::DELETE,
        &format!("{AUTO}/apis/{id}?hridContainsUUID=true"),
        None,
    )
    .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn path_clashes_across_v2_and_v4_are_severe() {
    let apim = ApimStandIn::start_v4().await;
    let v2 = json!({"crossId": "v2-cross", "name": "v2", "version": "1",
        "proxy": {"virtual_hosts": [{"path": "/shop"}]}, "plans": []});
    let (status, _) = send(
        &apim,
        reqwest::Method::PUT,
        "/management/organizations/DEFAULT/environments/DEFAULT/apis/import-crd?dryRun=false",
        Some(&v2),
    )
    .await;
    assert_eq!(status, 200);

    // Prefix of the v2 path: dry run reports it, the real run refuses it.
    let clash = body("default-shop", "/shop/cart");
    let (status, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=true"),
        Some(&clash),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["errors"]["severe"],
        json!(["Path [/shop/] already exists"])
    );
    assert!(
        apim.api_by_hrid("DEFAULT", "DEFAULT", "default-shop")
            .is_none(),
        "dry run stores nothing"
    );
    let (status, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=false"),
        Some(&clash),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "Unable to import because of errors [Path [/shop/] already exists]"
    );

    // A v4 API holds /books; a v2 import of /books is refused.
    let (status, _) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis"),
        Some(&body("default-books", "/books")),
    )
    .await;
    assert_eq!(status, 200);
    let v2 = json!({"crossId": "v2-books", "name": "b", "version": "1",
        "proxy": {"virtual_hosts": [{"path": "/books/"}]}, "plans": []});
    let (status, _) = send(
        &apim,
        reqwest::Method::PUT,
        "/management/organizations/DEFAULT/environments/DEFAULT/apis/import-crd?dryRun=false",
        Some(&v2),
    )
    .await;
    assert_eq!(status, 400);

    // Inside one API: no path, duplicated paths.
    let mut bad = body("default-bad", "/bad");
    bad["listeners"][0]["paths"] = json!([{"path": "/dup"}, {"path": "/dup/"}]);
    let (_, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=true"),
        Some(&bad),
    )
    .await;
    assert_eq!(
        answer["errors"]["severe"],
        json!(["Path [/dup/] is duplicated"])
    );
    bad["listeners"][0]["paths"] = json!([]);
    let (_, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=true"),
        Some(&bad),
    )
    .await;
    assert_eq!(
        answer["errors"]["severe"],
        json!(["HTTP listener requires a minimum of one path"])
    );
}

#[tokio::test]
async fn duplicate_plan_hrids_and_missing_path_operator_are_plain_400s() {
    let apim = ApimStandIn::start_v4().await;
    let mut dup = body("default-dup", "/dup");
    let plan = dup["plans"][0].clone();
    dup["plans"] = json!([plan.clone(), plan]);
    let (status, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=true"),
        Some(&dup),
    )
    .await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (400, Some("Duplicate hrid found in plans"))
    );
    let mut flow = body("default-flow", "/flow");
    flow["flows"] = json!([{"name": "f", "selectors": [{"type": "HTTP", "path": "/"}]}]);
    let (status, answer) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis?dryRun=true"),
        Some(&flow),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["message"],
        "The flow [f] contains an HTTP selector with a missing pathOperator"
    );
}

#[tokio::test]
async fn older_4x_has_only_import_crd() {
    let apim = ApimStandIn::start(StandInConfig::v4().without_automation()).await;
    let (status, _) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis"),
        Some(&body("default-a", "/a")),
    )
    .await;
    assert_eq!(status, 404);

    let mut crd = body("ignored", "/a");
    let object = crd.as_object_mut().expect("object");
    object.remove("hrid");
    object.insert("id".into(), json!("964236d2-7b02-9a17-a40a-ab686e76433a"));
    object.insert(
        "crossId".into(),
        json!("8357001f-fc8f-a1fe-f3b8-9fd05fa31266"),
    );
    object.insert(
        "plans".into(),
        json!({"KeyLess": {"id": "p-1", "crossId": "pc-1", "name": "KeyLess",
        "status": "PUBLISHED", "security": {"type": "KEY_LESS"}}}),
    );
    let put = format!("{ENV2}/apis/_import/crd?dryRun=false");
    let (status, answer) = send(&apim, reqwest::Method::PUT, &put, Some(&crd)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], "964236d2-7b02-9a17-a40a-ab686e76433a");
    assert_eq!(answer["plans"], json!({"KeyLess": "p-1"}));
    assert_eq!(answer["state"], "STARTED");
    // Missing ids: refused.
    object_remove(&mut crd, "crossId");
    let (status, _) = send(&apim, reqwest::Method::PUT, &put, Some(&crd)).await;
    assert_eq!(status, 400);
    let delete = format!("{ENV2}/apis/964236d2-7b02-9a17-a40a-ab686e76433a?closePlans=true");
    assert_eq!(
        send(&apim, reqwest::Method::DELETE, &delete, None).await.0,
        204
    );
    assert_eq!(
        send(&apim, reqwest::Method::DELETE, &delete, None).await.0,
        404
    );
    // Turned on later (an upgrade): the Automation API answers.
    apim.set_automation(true);
    let (status, _) = send(
        &apim,
        reqwest::Method::PUT,
        &format!("{AUTO}/apis"),
        Some(&body("default-a", "/a")),
    )
    .await;
    assert_eq!(status, 200);
}

fn object_remove(value: &mut Value, key: &str) {
    if let Some(object) = value.as_object_mut() {
        object.remove(key);
    }
}

// ----- gko::apim v4 calls -----

use gko::apim::{ApimClient, ApimError, ClientOptions, V4Identity, V4Push, V4Route};

fn client() -> ApimClient {
    ApimClient::new(ClientOptions::default()).expect("client")
}

/// The `_import/crd` body for the same API (ids mandatory, plans as a map).
fn import_crd_body(id: &str, path: &str) -> Value {
    let mut crd = body("x", path);
    if let Some(object) = crd.as_object_mut() {
        object.remove("hrid");
        object.insert("id".into(), json!(id));
        object.insert("crossId".into(), json!(format!("cross-{id}")));
        object.insert(
            "plans".into(),
            json!({"KeyLess": {"id": format!("{id}-plan"), "name": "KeyLess", "status": "PUBLISHED",
                "security": {"type": "KEY_LESS"}}}),
        );
    }
    crd
}

#[tokio::test]
async fn client_pushes_through_the_automation_api_and_remembers_it() {
    let apim = ApimStandIn::start_v4().await;
    let target = apim.default_target();
    let client = client();
    let identity = V4Identity::Hrid("default-my-api".into());
    let (auto, crd) = (
        body("default-my-api", "/my"),
        import_crd_body("id-1", "/my"),
    );
    let push = V4Push {
        identity: &identity,
        automation: &auto,
        import_crd: &crd,
    };

    let dry = client.push_v4(&target, push, true).await.expect("dry run");
    assert_eq!((dry.route, dry.dry_run), (V4Route::Automation, true));
    assert!(apim.apis("DEFAULT", "DEFAULT").is_empty());
    let result = client.push_v4(&target, push, false).await.expect("push");
    assert_eq!(result.id, "cd9b2bb0-fc3e-34cc-ba08-62ac149e3434");
    assert_eq!(result.cross_id, "b54c45d2-1e4f-3330-aa2d-9c931c795b92");
    assert_eq!(result.state, "STARTED");
    assert_eq!(result.plans.keys().collect::<Vec<_>>(), ["KeyLess"]);
    assert_eq!(client.cached_automation(&target), Some(true));
    assert_eq!(apim.count("PUT", "/_import/crd"), 0);

    let view = client
        .get_v4(&target, &identity, Some(&result.id))
        .await
        .expect("get");
    assert_eq!(view["hrid"], "default-my-api");
    assert!(client
        .delete_v4(&target, &identity, Some(&result.id))
        .await
        .expect("delete"));
    assert!(!client
        .delete_v4(&target, &identity, Some(&result.id))
        .await
        .expect("gone"));
    assert_eq!(apim.count("DELETE", "/apis/default-my-api"), 2);
    assert_eq!(
        apim.count("DELETE", &format!("/apis/{}", result.id)),
        0,
        "no ENV2 fallback once AUTO is known"
    );
}

#[tokio::test]
async fn client_falls_back_to_import_crd_without_the_automation_api() {
    let apim = ApimStandIn::start(StandInConfig::v4().without_automation()).await;
    let target = apim.default_target();
    let client = client();
    let identity = V4Identity::Hrid("default-old".into());
    let (auto, crd) = (
        body("default-old", "/old"),
        import_crd_body("id-old", "/old"),
    );
    let push = V4Push {
        identity: &identity,
        automation: &auto,
        import_crd: &crd,
    };

    let result = client.push_v4(&target, push, false).await.expect("push");
    assert_eq!(
        (result.route, result.id.as_str()),
        (V4Route::ImportCrd, "id-old")
    );
    assert_eq!(
        result.plans.get("KeyLess").map(String::as_str),
        Some("id-old-plan")
    );
    assert_eq!(client.cached_automation(&target), Some(false));
    // Learned once: the second push goes straight to _import/crd.
    client
        .push_v4(&target, push, false)
        .await
        .expect("push again");
    assert_eq!(
        apim.count(
            "PUT",
            "/automation/organizations/DEFAULT/environments/DEFAULT/apis"
        ),
        1
    );
    assert_eq!(apim.count("PUT", "/apis/_import/crd"), 2);
    assert_eq!(
        client
            .get_v4(&target, &identity, Some("id-old"))
            .await
            .expect("get")["id"],
        "id-old"
    );
    assert!(client
        .delete_v4(&target, &identity, Some("id-old"))
        .await
        .expect("delete"));
    assert!(apim.apis("DEFAULT", "DEFAULT").is_empty());

    // Unknown route state + 404 on AUTO delete: ENV2 with the id decides.
    let fresh = self::client();
    client.push_v4(&target, push, false).await.expect("push");
    let view = fresh
        .get_v4(&target, &identity, Some("id-old"))
        .await
        .expect("read through ENV2");
    assert_eq!(view["id"], "id-old");
    assert!(fresh
        .delete_v4(&target, &identity, Some("id-old"))
        .await
        .expect("delete"));
    assert!(apim.apis("DEFAULT", "DEFAULT").is_empty());

    // The upgrade: forgetting the target makes the next push try the Automation API again.
    apim.set_automation(true);
    client.forget(&target);
    let result = client
        .push_v4(&target, push, false)
        .await
        .expect("push after upgrade");
    assert_eq!(result.route, V4Route::Automation);
}

#[tokio::test]
async fn client_maps_v4_errors() {
    let apim = ApimStandIn::start_v4().await;
    let target = apim.default_target();
    let client = client();
    let hold = V4Identity::Hrid("default-hold".into());
    let (auto, crd) = (body("default-hold", "/hold"), import_crd_body("h", "/hold"));
    client
        .push_v4(
            &target,
            V4Push {
                identity: &hold,
                automation: &auto,
                import_crd: &crd,
            },
            false,
        )
        .await
        .expect("first");
    let other = V4Identity::Hrid("default-other".into());
    let (auto, crd) = (
        body("default-other", "/hold/sub"),
        import_crd_body("o", "/hold/sub"),
    );
    let push = V4Push {
        identity: &other,
        automation: &auto,
        import_crd: &crd,
    };
    let dry = client
        .push_v4(&target, push, true)
        .await
        .expect("dry run answers");
    assert_eq!(dry.errors.severe, ["Path [/hold/] already exists"]);
    match client.push_v4(&target, push, false).await {
        Err(ApimError::Invalid { message }) => assert!(
            message.contains("Path [/hold/] already exists"),
            "{message}"
        ),
        other => panic!("expected Invalid, got {other:?}"),
    }
    apim.fail_next(1, 503);
    let err = client.push_v4(&target, push, true).await.expect_err("503");
    assert!(err.is_retryable());
    assert_eq!(
        client.cached_automation(&target),
        Some(true),
        "a 503 teaches nothing"
    );
    let wrong = apim.target_with(
        "DEFAULT",
        "DEFAULT",
        gko::apim::Credentials::Bearer("nope".into()),
    );
    assert!(matches!(
        client.push_v4(&wrong, push, true).await,
        Err(ApimError::Unauthorized { .. })
    ));
}

#[tokio::test]
async fn a_probe_makes_the_next_push_learn_the_route_again() {
    let apim = ApimStandIn::start(StandInConfig::v4().without_automation()).await;
    let target = apim.default_target();
    let client = client();
    let identity = V4Identity::Hrid("default-up".into());
    let (auto, crd) = (body("default-up", "/up"), import_crd_body("id-up", "/up"));
    let push = V4Push {
        identity: &identity,
        automation: &auto,
        import_crd: &crd,
    };
    assert_eq!(
        client
            .push_v4(&target, push, false)
            .await
            .expect("push")
            .route,
        V4Route::ImportCrd
    );
    apim.set_automation(true);
    client.probe(&target).await.expect("probe");
    assert_eq!(client.cached_automation(&target), None);
    // As the reconciler does after an _import/crd push: legacy mode, the same API (id and crossId).
    let legacy = V4Identity::Legacy("id-up".into());
    let mut auto = body("id-up", "/up");
    auto["crossId"] = json!("cross-id-up");
    let push = V4Push {
        identity: &legacy,
        automation: &auto,
        import_crd: &crd,
    };
    let result = client.push_v4(&target, push, false).await.expect("push");
    assert_eq!(
        (result.route, result.id.as_str()),
        (V4Route::Automation, "id-up")
    );
    assert_eq!(apim.apis("DEFAULT", "DEFAULT").len(), 1);
}
