//! Scale bench: 10,000 realistic ApiDefinitions in a real API server, and what `gko serve` (the release
//! binary, as its own process) costs with them.
//!
//! Each API has two plans (one with a rate-limit flow), two endpoints, a resource ref and labels; they are
//! applied server-side, as GitOps tools do (so every object carries `managedFields`). Reported:
//!
//! 1. a webhook-only replica (`--reconcile=false`): time from start to `/readyz` 200, and its RSS;
//! 2. the leader (webhook + reconciler): RSS once every API is `Synced` to the Management API stand-in;
//! 3. a restart of the leader over the synced APIs: APIM writes (must be 0) and time until every API was
//!    reconciled again;
//!
//! plus the RSS of both shapes with no API, so that the cost per API is the difference over the count.
//!
//! ```sh
//! /work/shared/envtest/up.sh /tmp/gko-bench --owner-pid $$ && source /tmp/gko-bench/env
//! cargo bench --bench scale                  # GKO_BENCH_SCALE_APIS=10000 GKO_BENCH_CONCURRENCY=16
//! ```

#[path = "../tests/support/apim.rs"]
mod apim;
#[path = "../tests/support/kube.rs"]
mod cluster;
#[path = "../tests/support/fixtures.rs"]
mod fixtures;
#[path = "../tests/support/measure.rs"]
mod measure;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gko::cluster::{watch, Scope};
use gko::crd::{ApiDefinition, ApiResource, ManagementContext};
use kube::api::{Api, Patch, PatchParams};
use kube::Client;

fn main() {
    let Some(path) = cluster::kubeconfig() else {
        println!("scale bench skipped: no KUBECONFIG (start ../shared/envtest, see the header)");
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(path));
}

async fn apply_all(client: &Client, ns: &str, n: usize, concurrency: usize) -> Duration {
    let api: Api<ApiDefinition> = Api::namespaced(client.clone(), ns);
    let started = Instant::now();
    let failures = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let object = fixtures::realistic_api(ns, i);
            async move {
                let name = format!("api-{i:05}");
                api.patch(
                    &name,
                    &PatchParams::apply("bench-gitops").force(),
                    &Patch::Apply(&object),
                )
                .await
                .err()
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(futures::future::ready)
        .collect::<Vec<_>>()
        .await;
    if let Some(e) = failures.first() {
        panic!("{} server-side applies failed, first: {e}", failures.len());
    }
    started.elapsed()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `gko serve` process of the release build.
struct Gko {
    child: Child,
    probe: u16,
    _dir: tempfile::TempDir,
}

impl Gko {
    fn start(kubeconfig: &str, ns: &str, reconcile: bool) -> Gko {
        let dir = tempfile::tempdir().expect("temp dir");
        let probe = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_gko"))
            .args([
                "serve",
                "--self-signed",
                "--listen",
                &format!("127.0.0.1:{}", free_port()),
                "--probe-listen",
                &format!("127.0.0.1:{probe}"),
                "--namespaces",
                ns,
                "--reconcile",
                if reconcile { "true" } else { "false" },
                "--leader-election=false",
                "--cluster-id",
                "bench-cluster",
                "--drift-interval",
                "0s",
                "--concurrency",
                "16",
                "--log",
                "warn",
            ])
            .arg("--cert-dir")
            .arg(dir.path())
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gko serve starts");
        Gko {
            child,
            probe,
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.probe)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let code = out.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, out))
    }

    async fn wait_ready(&self, started: Instant) -> Duration {
        loop {
            if self.get("/readyz").is_some_and(|(code, _)| code == 200) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "gko not ready after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sum of `gko_reconciles_total` for ApiDefinitions.
    fn api_reconciles(&self) -> u64 {
        let Some((_, body)) = self.get("/metrics") else {
            return 0;
        };
        body.lines()
            .filter(|l| l.starts_with("gko_reconciles_total") && l.contains("ApiDefinition"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// (current RSS, peak RSS) in MiB.
    fn rss(&self) -> (f64, f64) {
        let pid = Some(self.child.id());
        (
            measure::status_mib(pid, "VmRSS:"),
            measure::status_mib(pid, "VmHWM:"),
        )
    }
}

impl Drop for Gko {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts `Synced=True` ApiDefinitions of `ns` from a watch (in the bench process, not in gko's).
async fn wait_synced(client: &Client, ns: &str, n: usize, limit: Duration) -> Duration {
    let (store, ready, trigger) = watch::reflect::<ApiDefinition>(
        client,
        &Scope::Namespaces(vec![ns.to_owned()]),
        Arc::new(watch::NoIndex),
    );
    let drain = tokio::spawn(trigger.for_each(|_| futures::future::ready(())));
    ready.wait().await;
    let started = Instant::now();
    loop {
        let synced = store
            .state()
            .iter()
            .filter(|a| {
                a.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Synced" && c.status == "True")
                })
            })
            .count();
        if synced >= n {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "only {synced} of {n} APIs synced after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drain.abort();
    started.elapsed()
}

async fn run(path: String) {
    let n = measure::env_usize("GKO_BENCH_SCALE_APIS", 10_000);
    let concurrency = measure::env_usize("GKO_BENCH_CONCURRENCY", 16);
    let client = cluster::client_for(&path).await;
    cluster::apply_crds(&client).await;
    let standin = apim::ApimStandIn::start_v4().await;

    // Baselines: both shapes over an empty namespace.
    let empty = cluster::namespace(&client, "scale-empty").await;
    let base_webhook = {
        let gko = Gko::start(&path, &empty, false);
        gko.wait_ready(Instant::now()).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        gko.rss().0
    };

    let ns = cluster::namespace(&client, "scale").await;
    cluster::token_secret(&client, &ns, "apim-token", apim::TEST_TOKEN).await;
    cluster::create::<ManagementContext>(
        &client,
        &ns,
        fixtures::context_json(&ns, "dev", &standin.base_url(), "DEFAULT", "apim-token"),
    )
    .await;
    cluster::create::<ApiResource>(&client, &ns, fixtures::resource_json(&ns, "cache", 60)).await;
    println!("scale bench: {n} ApiDefinitions (2 plans, 1 flow, 2 endpoints, a resource ref, labels), server-side applied");
    let took = apply_all(&client, &ns, n, concurrency).await;
    println!(
        "  applied in {:.1} s ({:.0}/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );

    // 1. Webhook-only replica.
    let gko = Gko::start(&path, &ns, false);
    let ready = gko.wait_ready(Instant::now()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, peak) = gko.rss();
    println!(
        "  webhook-only: ready in {:.2} s (target <= 3 s); RSS {rss:.1} MiB (target <= 64 MiB), peak {peak:.1} MiB; empty cluster {base_webhook:.1} MiB -> {:.2} KiB per API",
        ready.as_secs_f64(),
        (rss - base_webhook) * 1024.0 / n as f64
    );
    drop(gko);

    // 2. Leader: every API synced to the stand-in.
    let started = Instant::now();
    let leader = Gko::start(&path, &ns, true);
    leader.wait_ready(started).await;
    wait_synced(&client, &ns, n, Duration::from_secs(900)).await;
    let synced = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss, peak) = leader.rss();
    println!(
        "  leader: {n} APIs synced {:.1} s after start; RSS {rss:.1} MiB (target <= 128 MiB), peak {peak:.1} MiB -> {:.2} KiB per API over the empty webhook",
        synced.as_secs_f64(),
        (rss - base_webhook) * 1024.0 / n as f64
    );
    drop(leader);

    // 3. Restart over synced APIs: no APIM write.
    standin.clear_calls();
    let started = Instant::now();
    let leader = Gko::start(&path, &ns, true);
    leader.wait_ready(started).await;
    while leader.api_reconciles() < n as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "restart: only {} reconciles after 600 s",
            leader.api_reconciles()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let resync = started.elapsed();
    let (rss, _) = leader.rss();
    println!(
        "  restart: {n} APIs reconciled again in {:.1} s with {} APIM writes (target 0), {} APIM calls; RSS {rss:.1} MiB",
        resync.as_secs_f64(),
        standin.write_calls(),
        standin.total_calls()
    );
    drop(leader);
}
