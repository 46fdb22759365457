//! Migrating from GKO end to end: a real API server (envtest, `KUBECONFIG`), the in-process APIM stand-in
//! holding the APIs GKO created (under GKO's ids), and gko's controllers started on objects as GKO left them,
//! then on a rebuilt cluster (same manifests, no status, new uids). Skipped when `KUBECONFIG` is not set.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use gko::admission::dry_run::ApimDryRun;
use gko::apim::{ApimClient, ClientOptions};
use gko::crd::{ApiDefinition, ApiResource, ManagementContext};
use gko::manifests::ManifestSet;
use gko::model::gko_ids::{api_cross_id, plan_cross_id, Derivation};
use gko::reconcile::dry_run::{DryRunMode, Runner};
use gko::reconcile::payload::{CLUSTER_PROPERTY, OWNER_PROPERTY};
use gko::reconcile::FINALIZER;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::Client;
use serde_json::{json, Value};
use support::apim::ApimStandIn;
use support::fixtures::{api_json, context_json, resource_json};
use support::kube::*;

const ORG: &str = "DEFAULT";
const ENV: &str = "DEFAULT";
const CLUSTER: &str = "cluster-a";
const T: Duration = Duration::from_secs(20);
const GKO_API_FINALIZER: &str = "finalizers.gravitee.io/apidefinitiondeletion";

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

/// Adds metadata.finalizers to a manifest, as GKO leaves it.
fn with_finalizer(mut object: Value, finalizer: &str) -> Value {
    object["metadata"]["finalizers"] = json!([finalizer]);
    object
}

/// A context as GKO leaves it (its finalizer on it).
async fn gko_context(client: &Client, ns: &str, apim: &ApimStandIn) {
    token_secret(client, ns, "apim-token", support::apim::TEST_TOKEN).await;
    create::<ManagementContext>(
        client,
        ns,
        with_finalizer(
            context_json(ns, "dev", &apim.base_url(), ENV, "apim-token"),
            "finalizers.gravitee.io/managementcontextdeletion",
        ),
    )
    .await;
}

/// What GKO pushed for `api` (read back from the API server, CRD defaults applied): the spec without
/// gko's operator fields, GKO's ids, APIM's definition context; with gko's stamp when `stamped`.
fn gko_definition(
    api: &ApiDefinition,
    api_id: &str,
    cross_id: &str,
    derivation: Derivation,
    stamped: bool,
) -> Value {
    let mut d = serde_json::to_value(&api.spec).expect("spec");
    let o = d.as_object_mut().expect("object");
    o.remove("contextRef");
    o.remove("local");
    o.insert("id".into(), json!(api_id));
    o.insert("crossId".into(), json!(cross_id));
    o.insert("state".into(), json!("STARTED"));
    o.insert(
        "definition_context".into(),
        json!({"origin": "kubernetes", "mode": "fully_managed"}),
    );
    if stamped {
        let owner = format!(
            "{}/{}",
            api.metadata.namespace.as_deref().unwrap_or_default(),
            api.metadata.name.as_deref().unwrap_or_default()
        );
        o.insert(
            "properties".into(),
            json!([{"key": CLUSTER_PROPERTY, "value": CLUSTER}, {"key": OWNER_PROPERTY, "value": owner}]),
        );
    }
    if let Some(Value::Array(plans)) = o.get_mut("plans") {
        for plan in plans.iter_mut() {
            let name = plan["name"].as_str().unwrap_or_default().to_owned();
            let plan_cross = plan_cross_id(derivation, api_id, &name);
            plan["crossId"] = json!(plan_cross);
            plan["id"] = json!(derivation.derive(&format!("{plan_cross}/{name}")));
        }
    }
    d
}

/// Imports `definition` into the stand-in as GKO did; returns planCrossId → planId as APIM holds them.
async fn seed(apim: &ApimStandIn, definition: &Value) -> BTreeMap<String, String> {
    let imported = ApimClient::new(ClientOptions::default())
        .expect("client")
        .import(&apim.default_target(), definition, false)
        .await
        .expect("seed import");
    assert_eq!(Some(imported.id.as_str()), definition["id"].as_str());
    imported.plans
}

/// Writes the status GKO 4.x leaves on an ApiDefinition.
async fn gko_status(client: &Client, ns: &str, name: &str, status: Value) {
    let api: Api<ApiDefinition> = Api::namespaced(client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
    .expect("status");
}

/// Successful writes (imports, deletes, lifecycle) of the API with this id or crossId.
fn writes_of(apim: &ApimStandIn, id: &str, cross_id: &str) -> usize {
    apim.calls()
        .iter()
        .filter(|c| c.is_write() && c.status.is_some_and(|s| s < 300))
        .filter(|c| {
            c.path.contains(id) || c.json().is_some_and(|b| b["crossId"] == json!(cross_id))
        })
        .count()
}

fn finalizers<K: kube::Resource>(object: &K) -> Vec<String> {
    object.meta().finalizers.clone().unwrap_or_default()
}

async fn wait_finalizers<K>(client: &Client, ns: &str, name: &str, want: &[&str])
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    wait_for(T, &format!("finalizers of {ns}/{name}"), || async {
        get::<K>(client, ns, name)
            .await
            .is_some_and(|o| finalizers(&o) == want)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gko_installation_is_taken_over_in_place() {
    let Some((client, ns)) = setup("mig-inplace").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    gko_context(&client, &ns, &apim).await;
    create::<ApiResource>(
        &client,
        &ns,
        with_finalizer(
            resource_json(&ns, "cache", 60),
            "finalizers.gravitee.io/apiresource",
        ),
    )
    .await;

    // A ConfigMap GKO's templating holds, read by `orders`.
    create::<ConfigMap>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "texts", "namespace": ns,
                            "finalizers": ["finalizers.gravitee.io/templating"],
                            "annotations": {"gravitee.io/references": "1",
                                            "gravitee.io/apidefinitions": format!("[\"{ns}/orders\"]")}},
               "data": {"description": "test API"}}),
    )
    .await;

    // `orders`: GKO 4.x made it (no gko stamp). `stamped`: APIM already holds exactly what gko would push.
    let mut seeded = BTreeMap::new();
    for (name, path, stamped) in [("orders", "/orders", false), ("stamped", "/stamped", true)] {
        let mut manifest = api_json(&ns, name, Some("dev"), &format!("/{ns}{path}"));
        if name == "orders" {
            manifest["spec"]["description"] = json!("[[ configmap `texts/description` ]]");
        }
        let created: ApiDefinition =
            create(&client, &ns, with_finalizer(manifest, GKO_API_FINALIZER)).await;
        let uid = created.metadata.uid.clone().expect("uid");
        let cross = api_cross_id(Derivation::Xxh3, &ns, name);
        let mut definition = gko_definition(&created, &uid, &cross, Derivation::Xxh3, stamped);
        definition["description"] = json!("test API");
        let plans = seed(&apim, &definition).await;
        gko_status(
            &client,
            &ns,
            name,
            json!({"id": uid, "crossId": cross, "environmentId": ENV, "organizationId": ORG,
                   "processingStatus": "Completed", "state": "STARTED", "plans": plans}),
        )
        .await;
        seeded.insert(name, (uid, cross, plans));
    }
    apim.clear_calls();

    let rec = Reconciler::start(client.clone(), settings(&[&ns], CLUSTER));
    for (name, (uid, cross, plans)) in &seeded {
        let st = wait_condition(&client, &ns, name, "Synced", "True", "", T).await;
        assert_eq!(st["id"], json!(uid), "{name}: API id unchanged");
        assert_eq!(st["crossId"], json!(cross), "{name}: crossId unchanged");
        let stored = apim.api(ORG, ENV, cross).expect("API still in APIM");
        assert_eq!(&stored.id, uid, "{name}");
        assert_eq!(&stored.plans, plans, "{name}: plan ids unchanged");
        wait_finalizers::<ApiDefinition>(&client, &ns, name, &[FINALIZER]).await;
    }
    wait_finalizers::<ManagementContext>(&client, &ns, "dev", &[FINALIZER]).await;
    wait_finalizers::<ApiResource>(&client, &ns, "cache", &[FINALIZER]).await;

    wait_for(
        T,
        "ConfigMap texts released from GKO's templating",
        || async {
            get::<ConfigMap>(&client, &ns, "texts")
                .await
                .is_some_and(|c| {
                    c.metadata.finalizers.unwrap_or_default().is_empty()
                        && c.metadata
                            .annotations
                            .unwrap_or_default()
                            .keys()
                            .all(|k| !k.starts_with("gravitee.io/"))
                })
        },
    )
    .await;

    assert_eq!(apim.apis(ORG, ENV).len(), 2, "no API created");
    let (uid, cross, _) = &seeded["orders"];
    let orders_writes = writes_of(&apim, uid, cross);
    assert_eq!(orders_writes, 1, "one write adds gko's stamp to GKO's API");
    let (uid, cross, _) = &seeded["stamped"];
    assert_eq!(
        writes_of(&apim, uid, cross),
        0,
        "no write when APIM already holds the definition"
    );
    println!(
        "in place: {} APIM calls, {} writes for 2 APIs",
        apim.total_calls(),
        apim.write_calls()
    );

    // Deletes complete, and remove the API from APIM.
    delete::<ApiDefinition>(&client, &ns, "orders").await;
    wait_for(T, "orders deleted", || async {
        get::<ApiDefinition>(&client, &ns, "orders").await.is_none()
    })
    .await;
    assert!(apim.api(ORG, ENV, &seeded["orders"].1).is_none());
    delete::<ApiResource>(&client, &ns, "cache").await;
    wait_for(T, "cache deleted", || async {
        get::<ApiResource>(&client, &ns, "cache").await.is_none()
    })
    .await;
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_left_pending_under_gkos_finalizer_completes() {
    let Some((client, ns)) = setup("mig-pending").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    gko_context(&client, &ns, &apim).await;
    let created: ApiDefinition = create(
        &client,
        &ns,
        with_finalizer(
            api_json(&ns, "gone", Some("dev"), &format!("/{ns}/gone")),
            GKO_API_FINALIZER,
        ),
    )
    .await;
    let uid = created.metadata.uid.clone().expect("uid");
    let cross = api_cross_id(Derivation::Xxh3, &ns, "gone");
    let plans = seed(
        &apim,
        &gko_definition(&created, &uid, &cross, Derivation::Xxh3, false),
    )
    .await;
    gko_status(
        &client,
        &ns,
        "gone",
        json!({"id": uid, "crossId": cross, "environmentId": ENV, "plans": plans}),
    )
    .await;
    // Deleted while GKO was scaled down: it hangs on GKO's finalizer.
    delete::<ApiDefinition>(&client, &ns, "gone").await;
    assert!(get::<ApiDefinition>(&client, &ns, "gone").await.is_some());

    let rec = Reconciler::start(client.clone(), settings(&[&ns], CLUSTER));
    wait_for(T, "gone deleted", || async {
        get::<ApiDefinition>(&client, &ns, "gone").await.is_none()
    })
    .await;
    assert!(
        apim.api(ORG, ENV, &cross).is_none(),
        "gko's cleanup removed it from APIM"
    );
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuilt_cluster_adopts_the_apis_and_plans_gko_made() {
    let Some((client, ns)) = setup("mig-rebuilt").await else {
        return;
    };
    let apim = ApimStandIn::start_v4().await;
    gko_context(&client, &ns, &apim).await;

    // The old cluster: GKO 4.x made `orders`, GKO 0.x made `legacy`, each with the old object's uid as id.
    // The rebuilt cluster: the same manifests, no status, new uids.
    let mut seeded = BTreeMap::new();
    for (name, derivation) in [("orders", Derivation::Xxh3), ("legacy", Derivation::V3)] {
        let manifest = api_json(&ns, name, Some("dev"), &format!("/{ns}/{name}"));
        let created: ApiDefinition = create(&client, &ns, manifest).await;
        let old_uid = derivation.derive(&format!("old cluster/{name}"));
        let cross = api_cross_id(derivation, &ns, name);
        let plans = seed(
            &apim,
            &gko_definition(&created, &old_uid, &cross, derivation, false),
        )
        .await;
        assert_ne!(created.metadata.uid.as_deref(), Some(old_uid.as_str()));
        seeded.insert(name, (old_uid, cross, plans));
    }

    // The webhook's APIM dry run looks for the same crossId: the manifests are not refused as clashing
    // with the APIs GKO made on their own paths.
    let runner = Runner::new(
        client.clone(),
        DryRunMode::Enforce,
        Duration::from_secs(2),
        CLUSTER.into(),
    )
    .expect("runner")
    .expect("enabled");
    let mut set = ManifestSet::new();
    set.insert(
        &ns,
        &context_json(&ns, "dev", &apim.base_url(), ENV, "apim-token"),
    );
    for name in ["orders", "legacy"] {
        let manifest = api_json(&ns, name, Some("dev"), &format!("/{ns}/{name}"));
        let f = runner.check(&ns, &manifest, &set).await;
        assert!(f.denials.is_empty(), "{name}: {f:?}");
    }
    apim.clear_calls();

    let rec = Reconciler::start(client.clone(), settings(&[&ns], CLUSTER));
    for (name, (old_uid, cross, plans)) in &seeded {
        let st = wait_condition(&client, &ns, name, "Synced", "True", "", T).await;
        assert_eq!(st["crossId"], json!(cross), "{name}: GKO's crossId found");
        assert_eq!(st["id"], json!(old_uid), "{name}: the API GKO made");
        let stored = apim.api(ORG, ENV, cross).expect("API in APIM");
        assert_eq!(&stored.plans, plans, "{name}: the plans GKO made");
        let status_plans: BTreeMap<String, String> =
            serde_json::from_value(st["plans"].clone()).unwrap_or_default();
        assert_eq!(&status_plans, plans, "{name}: plan ids in status");
        assert!(
            writes_of(&apim, old_uid, cross) <= 1,
            "{name}: at most one write"
        );
    }
    assert_eq!(apim.apis(ORG, ENV).len(), 2, "no API created");
    println!(
        "rebuilt: {} APIM calls, {} writes for 2 APIs",
        apim.total_calls(),
        apim.write_calls()
    );
    rec.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cleanup_removes_gkos_finalizers_and_releases_the_secrets_it_held() {
    let Some((client, ns)) = setup("mig-cleanup").await else {
        return;
    };
    // GKO uninstalled, nothing running: its finalizers stay on the objects and on the context's Secret.
    create::<Secret>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "apim-token", "namespace": ns,
                            "finalizers": ["finalizers.gravitee.io/managementcontextSecret"],
                            "annotations": {"gravitee.io/managementcontexts": format!("[\"{ns}/dev\"]")}},
               "stringData": {"bearerToken": "t"}}),
    )
    .await;
    create::<ManagementContext>(
        &client,
        &ns,
        with_finalizer(
            context_json(&ns, "dev", "https://apim.example", ENV, "apim-token"),
            "finalizers.gravitee.io/managementcontextdeletion",
        ),
    )
    .await;
    let plan = gko::cleanup::CleanupPlan {
        finalizers: true,
        release_gko_holds: true,
        namespaces: vec![ns.clone()],
        ..Default::default()
    };
    let report = gko::cleanup::run(&client, &plan).await.expect("cleanup");
    assert_eq!(
        report.finalizers_removed,
        [
            format!("ManagementContext {ns}/dev"),
            format!("Secret {ns}/apim-token")
        ]
    );
    let secret = get::<Secret>(&client, &ns, "apim-token")
        .await
        .expect("secret");
    assert!(finalizers(&secret).is_empty());
    assert!(secret
        .metadata
        .annotations
        .unwrap_or_default()
        .keys()
        .all(|k| !k.starts_with("gravitee.io/")));
    delete::<ManagementContext>(&client, &ns, "dev").await;
    wait_for(T, "context deleted", || async {
        get::<ManagementContext>(&client, &ns, "dev")
            .await
            .is_none()
    })
    .await;
}
