//! Reconciler bench against a real API server (envtest, `KUBECONFIG`) and the APIM stand-in with 20 ms of
//! latency per call:
//!
//! 1. 1,000 ApiDefinitions created at once converge (all `Synced=True`) — target ≤ 10 s;
//! 2. an ApiResource used by 500 of them changes: the new content reaches APIM for all 500 — target ≤ 5 s;
//! 3. a restart (full resync of the 1,000 unchanged APIs) makes 0 APIM writes;
//! 4. RSS with 10,000 ApiDefinitions in the reconciler's cache.
//!
//! ```sh
//! /work/shared/envtest/up.sh /tmp/gko-bench --owner-pid $$ && source /tmp/gko-bench/env
//! cargo bench --bench reconcile            # GKO_BENCH_APIS=1000 GKO_BENCH_CACHED=10000 GKO_BENCH_CONCURRENCY=8
//! ```

#[path = "../tests/support/apim.rs"]
mod apim;
#[path = "../tests/support/kube.rs"]
mod cluster;
#[path = "../tests/support/fixtures.rs"]
mod fixtures;
#[path = "../tests/support/measure.rs"]
mod measure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gko::cluster::watch;
use gko::cluster::Scope;
use gko::crd::{ApiDefinition, ApiResource, ManagementContext};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::json;

fn rss_mib() -> f64 {
    measure::status_mib(None, "VmRSS:")
}

/// Set in the child process that only measures the cache of one namespace.
const CACHE_ONLY: &str = "GKO_BENCH_CACHE_ONLY";

/// Child process: fill the reconciler's ApiDefinition cache for a namespace and print the RSS it costs.
async fn cache_only(path: String, ns: String) {
    let client = cluster::client_for(&path).await;
    let rss_before = rss_mib();
    let stop = tokio_util::sync::CancellationToken::new();
    let cache = gko::cluster::ClusterCache::start(
        client,
        &gko::cluster::Options {
            scope: Scope::Namespaces(vec![ns]),
            reconcile: true,
        },
        &stop,
    );
    cache.apis.ready.wait().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    gko::release_unused_memory();
    let rss_after = rss_mib();
    let store = &cache.apis.store;
    println!(
        "{} ApiDefinitions cached: process RSS {:.1} MiB -> {:.1} MiB (+{:.1} MiB, {:.1} KiB per object)",
        store.len(),
        rss_before,
        rss_after,
        rss_after - rss_before,
        (rss_after - rss_before) * 1024.0 / store.len().max(1) as f64
    );
    stop.cancel();
}

fn main() {
    let Some(path) = cluster::kubeconfig() else {
        println!("reconcile bench skipped: KUBECONFIG not set (start envtest: /work/shared/envtest/up.sh DIR, then source DIR/env)");
        return;
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return;
        }
    };
    if let Ok(filter) = std::env::var("GKO_BENCH_LOG") {
        gko::telemetry::init_logging(gko::telemetry::LogFormat::Text, &filter);
    }
    match std::env::var(CACHE_ONLY) {
        Ok(ns) => runtime.block_on(cache_only(path, ns)),
        Err(_) => runtime.block_on(run(path)),
    }
}

fn api(ns: &str, i: usize, with_resource: bool) -> serde_json::Value {
    let mut v = fixtures::api_json(
        ns,
        &format!("api-{i:05}"),
        Some("dev"),
        &format!("/bench/api-{i}"),
    );
    if with_resource {
        v["spec"]["resources"] = json!([{"ref": {"name": "cache"}}]);
    }
    v
}

async fn create_many(client: &Client, ns: &str, objects: Vec<serde_json::Value>) -> Duration {
    let started = Instant::now();
    let api: Api<ApiDefinition> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(objects)
        .map(|o| {
            let api = api.clone();
            async move {
                let object: ApiDefinition = serde_json::from_value(o).expect("ApiDefinition");
                api.create(&PostParams::default(), &object)
                    .await
                    .expect("create");
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

/// Counts `Synced=True` APIs of `ns` from a watch (a re-list every poll would load the API server being measured).
struct SyncedWatch {
    store: kube::runtime::reflector::Store<ApiDefinition>,
    drain: tokio::task::JoinHandle<()>,
}

impl SyncedWatch {
    async fn start(client: &Client, ns: &str) -> SyncedWatch {
        let (store, ready, trigger) = watch::reflect::<ApiDefinition>(
            client,
            &Scope::Namespaces(vec![ns.to_owned()]),
            Arc::new(watch::NoIndex),
        );
        let drain = tokio::spawn(trigger.for_each(|_| futures::future::ready(())));
        ready.wait().await;
        SyncedWatch { store, drain }
    }

    fn synced(&self) -> usize {
        self.store
            .state()
            .iter()
            .filter(|a| {
                a.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Synced" && c.status == "True")
                })
            })
            .count()
    }

    /// Waits until `n` APIs are `Synced=True`; the time since `started`.
    async fn wait(&self, n: usize, started: Instant) -> Duration {
        loop {
            let synced = self.synced();
            if synced >= n {
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(300) {
                println!("  gave up: {synced}/{n} synced after 300 s");
                return started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SyncedWatch {
    fn drop(&mut self) {
        self.drain.abort();
    }
}

async fn run(path: String) {
    let n = measure::env_usize("GKO_BENCH_APIS", 1000);
    let users = n / 2;
    let cached = measure::env_usize("GKO_BENCH_CACHED", 10_000);
    let concurrency = u16::try_from(measure::env_usize("GKO_BENCH_CONCURRENCY", 8)).unwrap_or(8);
    let client = cluster::client_for(&path).await;
    cluster::apply_crds(&client).await;
    let ns = cluster::namespace(&client, "bench").await;
    let standin = apim::ApimStandIn::start_v4().await;
    standin.set_latency(Duration::from_millis(20));
    cluster::token_secret(&client, &ns, "apim-token", apim::TEST_TOKEN).await;
    cluster::create::<ManagementContext>(
        &client,
        &ns,
        fixtures::context_json(&ns, "dev", &standin.base_url(), "DEFAULT", "apim-token"),
    )
    .await;
    cluster::create::<ApiResource>(&client, &ns, fixtures::resource_json(&ns, "cache", 60)).await;
    println!("reconcile bench: {n} APIs ({users} using one ApiResource), APIM latency 20 ms/call, concurrency {concurrency}");
    let rss_start = rss_mib();

    let ns_live = cluster::namespace(&client, "bench-live").await;
    cluster::create::<ManagementContext>(
        &client,
        &ns_live,
        fixtures::context_json(
            &ns_live,
            "dev",
            &standin.base_url(),
            "DEFAULT",
            "apim-token",
        ),
    )
    .await;
    cluster::token_secret(&client, &ns_live, "apim-token", apim::TEST_TOKEN).await;
    let mut settings = cluster::settings(&[&ns, &ns_live], "bench-cluster");
    settings.concurrency = concurrency;

    // 0. Floor: what the API server alone takes for the two writes every new API needs (finalizer, status),
    //    at the same concurrency, without APIM.
    let ns_floor = cluster::namespace(&client, "bench-floor").await;
    let objects: Vec<_> = (0..n).map(|i| api(&ns_floor, i, false)).collect();
    create_many(&client, &ns_floor, objects).await;
    let floor_api: Api<ApiDefinition> = Api::namespaced(client.clone(), &ns_floor);
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = floor_api.clone();
            async move {
                let name = format!("api-{i:05}");
                let _ = api
                    .patch(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"metadata": {"finalizers": ["bench/floor"]}})),
                    )
                    .await;
                let _ = api
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(
                            &json!({"status": {"crossId": "x", "processingStatus": "Completed"}}),
                        ),
                    )
                    .await;
            }
        })
        .buffer_unordered(usize::from(concurrency))
        .collect::<Vec<_>>()
        .await;
    let floor = started.elapsed();
    println!(
        "0. floor: {} API-server writes (finalizer + status for {n} objects) at concurrency {concurrency} take {:.2} s here",
        2 * n,
        floor.as_secs_f64()
    );
    futures::stream::iter(0..n)
        .map(|i| {
            let api = floor_api.clone();
            async move {
                let _ = api
                    .patch(
                        &format!("api-{i:05}"),
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    // 1. Cold start: n APIs wait, then the reconciler starts.
    let objects: Vec<_> = (0..n).map(|i| api(&ns, i, i < users)).collect();
    let created_in = create_many(&client, &ns, objects).await;
    let watch_ns = SyncedWatch::start(&client, &ns).await;
    let started = Instant::now();
    let rec = cluster::Reconciler::start(client.clone(), settings.clone());
    let converged = watch_ns.wait(n, started).await;
    drop(watch_ns);
    println!(
        "1. {n} pending ApiDefinitions converged in {:.2} s after the reconciler started ({} APIM calls, {} writes) [target ≤ 10 s: {}]",
        converged.as_secs_f64(),
        standin.total_calls(),
        standin.write_calls(),
        if converged <= Duration::from_secs(10) { "met" } else { "MISSED" }
    );
    println!(
        "   (the {n} objects were created in {:.2} s beforehand)",
        created_in.as_secs_f64()
    );

    // 1b. The same number applied while the reconciler runs (creation and reconciliation compete).
    let watch_live = SyncedWatch::start(&client, &ns_live).await;
    let started = Instant::now();
    let objects: Vec<_> = (0..n).map(|i| api(&ns_live, n + i, false)).collect();
    let created_in = create_many(&client, &ns_live, objects).await;
    let converged = watch_live.wait(n, started).await;
    drop(watch_live);
    println!(
        "1b. {n} ApiDefinitions applied while running: all synced {:.2} s after the first create (creation took {:.2} s)",
        converged.as_secs_f64(),
        created_in.as_secs_f64()
    );

    // 2. An ApiResource used by `users` APIs changes.
    let resources: Api<ApiResource> = Api::namespaced(client.clone(), &ns);
    let writes_before = standin.write_calls();
    let started = Instant::now();
    resources
        .patch(
            "cache",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"configuration": {"timeToLiveSeconds": 120}}})),
        )
        .await
        .expect("patch resource");
    loop {
        let updated = standin.count_apis("DEFAULT", "DEFAULT", |a| {
            a.definition["resources"][0]["configuration"]["timeToLiveSeconds"] == 120
        });
        if updated >= users || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let propagated = started.elapsed();
    println!(
        "2. ApiResource change propagated to {users} APIs in {:.2} s ({} APIM writes) [target ≤ 5 s: {}]",
        propagated.as_secs_f64(),
        standin.write_calls() - writes_before,
        if propagated <= Duration::from_secs(5) { "met" } else { "MISSED" }
    );
    // Let the status writes of step 2 settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_with_n = rss_mib();

    // 3. Restart: full resync of n unchanged APIs.
    rec.stop().await;
    let writes_before = standin.write_calls();
    let calls_before = standin.total_calls();
    let started = Instant::now();
    let rec = cluster::Reconciler::start(client.clone(), settings);
    let reconciled = |rec: &cluster::Reconciler| {
        let text = rec.metrics.render();
        text.lines()
            .filter(|l| {
                l.starts_with("gko_reconciles_total")
                    && l.contains("kind=\"ApiDefinition\"")
                    && l.contains("operation=\"apply\"")
            })
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum::<f64>()
    };
    while reconciled(&rec) < (2 * n) as f64 && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resynced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!(
        "3. restart: {} reconciles of unchanged APIs (both namespaces) in {:.2} s, {} APIM writes ({} calls, all reads) [target 0 writes: {}]",
        reconciled(&rec),
        resynced.as_secs_f64(),
        standin.write_calls() - writes_before,
        standin.total_calls() - calls_before,
        if standin.write_calls() == writes_before { "met" } else { "MISSED" }
    );
    rec.stop().await;

    // 4. RSS with `cached` ApiDefinitions in the reconciler's cache (its reflector store), measured in a fresh
    //    process so that nothing else this bench did is counted.
    let ns_cache = cluster::namespace(&client, "bench-cache").await;
    let objects: Vec<_> = (0..cached).map(|i| api(&ns_cache, i, i % 2 == 0)).collect();
    let created_in = create_many(&client, &ns_cache, objects).await;
    let child = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .env(CACHE_ONLY, &ns_cache)
            .output()
    });
    match child {
        Ok(out) => println!(
            "4. {} (objects created in {:.1} s)",
            String::from_utf8_lossy(&out.stdout).trim(),
            created_in.as_secs_f64()
        ),
        Err(e) => println!("4. could not start the measuring process: {e}"),
    }
    println!(
        "   process RSS: {:.1} MiB at start, {:.1} MiB with the reconciler and {} synced APIs (stand-in in the same process)",
        rss_start,
        rss_with_n,
        2 * n
    );
}
