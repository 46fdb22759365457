//! Reconciler end to end: a real API server (envtest, `KUBECONFIG`), the in-process APIM stand-in and the
//! controllers running in-process. Skipped (with a message) when `KUBECONFIG` is not set.
//!
//! The multi-cluster test uses a second cluster when `GKO_E2E_KUBECONFIG_B` is set, otherwise a second
//! namespace of the same cluster watched by a second reconciler with another cluster id.
//!
//! ```sh
//! tests/run.sh starts two envtest clusters (KUBECONFIG and GKO_E2E_KUBECONFIG_B) and runs this suite with the rest
//! ```

mod support;

use std::time::{Duration, Instant};

use gko::apim::{ApimClient, ClientOptions};
use gko::crd::{ApiDefinition, ApiResource, ManagementContext};
use gko::model::gko_ids::{api_cross_id, plan_cross_id, Derivation};
use gko::reconcile::leader::{Elector, LeaseSettings};
use gko::reconcile::payload::read_stamp;

use gko::reconcile::{DriftPolicy, TAKEOVER_ANNOTATION};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use serde_json::{json, Value};
use support::apim::{ApimStandIn, StandInConfig, TEST_TOKEN};
use support::fixtures::{api_json, context_json, resource_json};
use support::kube::*;

const ORG: &str = "DEFAULT";
const ENV: &str = "DEFAULT";
const T: Duration = Duration::from_secs(20);

/// The crossId gko gives a new API: GKO 4.x's `U(namespace/name)`.
fn new_cross_id(ns: &str, name: &str) -> String {
    api_cross_id(Derivation::Xxh3, ns, name)
}

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

/// Context `dev` (token from Secret `apim-token`) on the stand-in's DEFAULT environment.
async fn context(client: &Client, ns: &str, apim: &ApimStandIn, name: &str, env: &str) {
    if get::<Secret>(client, ns, "apim-token").await.is_none() {
        token_secret(client, ns, "apim-token", TEST_TOKEN).await;
    }
    create::<ManagementContext>(
        client,
        ns,
        context_json(ns, name, &apim.base_url(), env, "apim-token"),
    )
    .await;
}

fn imports(apim: &ApimStandIn) -> usize {
    apim.calls()
        .iter()
        .filter(|c| {
            c.method == "PUT" && c.path.ends_with("/apis/import-crd") && c.status == Some(200)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_resync_resource_change_stop_and_delete() {
    let Some((client, ns)) = setup("e2e-sync").await else {
        return;
    };
    let started = Instant::now();
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    create::<ApiResource>(&client, &ns, resource_json(&ns, "cache", 60)).await;
    let mut api = api_json(&ns, "orders", Some("dev"), &format!("/{ns}/orders"));
    api["spec"]["resources"] = json!([{"ref": {"name": "cache"}}]);
    create::<ApiDefinition>(&client, &ns, api).await;

    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    let st = wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;
    let cross_id = new_cross_id(&ns, "orders");
    assert_eq!(st["crossId"], cross_id);
    assert_eq!(st["processingStatus"], "Completed");
    assert_eq!(st["syncedContext"], format!("{ns}/dev"));
    assert_eq!(st["clusterId"], "cluster-a");
    assert_eq!(st["plans"].as_object().map(|p| p.len()), Some(2));
    let id = st["id"].as_str().unwrap_or_default().to_owned();
    assert!(!id.is_empty());

    let stored = apim.api(ORG, ENV, &cross_id).expect("API in APIM");
    assert_eq!(stored.id, id);
    let d = &stored.definition;
    assert!(d.get("contextRef").is_none() && d.get("local").is_none());
    assert_eq!(
        d["plans"][0]["crossId"],
        plan_cross_id(Derivation::Xxh3, &cross_id, "free")
    );
    assert_eq!(
        d["plans"][1]["crossId"],
        plan_cross_id(Derivation::Xxh3, &cross_id, "gold")
    );
    assert_eq!(
        d["resources"][0],
        json!({"name": "shared-cache", "type": "cache", "enabled": true,
               "configuration": {"timeToLiveSeconds": 60, "maxEntriesLocalHeap": 1000}})
    );
    assert_eq!(d["definition_context"]["origin"], "kubernetes");
    assert_eq!(d["definition_context"]["mode"], "fully_managed");
    assert_eq!(read_stamp(d).0.as_deref(), Some("cluster-a"));
    assert_eq!(imports(&apim), 1);
    let secret_seen = apim.calls().iter().any(|c| c.body.contains(TEST_TOKEN));
    assert!(!secret_seen, "the token never appears in a body");
    wait_events(&client, &ns, "orders", &["Synced"], T).await;
    println!("first sync after {:?}", started.elapsed());

    // Context and resource status.
    wait_for(T, "context Ready (Reachable)", || async {
        let ctx: Option<ManagementContext> = get(&client, &ns, "dev").await;
        let st = ctx
            .and_then(|c| c.status)
            .and_then(|s| serde_json::to_value(s).ok());
        condition(st.as_ref(), "Ready") == Some(("True".into(), "Reachable".into()))
    })
    .await;
    wait_for(T, "referencedBy 1", || async {
        let r: Option<ApiResource> = get(&client, &ns, "cache").await;
        r.and_then(|r| r.status).and_then(|s| s.referenced_by) == Some(1)
    })
    .await;

    // Restart: zero writes to APIM, no status write.
    let writes = apim.write_calls();
    let before: Option<ApiDefinition> = get(&client, &ns, "orders").await;
    let rv = before
        .as_ref()
        .and_then(|a| a.metadata.resource_version.clone());
    let before_status = before.and_then(|a| a.status);
    rec.stop().await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(apim.write_calls(), writes, "a restart makes no APIM write");
    let after: Option<ApiDefinition> = get(&client, &ns, "orders").await;
    assert_eq!(
        after
            .as_ref()
            .and_then(|a| a.metadata.resource_version.clone()),
        rv,
        "no status write either: {before_status:?} -> {:?}",
        after.and_then(|a| a.status)
    );

    // A change of the ApiResource re-pushes the API that inlines it.
    merge_patch::<ApiResource>(
        &client,
        &ns,
        "cache",
        json!({"spec": {"configuration": {"timeToLiveSeconds": 120}}}),
    )
    .await;
    wait_for(T, "the new resource content in APIM", || async {
        apim.api(ORG, ENV, &cross_id).is_some_and(|a| {
            a.definition["resources"][0]["configuration"]["timeToLiveSeconds"] == 120
        })
    })
    .await;
    assert_eq!(imports(&apim), 2);

    // STOPPED, then delete: DELETE ?closePlans=true and the finalizer goes.
    merge_patch::<ApiDefinition>(
        &client,
        &ns,
        "orders",
        json!({"spec": {"state": "STOPPED"}}),
    )
    .await;
    wait_for(T, "STOPPED in APIM", || async {
        apim.api(ORG, ENV, &cross_id)
            .is_some_and(|a| a.state == "STOPPED")
    })
    .await;
    delete::<ApiDefinition>(&client, &ns, "orders").await;
    wait_for(T, "the ApiDefinition gone", || async {
        get::<ApiDefinition>(&client, &ns, "orders").await.is_none()
    })
    .await;
    let deletes: Vec<_> = apim
        .calls()
        .into_iter()
        .filter(|c| c.method == "DELETE" && c.path.ends_with(&format!("/apis/{id}")))
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(
        deletes[0].query_param("closePlans").as_deref(),
        Some("true")
    );
    assert!(apim.api(ORG, ENV, &cross_id).is_none());
    rec.stop().await;
    println!(
        "push_resync_resource_change_stop_and_delete: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletion_of_a_used_context_or_resource_waits() {
    let Some((client, ns)) = setup("e2e-wait").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    create::<ApiResource>(&client, &ns, resource_json(&ns, "cache", 60)).await;
    let mut api = api_json(&ns, "orders", Some("dev"), &format!("/{ns}/orders"));
    api["spec"]["resources"] = json!([{"ref": {"name": "cache"}}]);
    create::<ApiDefinition>(&client, &ns, api).await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;

    delete::<ManagementContext>(&client, &ns, "dev").await;
    delete::<ApiResource>(&client, &ns, "cache").await;
    wait_for(
        T,
        "DeletionBlocked on the context and the resource",
        || async {
            let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
            let r: Option<ApiResource> = get(&client, &ns, "cache").await;
            let blocked = |v: Option<Value>| {
                condition(v.as_ref(), "DeletionBlocked")
                    .is_some_and(|(s, r)| s == "True" && r == "InUse")
            };
            blocked(
                c.and_then(|c| c.status)
                    .and_then(|s| serde_json::to_value(s).ok()),
            ) && blocked(
                r.and_then(|r| r.status)
                    .and_then(|s| serde_json::to_value(s).ok()),
            )
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
    assert!(
        c.is_some_and(|c| c
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&gko::reconcile::FINALIZER.to_string())),
        "the context keeps its finalizer while used"
    );
    assert!(get::<ApiResource>(&client, &ns, "cache").await.is_some());

    delete::<ApiDefinition>(&client, &ns, "orders").await;
    wait_for(T, "API, resource and context gone", || async {
        get::<ApiDefinition>(&client, &ns, "orders").await.is_none()
            && get::<ApiResource>(&client, &ns, "cache").await.is_none()
            && get::<ManagementContext>(&client, &ns, "dev")
                .await
                .is_none()
    })
    .await;
    assert_eq!(
        apim.apis(ORG, ENV).len(),
        0,
        "the API was deleted from APIM first"
    );
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_are_retried_until_convergence() {
    let Some((client, ns)) = setup("e2e-retry").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    apim.fail_all(500);
    context(&client, &ns, &apim, "dev", ENV).await;
    for i in 0..5 {
        create::<ApiDefinition>(
            &client,
            &ns,
            api_json(
                &ns,
                &format!("api-{i}"),
                Some("dev"),
                &format!("/{ns}/api-{i}"),
            ),
        )
        .await;
    }
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    wait_for(T, "a failure reported", || async {
        let st = api_status(&client, &ns, "api-0").await;
        condition(st.as_ref(), "Synced").is_some_and(|(s, r)| {
            s == "False" && (r == "ApimUnavailable" || r == "ContextUnavailable")
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(apim.apis(ORG, ENV).len(), 0);
    let failing_calls = apim.total_calls();
    apim.stop_failing();
    let recovered = Instant::now();
    for i in 0..5 {
        wait_condition(
            &client,
            &ns,
            &format!("api-{i}"),
            "Synced",
            "True",
            "Synced",
            Duration::from_secs(30),
        )
        .await;
    }
    println!(
        "converged {:?} after APIM recovered ({failing_calls} calls while failing)",
        recovered.elapsed()
    );
    assert_eq!(apim.apis(ORG, ENV).len(), 5, "nothing lost");
    assert_eq!(imports(&apim), 5, "each API imported once");
    wait_for(T, "context Ready again", || async {
        let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
        let st = c
            .and_then(|c| c.status)
            .and_then(|s| serde_json::to_value(s).ok());
        condition(st.as_ref(), "Ready").is_some_and(|(s, _)| s == "True")
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_config_map_follows_state_and_local() {
    let Some((client, ns)) = setup("e2e-local").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    let mut api = api_json(&ns, "gw", Some("dev"), &format!("/{ns}/gw"));
    api["spec"]["local"] = json!(true);
    create::<ApiDefinition>(&client, &ns, api).await;
    let mut only_local = api_json(&ns, "gw-only", None, &format!("/{ns}/gw-only"));
    only_local["spec"]["local"] = json!(true);
    create::<ApiDefinition>(&client, &ns, only_local).await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));

    let st = wait_condition(&client, &ns, "gw", "Synced", "True", "Synced", T).await;
    let cm: ConfigMap = get(&client, &ns, "gw").await.expect("ConfigMap gw");
    let labels = cm.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("managed-by").map(String::as_str), Some("gko"));
    assert_eq!(
        labels.get("gravitee.io/component").map(String::as_str),
        Some("api")
    );
    let owner = cm.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(
        owner.first().map(|o| o.kind.as_str()),
        Some("ApiDefinition")
    );
    let definition: Value = serde_json::from_str(
        cm.data
            .as_ref()
            .and_then(|d| d.get("definition"))
            .map(String::as_str)
            .unwrap_or("{}"),
    )
    .unwrap_or_default();
    assert_eq!(definition["crossId"], st["crossId"]);
    assert_eq!(
        definition["id"], st["id"],
        "the APIM id is used by the gateway too"
    );

    wait_condition(&client, &ns, "gw-only", "Synced", "True", "LocalOnly", T).await;
    assert!(get::<ConfigMap>(&client, &ns, "gw-only").await.is_some());

    // STOPPED removes the ConfigMap.
    merge_patch::<ApiDefinition>(&client, &ns, "gw", json!({"spec": {"state": "STOPPED"}})).await;
    wait_for(T, "ConfigMap removed when STOPPED", || async {
        get::<ConfigMap>(&client, &ns, "gw").await.is_none()
    })
    .await;
    // local: false removes it too.
    merge_patch::<ApiDefinition>(&client, &ns, "gw-only", json!({"spec": {"local": false}})).await;
    wait_for(T, "ConfigMap removed when local turns false", || async {
        get::<ConfigMap>(&client, &ns, "gw-only").await.is_none()
    })
    .await;
    wait_condition(&client, &ns, "gw-only", "Synced", "False", "NoContext", T).await;
    // Context removed: the API leaves APIM and lives on locally.
    merge_patch::<ApiDefinition>(
        &client,
        &ns,
        "gw",
        json!({"spec": {"state": "STARTED", "contextRef": null}}),
    )
    .await;
    wait_condition(&client, &ns, "gw", "Synced", "True", "LocalOnly", T).await;
    assert!(apim.apis(ORG, ENV).is_empty(), "removed from APIM");
    assert!(get::<ConfigMap>(&client, &ns, "gw").await.is_some());
    delete::<ApiDefinition>(&client, &ns, "gw").await;
    wait_for(T, "ConfigMap removed with the API", || async {
        get::<ConfigMap>(&client, &ns, "gw").await.is_none()
            && get::<ApiDefinition>(&client, &ns, "gw").await.is_none()
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unauthorized_then_fixed_secret_and_invalid_spec() {
    let Some((client, ns)) = setup("e2e-errors").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    token_secret(&client, &ns, "apim-token", "wrong-token").await;
    create::<ManagementContext>(
        &client,
        &ns,
        context_json(&ns, "dev", &apim.base_url(), ENV, "apim-token"),
    )
    .await;
    create::<ApiDefinition>(
        &client,
        &ns,
        api_json(&ns, "orders", Some("dev"), &format!("/{ns}/orders")),
    )
    .await;
    // An API created in the console holds a path.
    let console = ApimClient::new(ClientOptions::default()).expect("client");
    let taken = format!("/{ns}/taken");
    console
        .import(
            &apim.default_target(),
            &json!({"crossId": "console-made", "name": "console", "version": "1",
                    "proxy": {"virtual_hosts": [{"path": taken}]}}),
            false,
        )
        .await
        .expect("console import");
    create::<ApiDefinition>(&client, &ns, api_json(&ns, "clash", Some("dev"), &taken)).await;

    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    wait_condition(&client, &ns, "orders", "Synced", "False", "Unauthorized", T).await;
    wait_for(T, "context Unauthorized", || async {
        let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
        let st = c
            .and_then(|c| c.status)
            .and_then(|s| serde_json::to_value(s).ok());
        condition(st.as_ref(), "Ready") == Some(("False".into(), "Unauthorized".into()))
    })
    .await;
    let st = api_status(&client, &ns, "orders").await.unwrap_or_default();
    assert!(
        !st.to_string().contains("wrong-token"),
        "no secret in status"
    );

    // Fixing the Secret re-syncs at once (not after the slow 5 min requeue).
    merge_patch::<Secret>(
        &client,
        &ns,
        "apim-token",
        json!({"stringData": {"bearerToken": TEST_TOKEN}}),
    )
    .await;
    let fixed = Instant::now();
    wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;
    println!("re-synced {:?} after the Secret was fixed", fixed.elapsed());
    assert!(fixed.elapsed() < Duration::from_secs(15));

    // APIM refuses the clashing path: reported once, not retried until the object changes.
    let st = wait_condition(
        &client,
        &ns,
        "clash",
        "Synced",
        "False",
        "ContextPathConflict",
        T,
    )
    .await;
    let message = st["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Synced"))
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    assert!(message.contains("not managed by gko"), "{message}");
    assert_eq!(st["processingStatus"], "Failed");
    let attempts = |apim: &ApimStandIn| {
        apim.calls()
            .iter()
            .filter(|c| c.method == "PUT" && c.body.contains(&format!("{ns}/clash")))
            .count()
    };
    let n = attempts(&apim);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attempts(&apim), n, "an invalid spec is not retried");
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_election_renewal_release_and_takeover() {
    let Some((client, ns)) = setup("e2e-lease").await else {
        return;
    };
    let settings = |holder: &str| LeaseSettings {
        name: "gko-test".into(),
        namespace: ns.clone(),
        holder: holder.into(),
        duration: Duration::from_secs(2),
    };
    let mut a = Elector::new(client.clone(), settings("a"));
    let mut b = Elector::new(client.clone(), settings("b"));
    assert!(a.try_acquire_or_renew().await.expect("a acquires"));
    assert!(!b.try_acquire_or_renew().await.expect("b waits"));
    assert!(a.try_acquire_or_renew().await.expect("a renews"));
    a.release().await;
    assert!(b
        .try_acquire_or_renew()
        .await
        .expect("b takes the released lease"));
    // b stops renewing (crash): a takes over only once the lease expired.
    let started = Instant::now();
    assert!(!a.try_acquire_or_renew().await.expect("a waits"));
    loop {
        if a.try_acquire_or_renew().await.unwrap_or(false) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a never took over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before expiry"
    );
    assert!(!b.try_acquire_or_renew().await.expect("b lost it"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_reconciler_of_two_replicas_reconciles() {
    let Some((client, ns)) = setup("e2e-replicas").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    create::<ApiDefinition>(
        &client,
        &ns,
        api_json(&ns, "orders", Some("dev"), &format!("/{ns}/orders")),
    )
    .await;
    let replica = |holder: &str| {
        let mut s = settings(&[&ns], "cluster-a");
        s.lease = Some(LeaseSettings {
            name: "gko-reconciler".into(),
            namespace: ns.clone(),
            holder: holder.into(),
            duration: Duration::from_secs(3),
        });
        s.instance = holder.into();
        s
    };
    let r1 = Reconciler::start(client.clone(), replica("r1"));
    let r2 = Reconciler::start(client.clone(), replica("r2"));
    wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;
    assert_eq!(imports(&apim), 1);
    let lease: Option<k8s_openapi::api::coordination::v1::Lease> =
        get(&client, &ns, "gko-reconciler").await;
    let holder = lease
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert!(holder == "r1" || holder == "r2", "{holder}");
    // The leader shuts down and releases: the other one takes over and reconciles changes.
    let (leader, other) = if holder == "r1" { (r1, r2) } else { (r2, r1) };
    leader.stop().await;
    merge_patch::<ApiDefinition>(
        &client,
        &ns,
        "orders",
        json!({"spec": {"description": "changed"}}),
    )
    .await;
    wait_for(T, "the other replica pushes the change", || async {
        imports(&apim) == 2
    })
    .await;
    other.stop().await;
}

/// A second cluster (`GKO_E2E_KUBECONFIG_B`), or the same cluster under another namespace.
async fn cluster_b(client_a: &Client) -> (Client, bool) {
    match std::env::var("GKO_E2E_KUBECONFIG_B")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(path) => {
            let client = client_for(&path).await;
            apply_crds(&client).await;
            (client, true)
        }
        None => (client_a.clone(), false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clusters_never_overwrite_each_other() {
    let Some((client_a, ns_a)) = setup("e2e-mc-a").await else {
        return;
    };
    let (client_b, separate) = cluster_b(&client_a).await;
    let ns_b = namespace(&client_b, "e2e-mc-b").await;
    println!(
        "cluster B is {}",
        if separate {
            "a second envtest"
        } else {
            "a namespace of cluster A"
        }
    );
    let apim = ApimStandIn::start_v4().await;
    context(&client_a, &ns_a, &apim, "dev", ENV).await;
    context(&client_b, &ns_b, &apim, "dev", ENV).await;
    let shared_cross = uuid::Uuid::new_v4().to_string();
    let keep_cross = uuid::Uuid::new_v4().to_string();
    let shared_path = format!("/{ns_a}/shared");
    let keep_path = format!("/{ns_a}/keep");
    let mut shared_a = api_json(&ns_a, "shared", Some("dev"), &shared_path);
    shared_a["spec"]["crossId"] = json!(shared_cross);
    let mut keep_a = api_json(&ns_a, "keep", Some("dev"), &keep_path);
    keep_a["spec"]["crossId"] = json!(keep_cross);
    create::<ApiDefinition>(&client_a, &ns_a, shared_a).await;
    create::<ApiDefinition>(&client_a, &ns_a, keep_a).await;
    let rec_a = Reconciler::start(client_a.clone(), settings(&[&ns_a], "cluster-a"));
    wait_condition(&client_a, &ns_a, "shared", "Synced", "True", "Synced", T).await;
    wait_condition(&client_a, &ns_a, "keep", "Synced", "True", "Synced", T).await;

    let mut shared_b = api_json(&ns_b, "shared", Some("dev"), &shared_path);
    shared_b["spec"]["crossId"] = json!(shared_cross);
    let mut keep_b = api_json(&ns_b, "keep", Some("dev"), &keep_path);
    keep_b["spec"]["crossId"] = json!(keep_cross);
    create::<ApiDefinition>(&client_b, &ns_b, shared_b).await;
    create::<ApiDefinition>(&client_b, &ns_b, keep_b).await;
    // Another API of B on A's path, with its own crossId.
    create::<ApiDefinition>(
        &client_b,
        &ns_b,
        api_json(&ns_b, "squatter", Some("dev"), &keep_path),
    )
    .await;
    let rec_b = Reconciler::start(client_b.clone(), settings(&[&ns_b], "cluster-b"));

    let st = wait_condition(
        &client_b,
        &ns_b,
        "shared",
        "Synced",
        "False",
        "OwnedByOtherCluster",
        T,
    )
    .await;
    assert!(
        st.to_string().contains("cluster-a"),
        "names the other cluster: {st}"
    );
    wait_condition(
        &client_b,
        &ns_b,
        "keep",
        "Synced",
        "False",
        "OwnedByOtherCluster",
        T,
    )
    .await;
    let st = wait_condition(
        &client_b,
        &ns_b,
        "squatter",
        "Synced",
        "False",
        "ContextPathConflict",
        T,
    )
    .await;
    assert!(st.to_string().contains("cluster cluster-a"), "{st}");
    wait_events(&client_b, &ns_b, "shared", &["OwnedByOtherCluster"], T).await;
    assert_eq!(
        read_stamp(
            &apim
                .api(ORG, ENV, &shared_cross)
                .expect("shared")
                .definition
        )
        .0
        .as_deref(),
        Some("cluster-a"),
        "B did not overwrite"
    );

    // Deleting in B leaves A's API alone.
    delete::<ApiDefinition>(&client_b, &ns_b, "keep").await;
    wait_for(T, "B's keep gone", || async {
        get::<ApiDefinition>(&client_b, &ns_b, "keep")
            .await
            .is_none()
    })
    .await;
    assert!(
        apim.api(ORG, ENV, &keep_cross).is_some(),
        "A's API is still there"
    );
    assert_eq!(apim.count("DELETE", ""), 0);

    // Deliberate takeover by B.
    merge_patch::<ApiDefinition>(
        &client_b,
        &ns_b,
        "shared",
        json!({"metadata": {"annotations": {TAKEOVER_ANNOTATION: "true"}}}),
    )
    .await;
    wait_condition(&client_b, &ns_b, "shared", "Synced", "True", "Synced", T).await;
    assert_eq!(
        read_stamp(
            &apim
                .api(ORG, ENV, &shared_cross)
                .expect("shared")
                .definition
        )
        .0
        .as_deref(),
        Some("cluster-b")
    );
    wait_events(&client_b, &ns_b, "shared", &["TakeOver"], T).await;
    // A no longer owns it: deleting in A does not delete it.
    delete::<ApiDefinition>(&client_a, &ns_a, "shared").await;
    wait_for(T, "A's shared gone", || async {
        get::<ApiDefinition>(&client_a, &ns_a, "shared")
            .await
            .is_none()
    })
    .await;
    assert!(apim.api(ORG, ENV, &shared_cross).is_some());
    // B owns it: deleting in B deletes it.
    delete::<ApiDefinition>(&client_b, &ns_b, "shared").await;
    wait_for(T, "B's shared deleted from APIM", || async {
        apim.api(ORG, ENV, &shared_cross).is_none()
    })
    .await;
    rec_a.stop().await;
    rec_b.stop().await;
}

/// Accepts connections and never answers: a Management API that hangs.
async fn blackhole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contexts_are_independent_and_promotion_moves_the_api() {
    let Some((client, ns_ctx)) = setup("e2e-env-ctx").await else {
        return;
    };
    let ns = namespace(&client, "e2e-env-api").await;
    let s1 = ApimStandIn::start(StandInConfig::v4().environment("DEFAULT", "STAGING")).await;
    let s2 = ApimStandIn::start_v4().await;
    let (dead_url, dead) = blackhole().await;
    token_secret(&client, &ns_ctx, "apim-token", TEST_TOKEN).await;
    for (name, url, env) in [
        ("dev", s1.base_url(), "DEFAULT"),
        ("staging", s1.base_url(), "STAGING"),
        ("down", dead_url.clone(), "DEFAULT"),
    ] {
        create::<ManagementContext>(
            &client,
            &ns_ctx,
            context_json(&ns_ctx, name, &url, env, "apim-token"),
        )
        .await;
    }
    // The dead context's APIs first, so they fill the queue.
    for i in 0..10 {
        create::<ApiDefinition>(
            &client,
            &ns,
            api_json(
                &ns,
                &format!("down-{i}"),
                Some(&format!("{ns_ctx}/down")),
                &format!("/{ns}/down-{i}"),
            ),
        )
        .await;
    }
    for ctx in ["dev", "staging"] {
        for i in 0..10 {
            create::<ApiDefinition>(
                &client,
                &ns,
                api_json(
                    &ns,
                    &format!("{ctx}-{i}"),
                    Some(&format!("{ns_ctx}/{ctx}")),
                    &format!("/{ns}/{ctx}-{i}"),
                ),
            )
            .await;
        }
    }
    let mut s = settings(&[&ns, &ns_ctx], "cluster-a");
    s.concurrency = 4;
    s.apim.request_timeout = Duration::from_secs(2);
    s.apim.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let rec = Reconciler::start(client.clone(), s);
    for ctx in ["dev", "staging"] {
        for i in 0..10 {
            wait_condition(
                &client,
                &ns,
                &format!("{ctx}-{i}"),
                "Synced",
                "True",
                "Synced",
                T,
            )
            .await;
        }
    }
    let converged = started.elapsed();
    println!(
        "20 APIs of 2 healthy contexts converged in {converged:?} with a hanging third context"
    );
    assert!(converged < Duration::from_secs(15), "{converged:?}");
    assert_eq!(s1.apis("DEFAULT", "DEFAULT").len(), 10);
    assert_eq!(s1.apis("DEFAULT", "STAGING").len(), 10);
    wait_for(
        T,
        "the dead context Unreachable with failures counted",
        || async {
            let c: Option<ManagementContext> = get(&client, &ns_ctx, "down").await;
            let st = c.and_then(|c| c.status);
            let failures = st
                .as_ref()
                .and_then(|s| s.consecutive_failures)
                .unwrap_or(0);
            let v = st.and_then(|s| serde_json::to_value(s).ok());
            condition(v.as_ref(), "Ready") == Some(("False".into(), "Unreachable".into()))
                && failures >= 1
        },
    )
    .await;
    // The API's own reconcile may still be waiting for its reads to time out when the context turns
    // Unreachable: wait for it.
    wait_for(T, "down-0 Synced=False", || async {
        let st = api_status(&client, &ns, "down-0").await;
        condition(st.as_ref(), "Synced").is_some_and(|(s, _)| s == "False")
    })
    .await;

    // Promotion: dev-0 moves to staging, keeps its crossId, leaves DEFAULT.
    let cross = new_cross_id(&ns, "dev-0");
    merge_patch::<ApiDefinition>(
        &client,
        &ns,
        "dev-0",
        json!({"spec": {"contextRef": {"name": "staging", "namespace": ns_ctx}}}),
    )
    .await;
    wait_for(T, "dev-0 promoted", || async {
        let st = api_status(&client, &ns, "dev-0").await.unwrap_or_default();
        st["syncedContext"] == format!("{ns_ctx}/staging")
            && condition(Some(&st), "Synced").is_some_and(|(s, _)| s == "True")
    })
    .await;
    assert!(
        s1.api("DEFAULT", "STAGING", &cross).is_some(),
        "same crossId in the new environment"
    );
    assert!(
        s1.api("DEFAULT", "DEFAULT", &cross).is_none(),
        "removed from the old environment"
    );
    wait_events(&client, &ns, "dev-0", &["RemovedFromPreviousContext"], T).await;

    // A context's URL change re-pushes its APIs only.
    let staging_imports = s1
        .calls()
        .iter()
        .filter(|c| c.method == "PUT" && c.path.contains("/environments/STAGING/"))
        .count();
    merge_patch::<ManagementContext>(
        &client,
        &ns_ctx,
        "dev",
        json!({"spec": {"baseUrl": s2.base_url()}}),
    )
    .await;
    wait_for(T, "dev's 9 APIs pushed to the new URL", || async {
        s2.apis("DEFAULT", "DEFAULT").len() == 9
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let staging_after = s1
        .calls()
        .iter()
        .filter(|c| c.method == "PUT" && c.path.contains("/environments/STAGING/"))
        .count();
    assert_eq!(
        staging_imports, staging_after,
        "the other context's APIs were not pushed"
    );
    rec.stop().await;
    dead.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drift_is_reported_or_corrected() {
    let Some((client, ns)) = setup("e2e-drift").await else {
        return;
    };
    let ns_report = namespace(&client, "e2e-drift-report").await;
    let apim = ApimStandIn::start_v4().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    context(&client, &ns_report, &apim, "dev", ENV).await;
    create::<ApiDefinition>(
        &client,
        &ns,
        api_json(&ns, "fixme", Some("dev"), &format!("/{ns}/fixme")),
    )
    .await;
    create::<ApiDefinition>(
        &client,
        &ns_report,
        api_json(
            &ns_report,
            "watchme",
            Some("dev"),
            &format!("/{ns_report}/watchme"),
        ),
    )
    .await;
    let mut correct = settings(&[&ns], "cluster-a");
    correct.drift_interval = Duration::from_secs(1);
    correct.drift_policy = DriftPolicy::Correct;
    let mut report = settings(&[&ns_report], "cluster-a");
    report.drift_interval = Duration::from_secs(1);
    report.drift_policy = DriftPolicy::Report;
    let rec1 = Reconciler::start(client.clone(), correct);
    let rec2 = Reconciler::start(client.clone(), report);
    let st1 = wait_condition(&client, &ns, "fixme", "Synced", "True", "Synced", T).await;
    let st2 = wait_condition(
        &client, &ns_report, "watchme", "Synced", "True", "Synced", T,
    )
    .await;
    let c1 = st1["crossId"].as_str().unwrap_or_default().to_owned();
    let c2 = st2["crossId"].as_str().unwrap_or_default().to_owned();
    for cross in [&c1, &c2] {
        assert!(apim.edit_api(ORG, ENV, cross, |a| {
            a.definition["proxy"]["virtual_hosts"][0]["path"] = json!("/edited-in-console");
            a.definition["description"] = json!("console edit");
        }));
    }
    let detected = Instant::now();
    wait_for(T, "the console edit corrected", || async {
        apim.api(ORG, ENV, &c1).is_some_and(|a| {
            a.definition["proxy"]["virtual_hosts"][0]["path"] == format!("/{ns}/fixme")
        })
    })
    .await;
    println!("console edit corrected after {:?}", detected.elapsed());
    wait_condition(&client, &ns, "fixme", "Drifted", "False", "Corrected", T).await;
    wait_events(&client, &ns, "fixme", &["Drifted", "DriftCorrected"], T).await;

    let st = wait_condition(
        &client,
        &ns_report,
        "watchme",
        "Drifted",
        "True",
        "ConsoleEdit",
        T,
    )
    .await;
    assert!(st.to_string().contains("proxy"), "{st}");
    assert_eq!(
        apim.api(ORG, ENV, &c2)
            .map(|a| a.definition["proxy"]["virtual_hosts"][0]["path"].clone()),
        Some(json!("/edited-in-console")),
        "report only: left alone"
    );
    rec1.stop().await;
    rec2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_dry_run_warns_or_enforces() {
    use gko::admission::dry_run::ApimDryRun;
    use gko::manifests::ManifestSet;
    use gko::reconcile::dry_run::{DryRunMode, Runner};

    let Some((client, ns)) = setup("e2e-dryrun").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    let (dead_url, dead) = blackhole().await;
    token_secret(&client, &ns, "apim-token", TEST_TOKEN).await;
    let taken = format!("/{ns}/taken");
    ApimClient::new(ClientOptions::default())
        .expect("client")
        .import(
            &apim.default_target(),
            &json!({"crossId": "console-made", "name": "console", "version": "1",
                    "proxy": {"virtual_hosts": [{"path": taken}]}}),
            false,
        )
        .await
        .expect("console import");
    let mut set = ManifestSet::new();
    set.insert(
        &ns,
        &context_json(&ns, "dev", &apim.base_url(), ENV, "apim-token"),
    );
    set.insert(
        &ns,
        &context_json(&ns, "down", &dead_url, ENV, "apim-token"),
    );
    let clash = api_json(&ns, "clash", Some("dev"), &taken);
    let fine = api_json(&ns, "fine", Some("dev"), &format!("/{ns}/fine"));
    let unreachable = api_json(&ns, "far", Some("down"), &format!("/{ns}/far"));
    let timeout = Duration::from_millis(800);
    let runner = |mode| {
        Runner::new(client.clone(), mode, timeout, "cluster-a".into())
            .expect("runner")
            .expect("enabled")
    };
    let warn = runner(DryRunMode::Warn);
    let enforce = runner(DryRunMode::Enforce);
    assert!(
        Runner::new(client.clone(), DryRunMode::Off, timeout, "c".into())
            .expect("runner")
            .is_none()
    );

    let f = enforce.check(&ns, &clash, &set).await;
    assert_eq!(f.denials.len(), 1, "{f:?}");
    assert!(f.denials[0].contains("already covered"), "{f:?}");
    let f = warn.check(&ns, &clash, &set).await;
    assert!(
        f.denials.is_empty() && f.warnings.iter().any(|w| w.contains("already covered")),
        "{f:?}"
    );
    let f = enforce.check(&ns, &fine, &set).await;
    assert!(f.denials.is_empty() && f.warnings.is_empty(), "{f:?}");
    assert!(
        apim.api(ORG, ENV, &new_cross_id(&ns, "fine")).is_none(),
        "a dry run stores nothing"
    );

    let started = Instant::now();
    let f = warn.check(&ns, &unreachable, &set).await;
    assert!(
        f.denials.is_empty() && f.warnings.len() == 1,
        "unreachable is a warning: {f:?}"
    );
    let f = enforce.check(&ns, &unreachable, &set).await;
    assert_eq!(
        f.denials.len(),
        1,
        "enforce blocks when APIM cannot be asked: {f:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded: {:?}",
        started.elapsed()
    );
    dead.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apim_3x_import_definition_context_and_deploy() {
    let Some((client, ns)) = setup("e2e-v3").await else {
        return;
    };
    let apim = ApimStandIn::start_v3().await;
    context(&client, &ns, &apim, "dev", ENV).await;
    create::<ApiDefinition>(
        &client,
        &ns,
        api_json(&ns, "orders", Some("dev"), &format!("/{ns}/orders")),
    )
    .await;
    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-a"));
    let st = wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;
    let cross = new_cross_id(&ns, "orders");
    let stored = apim.api(ORG, ENV, &cross).expect("imported on 3.x");
    assert_eq!(st["id"], stored.id);
    assert_eq!(
        stored.definition_context,
        Some(json!({"origin": "kubernetes", "mode": "fully_managed"}))
    );
    assert!(stored.deploy_count >= 1);
    wait_for(T, "context reports 3.x", || async {
        let c: Option<ManagementContext> = get(&client, &ns, "dev").await;
        c.and_then(|c| c.status)
            .and_then(|s| s.apim_generation)
            .as_deref()
            == Some("3.x")
    })
    .await;
    // An update goes through PUT import with the same id.
    merge_patch::<ApiDefinition>(
        &client,
        &ns,
        "orders",
        json!({"spec": {"description": "v2"}}),
    )
    .await;
    wait_for(T, "updated on 3.x", || async {
        apim.api(ORG, ENV, &cross)
            .is_some_and(|a| a.definition["description"] == "v2")
    })
    .await;
    assert_eq!(apim.count("PUT", "/apis/import"), 1);
    assert_eq!(apim.apis(ORG, ENV).len(), 1);
    delete::<ApiDefinition>(&client, &ns, "orders").await;
    wait_for(T, "deleted on 3.x", || async {
        apim.apis(ORG, ENV).is_empty()
    })
    .await;
    rec.stop().await;
}
