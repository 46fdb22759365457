//! Helpers for the reconciler end-to-end tests: a kube client per cluster, typed objects, conditions, events, and in-process reconcilers.
//! an in-process reconciler.
//!
//! Include from a bench with `#[path = "../tests/support/cluster.rs"] mod cluster;` (it uses only `gko` and
//! public crates).
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gko::cluster::Scope;
use gko::crd::{ApiDefinition, ApiResource, Kind, ManagementContext};
use gko::reconcile::{BreakerConfig, Settings};
use gko::telemetry::Metrics;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, ResourceExt};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `KUBECONFIG` when set (tests are skipped otherwise).
pub fn kubeconfig() -> Option<String> {
    std::env::var("KUBECONFIG").ok().filter(|s| !s.is_empty())
}

/// A client for the cluster of a kubeconfig file.
pub async fn client_for(path: &str) -> Client {
    let kubeconfig = Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

/// Applies the three CRDs (server-side apply, forced) and waits until they are established and servable.
pub async fn apply_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for kind in Kind::ALL {
        let crd = kind.crd();
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("gko-tests").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
    }
    wait_for(Duration::from_secs(30), "CRDs established", || async {
        for kind in Kind::ALL {
            let name = format!("{}.{}", kind.plural(), gko::crd::GROUP);
            let Ok(crd) = crds.get(&name).await else {
                return false;
            };
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if !established {
                return false;
            }
        }
        let apis: Api<ApiDefinition> = Api::all(client.clone());
        let contexts: Api<ManagementContext> = Api::all(client.clone());
        let resources: Api<ApiResource> = Api::all(client.clone());
        let one = ListParams::default().limit(1);
        apis.list(&one).await.is_ok()
            && contexts.list(&one).await.is_ok()
            && resources.list(&one).await.is_ok()
    })
    .await;
}

/// Creates a namespace with a unique name starting with `prefix`.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

/// Polls `check` every 50 ms until it is true; panics with `what` after `timeout`.
pub async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reconciler settings for tests: the given namespaces only, fast retries.
pub fn settings(namespaces: &[&str], cluster_id: &str) -> Settings {
    Settings {
        scope: Scope::Namespaces(namespaces.iter().map(|s| s.to_string()).collect()),
        concurrency: 8,
        cluster_id: Some(cluster_id.to_owned()),
        lease: None,
        namespace: namespaces
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        drift_interval: Duration::ZERO,
        retry_base: Duration::from_millis(100),
        retry_cap: Duration::from_secs(2),
        breaker: BreakerConfig {
            threshold: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(3),
            busy_retry: Duration::from_millis(200),
        },
        missing_ref_requeue: Duration::from_secs(2),
        blocked_requeue: Duration::from_millis(500),
        context_resync: Duration::from_secs(30),
        apim: gko::apim::ClientOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..Default::default()
        },
        instance: format!("test-{cluster_id}"),
        ..Settings::default()
    }
}

/// A reconciler running in-process until [`Reconciler::stop`].
pub struct Reconciler {
    pub stop: CancellationToken,
    pub task: JoinHandle<()>,
    pub metrics: Arc<Metrics>,
}

impl Reconciler {
    pub fn start(client: Client, settings: Settings) -> Reconciler {
        let stop = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let task = {
            let stop = stop.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let cache = gko::cluster::ClusterCache::start(
                    client,
                    &gko::cluster::Options {
                        scope: settings.scope.clone(),
                        reconcile: true,
                    },
                    &stop,
                );
                let _ = gko::reconcile::run(cache, settings, metrics, stop).await;
            })
        };
        Reconciler {
            stop,
            task,
            metrics,
        }
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.task).await;
    }
}

pub async fn create<K>(client: &Client, ns: &str, value: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let object: K = serde_json::from_value(value).expect("object");
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.create(&PostParams::default(), &object)
        .await
        .expect("create")
}

pub async fn merge_patch<K>(client: &Client, ns: &str, name: &str, patch: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch")
}

pub async fn delete<K>(client: &Client, ns: &str, name: &str)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.delete(name, &DeleteParams::default())
        .await
        .expect("delete");
}

pub async fn get<K>(client: &Client, ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    api.get_opt(name).await.expect("get")
}

/// A bearer-token Secret.
pub async fn token_secret(client: &Client, ns: &str, name: &str, token: &str) -> Secret {
    create(
        client,
        ns,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
               "stringData": {"bearerToken": token}}),
    )
    .await
}

/// The condition `type_` of an object's status as (status, reason).
pub fn condition(status: Option<&Value>, type_: &str) -> Option<(String, String)> {
    status?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            (
                c.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                c.get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
}

/// The status of an ApiDefinition as JSON.
pub async fn api_status(client: &Client, ns: &str, name: &str) -> Option<Value> {
    let api: Option<ApiDefinition> = get(client, ns, name).await;
    api.and_then(|a| a.status)
        .and_then(|s| serde_json::to_value(s).ok())
}

/// Waits until the ApiDefinition's condition `type_` has `status` and `reason`.
pub async fn wait_condition(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
    timeout: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let st = api_status(client, ns, name).await;
        if condition(st.as_ref(), type_)
            .is_some_and(|(s, r)| s == status && (reason.is_empty() || r == reason))
        {
            return st.unwrap_or_default();
        }
        if started.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {ns}/{name} {type_}={status} ({reason}); last status: {st:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Events about an object (reasons), newest last.
pub async fn event_reasons(client: &Client, ns: &str, name: &str) -> Vec<String> {
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), ns);
    let list = events.list(&Default::default()).await.expect("events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .filter_map(|e| e.reason)
        .collect()
}

/// Waits until the Events about an object include every reason in `reasons`.
pub async fn wait_events(
    client: &Client,
    ns: &str,
    name: &str,
    reasons: &[&str],
    timeout: Duration,
) {
    let started = Instant::now();
    loop {
        let seen = event_reasons(client, ns, name).await;
        if reasons.iter().all(|r| seen.iter().any(|s| s == r)) {
            return;
        }
        if started.elapsed() > timeout {
            panic!("timed out waiting for Events {reasons:?} about {ns}/{name}; seen {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
