//! Webhook benchmark: drives `/validate` and `/mutate` of a real `gko serve` process over TLS with
//! keep-alive connections and a realistic ApiDefinition (plans, flows, three endpoint groups), next
//! to a bare TLS endpoint of the same stack (axum + hyper + rustls, gko's own `serve_tls`) that only
//! echoes, measured in the same run. Reports reviews/s, p50/p99, p99 at a paced 1,000 reviews/s,
//! and the server's idle RSS.
//!
//! `cargo bench --bench webhook` (options through env: GKO_BENCH_SECONDS, GKO_BENCH_ROUNDS,
//! GKO_BENCH_CONNECTIONS).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/engine_cost.rs"]
mod engine_cost;
#[path = "support/v4_api.rs"]
mod v4_api;

use axum::body::Bytes;
use axum::routing::post;
use serde_json::{json, Value};

const ECHO_ENV: &str = "GKO_BENCH_ECHO_SERVER";

fn main() {
    if let Ok(dir) = std::env::var(ECHO_ENV) {
        echo_server(&dir);
        return;
    }
    // `cargo test --benches` runs benchmarks with `--bench`-less args; keep it quick then.
    let quick = std::env::args().any(|a| a == "--test");
    engine_cost(if quick { 100 } else { 5000 });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(run(quick));
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// An ApiDefinition like a team would write: two plans with flows, three endpoint groups.
fn realistic_api(i: usize) -> Value {
    let flow = |path: &str| {
        json!({"name": "rate", "path-operator": {"path": path, "operator": "STARTS_WITH"}, "enabled": true,
               "methods": ["GET", "POST"],
               "pre": [{"name": "Rate limit", "policy": "rate-limit", "enabled": true,
                        "configuration": {"rate": {"limit": 100, "periodTime": 1, "periodTimeUnit": "SECONDS"}}},
                       {"name": "Transform headers", "policy": "transform-headers", "enabled": true,
                        "configuration": {"addHeaders": [{"name": "x-team", "value": "payments"}]}}],
               "post": [{"name": "Assign", "policy": "policy-assign-attributes", "enabled": true,
                         "configuration": {"attributes": [{"name": "a", "value": "b"}]}}]})
    };
    let group = |name: &str, n: usize| {
        let endpoints: Vec<Value> = (0..n)
            .map(|e| json!({"name": format!("{name}-{e}"), "target": format!("https://{name}-{e}.backend.example.com/v1"), "weight": 1, "backup": e > 0,
                           "http": {"connectTimeout": 5000, "readTimeout": 10000, "keepAlive": true}}))
            .collect();
        json!({"name": name, "endpoints": endpoints, "load_balancing": {"type": "ROUND_ROBIN"},
               "http": {"connectTimeout": 5000, "idleTimeout": 60000, "keepAlive": true, "readTimeout": 10000,
                        "pipelining": false, "maxConcurrentConnections": 100, "useCompression": true, "followRedirects": false}})
    };
    json!({
        "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
        "metadata": {"name": format!("bench-{i}"), "namespace": "bench", "uid": "0b8a4c3e-1a2b-4c5d-8e9f-000000000000",
                     "generation": 1, "labels": {"team": "payments"}},
        "spec": {
            "name": format!("Payments {i}"), "version": "2.3.1", "description": "Payments API",
            "contextRef": {"name": "apim", "namespace": "bench"},
            "plans": [
                {"name": "keyless", "description": "open", "security": "KEY_LESS", "flows": [flow("/public")]},
                {"name": "apikey", "description": "keys", "security": "API_KEY", "flows": [flow("/"), flow("/admin")]}
            ],
            "flows": [flow("/")],
            "properties": [{"key": "backend", "value": "https://backend.example.com"}],
            "proxy": {"virtual_hosts": [{"path": format!("/payments-{i}")}], "strip_context_path": false,
                      "groups": [group("primary", 3), group("secondary", 2), group("legacy", 1)],
                      "failover": {"maxAttempts": 2, "retryTimeout": 1000, "cases": ["TIMEOUT"]}}
        }
    })
}

fn review(operation: &str, object: Value, uid: usize) -> Value {
    let kind = object["kind"]
        .as_str()
        .unwrap_or("ApiDefinition")
        .to_string();
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": format!("bench-{uid}"),
        "kind": {"group": "gravitee.io", "version": "v1alpha1", "kind": kind},
        "resource": {"group": "gravitee.io", "version": "v1alpha1", "resource": format!("{}s", kind.to_lowercase())},
        "name": object["metadata"]["name"], "namespace": "bench", "operation": operation,
        "userInfo": {"username": "bench"}, "object": object, "oldObject": null, "dryRun": false}})
}

/// A cluster of 200 other v2 APIs and 200 v4 ones, the context, for the webhook to resolve against.
fn write_fixture(dir: &std::path::Path) -> std::io::Result<()> {
    let mut docs = vec![
        json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
        "metadata": {"name": "apim", "namespace": "bench"},
        "spec": {"baseUrl": "https://apim.example.com", "organizationId": "DEFAULT", "environmentId": "DEFAULT", "auth": {"bearerToken": "x"}}}),
    ];
    for i in 1000..1200 {
        docs.push(realistic_api(i));
        docs.push(v4_api::realistic_api_v4(i));
    }
    let text: Vec<String> = docs
        .iter()
        .map(|d| serde_json::to_string(d).unwrap_or_default())
        .collect();
    std::fs::write(dir.join("cluster.yaml"), text.join("\n---\n"))
}

/// The echo server: the same stack, a handler that returns the body.
fn echo_server(dir: &str) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return,
    };
    rt.block_on(async {
        let Ok(generated) = gko::tls::self_signed(std::path::Path::new(dir), &["127.0.0.1".into()])
        else {
            return;
        };
        let Ok(reloader) = gko::tls::CertReloader::load(generated.files) else {
            return;
        };
        let Ok(config) = gko::tls::server_config(reloader.cert.clone()) else {
            return;
        };
        let router = axum::Router::new().route(
            "/echo",
            post(|body: Bytes| async move { ([("content-type", "application/json")], body) }),
        );
        let port: u16 = std::env::var("GKO_BENCH_ECHO_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await else {
            return;
        };
        gko::server::serve_tls(
            listener,
            config,
            router,
            tokio_util::sync::CancellationToken::new(),
            Duration::from_secs(1),
        )
        .await;
    });
}

/// CPU cost of one review in-process, without HTTP or TLS: parse, decide, encode.
fn engine_cost(iterations: usize) {
    let mut set = gko::manifests::ManifestSet::new();
    set.insert("bench", &json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
        "metadata": {"name": "apim", "namespace": "bench"},
        "spec": {"baseUrl": "https://apim.example.com", "organizationId": "DEFAULT", "environmentId": "DEFAULT", "auth": {"bearerToken": "x"}}}));
    for i in 1000..1200 {
        set.insert("bench", &realistic_api(i));
        set.insert("bench", &v4_api::realistic_api_v4(i));
    }
    let resolver = gko::admission::lookup::StaticResolver(Arc::new(set));
    let engine = gko::admission::Engine::default();
    for (label, make) in [
        ("v2", realistic_api as fn(usize) -> Value),
        ("v4", v4_api::realistic_api_v4),
    ] {
        println!(
            "{label} review, {} bytes:",
            serde_json::to_vec(&review("CREATE", make(0), 0)).map_or(0, |b| b.len())
        );
        let bodies: Vec<Vec<u8>> = (0..64)
            .map(|i| serde_json::to_vec(&review("CREATE", make(i), i)).unwrap_or_default())
            .collect();
        engine_cost::engine_cost_of(iterations, &bodies, &resolver, &engine);
    }
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `load` and returns its stats with the server's CPU time per request.
async fn measured(
    pid: u32,
    load: impl std::future::Future<Output = Stats>,
) -> (Stats, Option<f64>) {
    let before = cpu_time(pid);
    let stats = load.await;
    let per = match (before, cpu_time(pid)) {
        (Some(b), Some(a)) if stats.count > 0 => {
            Some((a - b).as_secs_f64() * 1e6 / stats.count as f64)
        }
        _ => None,
    };
    (stats, per)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn wait_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn client(ca: &[u8]) -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .pool_max_idle_per_host(64)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).ok()?)
        .build()
        .ok()
}

struct Stats {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    count: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Closed loop: `connections` workers send back to back for `seconds`.
async fn saturate(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
    seconds: u64,
) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (client, url, bodies) = (client.clone(), url.to_string(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let body = bodies[i % bodies.len()].clone();
                i += connections;
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match ok {
                    Ok(resp) if resp.status().is_success() => {
                        let _ = resp.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => {}
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(l) = t.await {
            all.extend(l);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Stats {
        per_second: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        count: all.len(),
    }
}

/// Open loop: one request every `1/rate` seconds, spread over a few connections.
async fn paced(
    client: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: u64,
    seconds: u64,
) -> Stats {
    let total = rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..total as usize {
        ticker.tick().await;
        let (client, url, body) = (
            client.clone(),
            url.to_string(),
            bodies[i % bodies.len()].clone(),
        );
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(resp) if resp.status().is_success() => {
                    let _ = resp.bytes().await;
                    Some(t.elapsed())
                }
                _ => None,
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        if let Ok(Some(l)) = t.await {
            all.push(l);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Stats {
        per_second: all.len() as f64 / elapsed,
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        count: all.len(),
    }
}

fn show(name: &str, s: &Stats) {
    show_cpu(name, s, None);
}

/// One result line; `cpu` is the server's CPU time per request in µs, when measured.
fn show_cpu(name: &str, s: &Stats, cpu: Option<f64>) {
    let cpu = cpu
        .map(|c| format!("   server CPU {c:>5.0} µs/request"))
        .unwrap_or_default();
    println!(
        "{name:<28} {:>9.0} reviews/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} requests){cpu}",
        s.per_second,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        s.count
    );
}

async fn run(quick: bool) {
    let seconds = if quick {
        1
    } else {
        env_u64("GKO_BENCH_SECONDS", 2)
    };
    let connections = env_u64("GKO_BENCH_CONNECTIONS", 16) as usize;
    let Ok(dir) = tempfile::tempdir() else { return };
    if write_fixture(dir.path()).is_err() {
        eprintln!("cannot write the fixture");
        return;
    }
    let (port, probe, echo_port) = (free_port(), free_port(), free_port());
    let certs = dir.path().join("certs");
    let gko = Command::new(env!("CARGO_BIN_EXE_gko"))
        .args([
            "serve",
            "--self-signed",
            "--self-signed-san",
            "127.0.0.1",
            "--log",
            "warn",
        ])
        .arg("--cert-dir")
        .arg(&certs)
        .arg("--manifests")
        .arg(dir.path().join("cluster.yaml"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--probe-listen",
            &format!("127.0.0.1:{probe}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(gko) = gko.map(Proc) else {
        eprintln!("cannot start gko serve");
        return;
    };
    let echo_dir = dir.path().join("echo");
    let echo = Command::new(std::env::current_exe().unwrap_or_default())
        .env(ECHO_ENV, &echo_dir)
        .env("GKO_BENCH_ECHO_PORT", echo_port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Proc);
    let Ok(echo) = echo else { return };
    wait_port(port).await;
    wait_port(echo_port).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(gko.0.id());

    let (Ok(ca), Ok(echo_ca)) = (
        std::fs::read(certs.join("ca.crt")),
        std::fs::read(echo_dir.join("ca.crt")),
    ) else {
        eprintln!("certificates not written");
        return;
    };
    let (Some(webhook), Some(bare)) = (client(&ca), client(&echo_ca)) else {
        return;
    };
    let validate_bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64)
            .map(|i| serde_json::to_vec(&review("CREATE", realistic_api(i), i)).unwrap_or_default())
            .collect(),
    );
    let body_size = validate_bodies[0].len();
    let base = format!("https://127.0.0.1:{port}");
    let echo_url = format!("https://127.0.0.1:{echo_port}/echo");

    // Warm up connections and caches.
    saturate(
        &webhook,
        &format!("{base}/validate"),
        validate_bodies.clone(),
        connections,
        1,
    )
    .await;
    saturate(&bare, &echo_url, validate_bodies.clone(), connections, 1).await;

    println!("gko webhook benchmark: {connections} keep-alive connections, {seconds}s per run, review body {body_size} bytes, 200 other APIs in the namespace");
    // The machine's speed drifts over a run (other processes, CPU frequency): validate and the bare
    // endpoint alternate, round after round; each round's ratio compares two runs made seconds
    // apart, and the median of those ratios is the figure (the medians of each are shown too).
    let rounds = if quick {
        1
    } else {
        env_u64("GKO_BENCH_ROUNDS", 5)
    };
    let (mut vs, mut es, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (v, cpu) = measured(
            gko.0.id(),
            saturate(
                &webhook,
                &format!("{base}/validate"),
                validate_bodies.clone(),
                connections,
                seconds,
            ),
        )
        .await;
        show_cpu(&format!("validate (saturated) #{round}"), &v, cpu);
        let (e, cpu) = measured(
            echo.0.id(),
            saturate(
                &bare,
                &echo_url,
                validate_bodies.clone(),
                connections,
                seconds,
            ),
        )
        .await;
        show_cpu(&format!("bare TLS echo #{round}"), &e, cpu);
        if e.per_second > 0.0 {
            ratios.push(v.per_second / e.per_second);
        }
        vs.push(v);
        es.push(e);
    }
    ratios.sort_by(f64::total_cmp);
    let by_rate = |a: &Stats, b: &Stats| a.per_second.total_cmp(&b.per_second);
    vs.sort_by(by_rate);
    es.sort_by(by_rate);
    let (v, e) = (&vs[vs.len() / 2], &es[es.len() / 2]);
    show("validate (median)", v);
    show("bare TLS echo (median)", e);
    let (m, cpu) = measured(
        gko.0.id(),
        saturate(
            &webhook,
            &format!("{base}/mutate"),
            validate_bodies.clone(),
            connections,
            seconds,
        ),
    )
    .await;
    show_cpu("mutate (saturated)", &m, cpu);
    let p = paced(
        &webhook,
        &format!("{base}/validate"),
        validate_bodies.clone(),
        1000,
        seconds,
    )
    .await;
    show("validate paced at 1000/s", &p);
    let v4_bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..64)
            .map(|i| {
                let api = v4_api::realistic_api_v4(i);
                serde_json::to_vec(&review("CREATE", api, i)).unwrap_or_default()
            })
            .collect(),
    );
    for path in ["validate", "mutate"] {
        let url = format!("{base}/{path}");
        let (s, cpu) = measured(
            gko.0.id(),
            saturate(&webhook, &url, v4_bodies.clone(), connections, seconds),
        )
        .await;
        show_cpu(&format!("v4 {path} (saturated)"), &s, cpu);
    }
    let loaded_rss = rss_kib(gko.0.id());
    if let (Some(median), Some(low), Some(high)) =
        (ratios.get(ratios.len() / 2), ratios.first(), ratios.last())
    {
        println!(
            "validate throughput = {:.0}% of the bare endpoint (median of the rounds' ratios; rounds {:.0}–{:.0}%; ratio of the medians {:.0}%)",
            100.0 * median,
            100.0 * low,
            100.0 * high,
            100.0 * v.per_second / e.per_second.max(1.0)
        );
    }
    match (idle_rss, loaded_rss) {
        (Some(i), Some(l)) => println!(
            "gko serve RSS: idle {:.1} MB, after load {:.1} MB",
            i as f64 / 1024.0,
            l as f64 / 1024.0
        ),
        _ => println!("gko serve RSS: not readable"),
    }
    println!("targets: >= 5000 validating reviews/s; p99 <= 5 ms at 1000/s; >= 50% of bare; idle RSS <= 30 MB");
}
