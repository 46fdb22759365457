//! ApiV4Definition reconcile end to end: a real API server (envtest, `KUBECONFIG`), the in-process APIM
//! stand-in (with and without the Automation API) and the controllers running in-process. Skipped (with a
//! message) when `KUBECONFIG` is not set.

mod support;

use std::time::{Duration, Instant};

use gko::crd::{ApiV4Definition, ManagementContext};
use gko::reconcile::api_v4_definition::ids::gko_uuid;
use gko::reconcile::payload::read_stamp;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use serde_json::{json, Value};
use support::apim::{v3, ApimStandIn, StandInConfig, TEST_TOKEN};
use support::fixtures::context_json;
use support::kube::*;

const ORG: &str = "DEFAULT";
const ENV: &str = "DEFAULT";
const T: Duration = Duration::from_secs(20);

async fn setup(prefix: &str) -> Option<(Client, String)> {
    let Some(path) = kubeconfig() else {
        println!("skipped: KUBECONFIG not set");
        return None;
    };
    gko::telemetry::init_logging(
        gko::telemetry::LogFormat::Text,
        &std::env::var("GKO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    let client = client_for(&path).await;
    apply_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    Some((client, ns))
}

async fn context(client: &Client, ns: &str, apim: &ApimStandIn) {
    if get::<Secret>(client, ns, "apim-token").await.is_none() {
        token_secret(client, ns, "apim-token", TEST_TOKEN).await;
    }
    create::<ManagementContext>(
        client,
        ns,
        context_json(ns, "dev", &apim.base_url(), ENV, "apim-token"),
    )
    .await;
}

/// A v4 proxy API with two plans (one key needs sanitising) and a page, on `/<ns>/orders`.
fn v4_api(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiV4Definition",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "contextRef": {"name": "dev"},
            "name": name, "version": "1.0", "type": "PROXY",
            "listeners": [{"type": "HTTP", "paths": [{"path": format!("/{ns}/orders")}],
                           "entrypoints": [{"type": "http-proxy"}]}],
            "endpointGroups": [{"name": "default", "type": "http-proxy",
                "endpoints": [{"name": "e", "type": "http-proxy", "inheritConfiguration": false, "configuration": {"target": "https://backend.example"}}]}],
            "plans": {
                "Key Less": {"name": "Free", "security": {"type": "KEY_LESS"}},
                "keys.v1": {"name": "Keys", "security": {"type": "API_KEY"}, "generalConditions": "terms"}
            },
            "pages": {"terms": {"name": "Terms", "type": "MARKDOWN", "content": "be nice"}}
        }
    })
}

async fn v4_status(client: &Client, ns: &str, name: &str) -> Option<Value> {
    let api: Option<ApiV4Definition> = get(client, ns, name).await;
    api.and_then(|a| a.status)
        .and_then(|s| serde_json::to_value(s).ok())
}

async fn wait_v4_condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
) -> Value {
    let mut last = None;
    let found = wait_for(T, &format!("{ns}/{name} {type_}={status}"), || {
        let client = client.clone();
        async move {
            let st = v4_status(&client, ns, name).await;
            condition(st.as_ref(), type_).is_some_and(|(s, _)| s == status)
        }
    })
    .await;
    let _ = found;
    if let Some(st) = v4_status(client, ns, name).await {
        last = Some(st);
    }
    last.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v4_api_through_the_automation_api() {
    let Some((client, ns)) = setup("e2e-v4-auto").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim).await;
    create::<ApiV4Definition>(&client, &ns, v4_api(&ns, "orders")).await;
    let started = Instant::now();
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));

    let st = wait_v4_condition(&client, &ns, "orders", "Synced", "True").await;
    println!(
        "v4_api_through_the_automation_api: Synced after {:?}",
        started.elapsed()
    );
    let hrid = format!("{ns}-orders");
    let base = v3(&format!("{ORG}{hrid}"));
    assert_eq!(st["id"], v3(&format!("{base}{ENV}")), "{st}");
    assert_eq!(st["crossId"], base);
    assert_eq!(st["processingStatus"], "Completed");
    assert_eq!(st["syncedContext"], format!("{ns}/dev"));
    assert_eq!(
        condition(Some(&st), "AutomationAPIManaged"),
        Some(("True".into(), "AutomationAPIManaged".into()))
    );
    assert_eq!(
        condition(Some(&st), "Accepted"),
        Some(("True".into(), "Accepted".into()))
    );
    let stored = apim.api_by_hrid(ORG, ENV, &hrid).expect("API in APIM");
    let d = &stored.definition;
    let plan_hrids: Vec<&str> = d["plans"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["hrid"].as_str())
        .collect();
    assert_eq!(plan_hrids, ["Key-Less", "keys-v1"]);
    assert_eq!(d["plans"][1]["generalConditionsHrid"], "terms");
    assert_eq!(d["pages"][0]["hrid"], "terms");
    assert_eq!(d["pages"][0]["api"], hrid);
    assert!(d.get("contextRef").is_none() && d.get("id").is_none());
    assert_eq!(read_stamp(d).0.as_deref(), Some("cluster-a"));
    assert_eq!(stored.state, "STARTED");
    assert_eq!(apim.count("PUT", "/_import/crd"), 0);

    // Restart, nothing changed: no APIM write.
    let writes = apim.write_calls();
    rec.stop().await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(apim.write_calls(), writes, "a restart makes no APIM write");

    // STOPPED travels in the body.
    merge_patch::<ApiV4Definition>(
        &client,
        &ns,
        "orders",
        json!({"spec": {"state": "STOPPED"}}),
    )
    .await;
    wait_for(T, "STOPPED in APIM", || async {
        apim.api_by_hrid(ORG, ENV, &hrid)
            .is_some_and(|a| a.state == "STOPPED")
    })
    .await;

    // The context is deleted first: it waits while the v4 API uses it.
    delete::<ManagementContext>(&client, &ns, "dev").await;
    wait_for(T, "DeletionBlocked on the context", || async {
        let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
        let st = c
            .and_then(|c| c.status)
            .and_then(|s| serde_json::to_value(s).ok());
        condition(st.as_ref(), "DeletionBlocked").is_some_and(|(s, r)| s == "True" && r == "InUse")
    })
    .await;
    let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
    let blocked = c
        .and_then(|c| c.status)
        .and_then(|s| serde_json::to_value(s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    assert!(
        blocked.contains(&format!("ApiV4Definition {ns}/orders")),
        "{blocked}"
    );

    // Delete: DELETE AUTO/apis/{hrid}, then the finalizer goes, then the context.
    delete::<ApiV4Definition>(&client, &ns, "orders").await;
    wait_for(T, "the ApiV4Definition gone", || async {
        get::<ApiV4Definition>(&client, &ns, "orders")
            .await
            .is_none()
    })
    .await;
    let deletes: Vec<_> = apim
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE" && c.path.ends_with(&format!("/apis/{hrid}")))
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].query_param("hridContainsUUID").as_deref(),
        Some("false")
    );
    assert!(apim.api_by_hrid(ORG, ENV, &hrid).is_none());
    wait_for(T, "the context gone after its last API", || async {
        get::<ManagementContext>(&client, &ns, "dev")
            .await
            .is_none()
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn v4_api_through_import_crd_without_the_automation_api() {
    let Some((client, ns)) = setup("e2e-v4-crd").await else {
        return;
    };
    let apim = ApimStandIn::start(StandInConfig::v4().without_automation()).await;
    context(&client, &ns, &apim).await;
    create::<ApiV4Definition>(&client, &ns, v4_api(&ns, "orders")).await;
    let started = Instant::now();
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));

    let st = wait_v4_condition(&client, &ns, "orders", "Synced", "True").await;
    println!(
        "v4_api_through_import_crd_without_the_automation_api: Synced after {:?}",
        started.elapsed()
    );
    let cross_id = gko_uuid(&format!("{ns}/orders"));
    let id = gko_uuid(&format!("{cross_id}{ORG}{ENV}"));
    assert_eq!(st["id"], id, "{st}");
    assert_eq!(st["crossId"], cross_id);
    assert!(
        condition(Some(&st), "AutomationAPIManaged").is_none(),
        "not managed through the Automation API"
    );
    assert_eq!(st["plans"].as_object().map(|p| p.len()), Some(2));
    let stored = apim.api_by_id(ORG, ENV, &id).expect("API in APIM");
    assert_eq!(stored.hrid, None);
    assert!(stored.definition["plans"]["Key Less"]["id"].is_string());
    assert_eq!(apim.count("PUT", "/apis/_import/crd"), 1);

    // Unchanged restart: no write.
    let writes = apim.write_calls();
    rec.stop().await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(apim.write_calls(), writes, "a restart makes no APIM write");

    delete::<ApiV4Definition>(&client, &ns, "orders").await;
    wait_for(T, "the ApiV4Definition gone", || async {
        get::<ApiV4Definition>(&client, &ns, "orders")
            .await
            .is_none()
    })
    .await;
    assert!(apim.api_by_id(ORG, ENV, &id).is_none());
    assert_eq!(
        apim.count(
            "DELETE",
            &format!("/v2/organizations/{ORG}/environments/{ENV}/apis/{id}")
        ),
        1
    );
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apim_dry_run_covers_v4_apis() {
    use gko::admission::dry_run::ApimDryRun;
    use gko::manifests::ManifestSet;
    use gko::reconcile::dry_run::{DryRunMode, Runner};

    let Some((client, ns)) = setup("e2e-v4-dry").await else {
        return;
    };
    for apim in [
        ApimStandIn::start_v4().await,
        ApimStandIn::start(StandInConfig::v4().without_automation()).await,
    ] {
        if get::<Secret>(&client, &ns, "apim-token").await.is_none() {
            token_secret(&client, &ns, "apim-token", TEST_TOKEN).await;
        }
        // A v2 API of the environment holds /<ns>/orders: a v4 API under it clashes (APIM's prefix rule).
        gko::apim::ApimClient::new(gko::apim::ClientOptions::default())
            .expect("client")
            .import(
                &apim.default_target(),
                &json!({"crossId": "console-made", "name": "console", "version": "1",
                        "proxy": {"virtual_hosts": [{"path": format!("/{ns}/orders")}]}}),
                false,
            )
            .await
            .expect("console import");
        let mut set = ManifestSet::new();
        set.insert(
            &ns,
            &context_json(&ns, "dev", &apim.base_url(), ENV, "apim-token"),
        );
        let timeout = Duration::from_millis(800);
        let enforce = Runner::new(
            client.clone(),
            DryRunMode::Enforce,
            timeout,
            "cluster-a".into(),
        )
        .expect("runner")
        .expect("enabled");
        let mut clash = v4_api(&ns, "clash");
        clash["spec"]["listeners"][0]["paths"] = json!([{"path": format!("/{ns}/orders/v4")}]);
        let f = enforce.check(&ns, &clash, &set).await;
        assert_eq!(f.denials.len(), 1, "{f:?}");
        assert!(f.denials[0].contains("already exists"), "{f:?}");
        let mut fine = v4_api(&ns, "fine");
        fine["spec"]["listeners"][0]["paths"] = json!([{"path": format!("/{ns}/fine")}]);
        let f = enforce.check(&ns, &fine, &set).await;
        assert!(f.denials.is_empty() && f.warnings.is_empty(), "{f:?}");
        assert_eq!(apim.apis(ORG, ENV).len(), 1, "a dry run stores nothing");
        assert!(
            apim.calls()
                .iter()
                .filter(|c| c.method == "PUT"
                    && c.path.contains("apis")
                    && !c.path.ends_with("import-crd"))
                .all(|c| c.query_param("dryRun").as_deref() == Some("true")),
            "every v4 call was a dry run"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resource_change_ownership_and_local_config_map() {
    use gko::apim::{ApimClient, ClientOptions, V4Identity, V4Push};
    use gko::crd::ApiResource;
    use k8s_openapi::api::core::v1::ConfigMap;
    use support::fixtures::resource_json;

    let Some((client, ns)) = setup("e2e-v4-more").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim).await;
    create::<ApiResource>(&client, &ns, resource_json(&ns, "cache", 60)).await;

    // Another cluster pushed `<ns>-owned` already.
    let owned_hrid = format!("{ns}-owned");
    let mut foreign = v4_api(&ns, "owned")["spec"].clone();
    if let Some(o) = foreign.as_object_mut() {
        o.remove("contextRef");
        o.insert("hrid".into(), json!(owned_hrid));
        o.insert("plans".into(), json!([]));
        o.insert("pages".into(), json!([]));
        o.insert(
            "listeners".into(),
            json!([{"type": "HTTP", "paths": [{"path": format!("/{ns}/owned")}]}]),
        );
        o.insert(
            "properties".into(),
            json!([{"key": "gko.cluster-id", "value": "cluster-b"}]),
        );
    }
    let identity = V4Identity::Hrid(owned_hrid.clone());
    ApimClient::new(ClientOptions::default())
        .expect("client")
        .push_v4(
            &apim.default_target(),
            V4Push {
                identity: &identity,
                automation: &foreign,
                import_crd: &foreign,
            },
            false,
        )
        .await
        .expect("foreign push");
    let mut owned = v4_api(&ns, "owned");
    owned["spec"]["listeners"][0]["paths"] = json!([{"path": format!("/{ns}/owned")}]);
    create::<ApiV4Definition>(&client, &ns, owned).await;

    // A v4 API inlining an ApiResource.
    let mut cached = v4_api(&ns, "cached");
    cached["spec"]["resources"] = json!([{"ref": {"name": "cache"}}]);
    create::<ApiV4Definition>(&client, &ns, cached).await;

    // A local-only v4 API: the gateway ConfigMap.
    let mut local = v4_api(&ns, "local");
    if let Some(spec) = local["spec"].as_object_mut() {
        spec.remove("contextRef");
        spec.insert(
            "definitionContext".into(),
            json!({"origin": "KUBERNETES", "syncFrom": "KUBERNETES"}),
        );
        spec.insert("listeners".into(), json!([{"type": "HTTP", "paths": [{"path": format!("/{ns}/local")}], "entrypoints": [{"type": "http-proxy"}]}]));
    }
    create::<ApiV4Definition>(&client, &ns, local).await;

    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    let st = wait_v4_condition(&client, &ns, "owned", "Synced", "False").await;
    assert_eq!(
        condition(Some(&st), "Synced").map(|c| c.1).as_deref(),
        Some("OwnedByOtherCluster"),
        "{st}"
    );
    let stored = apim
        .api_by_hrid(ORG, ENV, &owned_hrid)
        .expect("still there");
    assert_eq!(
        read_stamp(&stored.definition).0.as_deref(),
        Some("cluster-b"),
        "not overwritten"
    );

    wait_v4_condition(&client, &ns, "cached", "Synced", "True").await;
    let cached_hrid = format!("{ns}-cached");
    let resource = |apim: &ApimStandIn| {
        apim.api_by_hrid(ORG, ENV, &cached_hrid)
            .map(|a| a.definition["resources"][0].clone())
    };
    assert_eq!(
        resource(&apim),
        Some(
            json!({"name": "shared-cache", "type": "cache", "enabled": true,
                    "configuration": {"timeToLiveSeconds": 60, "maxEntriesLocalHeap": 1000}})
        )
    );
    merge_patch::<ApiResource>(
        &client,
        &ns,
        "cache",
        json!({"spec": {"configuration": {"timeToLiveSeconds": 120}}}),
    )
    .await;
    wait_for(T, "the new resource content in APIM", || async {
        resource(&apim).is_some_and(|r| r["configuration"]["timeToLiveSeconds"] == 120)
    })
    .await;

    let st = wait_v4_condition(&client, &ns, "local", "Synced", "True").await;
    assert_eq!(
        condition(Some(&st), "Synced").map(|c| c.1).as_deref(),
        Some("LocalOnly")
    );
    let cm: ConfigMap = get(&client, &ns, "local").await.expect("gateway ConfigMap");
    let data = cm.data.unwrap_or_default();
    assert_eq!(
        data.get("apiDefinitionVersion").map(String::as_str),
        Some("4.0.0")
    );
    let definition: Value =
        serde_json::from_str(data.get("definition").map(String::as_str).unwrap_or("{}"))
            .unwrap_or_default();
    assert_eq!(definition["id"], gko_uuid(&format!("{ns}-local")));
    assert_eq!(definition["listeners"][0]["type"], "http");
    assert_eq!(
        cm.metadata
            .labels
            .unwrap_or_default()
            .get("gio-type")
            .map(String::as_str),
        Some("apidefinitions.gravitee.io")
    );
    merge_patch::<ApiV4Definition>(&client, &ns, "local", json!({"spec": {"state": "STOPPED"}}))
        .await;
    wait_for(T, "STOPPED removes the ConfigMap", || async {
        get::<ConfigMap>(&client, &ns, "local").await.is_none()
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_edits_of_a_v4_api_are_reported_then_context_changes_resync() {
    use gko::reconcile::DriftPolicy;

    let Some((client, ns)) = setup("e2e-v4-drift").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim).await;
    create::<ApiV4Definition>(&client, &ns, v4_api(&ns, "orders")).await;
    let mut report = settings(&[&ns], "cluster-a");
    report.drift_interval = Duration::from_secs(1);
    report.drift_policy = DriftPolicy::Report;
    let rec = Reconciler::start(client.clone(), report);
    let st = wait_v4_condition(&client, &ns, "orders", "Synced", "True").await;
    let cross_id = st["crossId"].as_str().unwrap_or_default().to_owned();
    let hrid = format!("{ns}-orders");
    wait_v4_condition(&client, &ns, "orders", "Drifted", "False").await;

    // A console user renames it: reported, not overwritten.
    assert!(
        apim.edit_api(ORG, ENV, &cross_id, |a| a.definition["name"] =
            json!("renamed"))
    );
    let st = wait_v4_condition(&client, &ns, "orders", "Drifted", "True").await;
    assert_eq!(
        condition(Some(&st), "Drifted").map(|c| c.1).as_deref(),
        Some("ConsoleEdit")
    );
    assert!(st.to_string().contains("name"), "{st}");
    assert_eq!(
        apim.api_by_hrid(ORG, ENV, &hrid)
            .map(|a| a.definition["name"].clone()),
        Some(json!("renamed"))
    );

    // The context now names another environment: the change of context re-syncs the API, pushed there.
    apim.add_environment(ORG, "PROD");
    merge_patch::<ManagementContext>(
        &client,
        &ns,
        "dev",
        json!({"spec": {"environmentId": "PROD"}}),
    )
    .await;
    wait_for(T, "the API pushed to PROD", || async {
        apim.api_by_hrid(ORG, "PROD", &hrid).is_some()
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_synced_by_gko_4_11_keeps_its_identity() {
    use kube::api::{Api, Patch, PatchParams};

    let Some((client, ns)) = setup("e2e-v4-legacy").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim).await;
    // What GKO 4.11 left: the API in APIM under its UUID (pushed through _import/crd) and the ids in status.
    let (id, cross_id, plan_id) = (
        "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10",
        gko_uuid(&format!("{ns}/orders")),
        "b9469751-84e2-a1e7-fa3d-a0f686161b6e",
    );
    let mut crd = v4_api(&ns, "orders")["spec"].clone();
    if let Some(o) = crd.as_object_mut() {
        o.remove("contextRef");
        o.remove("pages");
        o.insert("id".into(), json!(id));
        o.insert("crossId".into(), json!(cross_id));
        o.insert(
            "plans".into(),
            json!({"Key Less": {"id": plan_id, "name": "Free", "status": "PUBLISHED",
                                                     "security": {"type": "KEY_LESS"}}}),
        );
    }
    let mut url = apim.base_url();
    url.push_str(
        "/management/v2/organizations/DEFAULT/environments/DEFAULT/apis/_import/crd?dryRun=false",
    );
    let response = reqwest::Client::new()
        .put(url)
        .bearer_auth(TEST_TOKEN)
        .json(&crd)
        .send()
        .await
        .expect("GKO 4.11's import");
    assert_eq!(response.status().as_u16(), 200);

    create::<ApiV4Definition>(&client, &ns, v4_api(&ns, "orders")).await;
    let apis: Api<ApiV4Definition> = Api::namespaced(client.clone(), &ns);
    apis.patch_status(
        "orders",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"status": {"id": id, "crossId": cross_id, "plans": {"Key Less": plan_id},
                                        "organizationId": ORG, "environmentId": ENV}}),
        ),
    )
    .await
    .expect("GKO's status");

    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    let st = wait_v4_condition(&client, &ns, "orders", "Synced", "True").await;
    assert_eq!(st["id"], id, "{st}");
    assert!(
        condition(Some(&st), "AutomationAPIManaged").is_none(),
        "stays in legacy mode"
    );
    assert_eq!(apim.apis(ORG, ENV).len(), 1, "the same API, no second one");
    let put = apim
        .calls()
        .into_iter()
        .rfind(|c| {
            c.method == "PUT"
                && c.path
                    .ends_with("/automation/organizations/DEFAULT/environments/DEFAULT/apis")
        })
        .expect("pushed through the Automation API");
    assert_eq!(put.query_param("hridContainsUUID").as_deref(), Some("true"));
    let body = put.json().unwrap_or_default();
    assert_eq!(body["hrid"], id);
    assert_eq!(body["crossId"], cross_id);
    assert_eq!(body["plans"][0]["id"], plan_id);
    assert_eq!(body["plans"][0]["hrid"], "Key-Less");
    let stored = apim.api_by_id(ORG, ENV, id).expect("same id");
    assert_eq!(
        stored.plans.get("Key-Less").map(String::as_str),
        Some(plan_id)
    );
    rec.stop().await;
}
