//! The webhook server's deadlines and limits, over real TLS: a review whose references cannot be
//! read is answered within its budget with gko's message; slowloris connections are cut by the
//! header timeout; a connection flood beyond the limit does not stop reviews on the API server's
//! established connection; reviews beyond the in-flight limit are refused at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use gko::admission::lookup::{Lookup, ResolveError, Resolver};
use gko::admission::{DocRequest, Engine, Settings};
use gko::manifests::ManifestSet;
use gko::server::{self, AppState, ServerLimits};
use gko::telemetry::Metrics;
use gko::tls;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A resolver whose live reads never finish (an API server that stopped answering).
struct NeverAnswers;

impl Resolver for NeverAnswers {
    fn resolve<'a>(
        &'a self,
        _req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>> {
        Box::pin(futures::future::pending())
    }
    fn is_ready(&self) -> bool {
        true
    }
}

/// A resolver that answers after a while, to keep reviews in flight.
struct Slow(Duration);

impl Resolver for Slow {
    fn resolve<'a>(
        &'a self,
        _req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>> {
        let wait = self.0;
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            Ok(Arc::new(ManifestSet::new()) as Arc<dyn Lookup>)
        })
    }
    fn is_ready(&self) -> bool {
        true
    }
}

struct Running {
    addr: std::net::SocketAddr,
    base: String,
    ca_pem: Vec<u8>,
    metrics: Arc<Metrics>,
    _stop: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

async fn start(resolver: Arc<dyn Resolver>, limits: ServerLimits, budget: Duration) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = tls::self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()])
        .expect("certificates");
    let ca_pem = std::fs::read(&generated.ca).expect("ca");
    let reloader = tls::CertReloader::load(generated.files).expect("load");
    let config = tls::server_config(reloader.cert.clone()).expect("tls config");
    let metrics = Arc::new(Metrics::new());
    let state = AppState::with_budget(
        Engine::new(Settings::default()),
        resolver,
        metrics.clone(),
        None,
        budget,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(server::serve_tls_bounded(
        listener,
        config,
        server::webhook_router(state),
        stop.clone(),
        Duration::from_secs(1),
        limits,
        metrics.clone(),
    ));
    Running {
        addr,
        base: format!("https://localhost:{}", addr.port()),
        ca_pem,
        metrics,
        _stop: stop.drop_guard(),
        _dir: dir,
    }
}

impl Running {
    fn client(&self, http1: bool) -> reqwest::Client {
        let builder = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).expect("ca pem"))
            .pool_max_idle_per_host(1);
        let builder = if http1 { builder.http1_only() } else { builder };
        builder.build().expect("client")
    }

    fn metric(&self, line_start: &str) -> u64 {
        let text = self.metrics.render();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn api_review(uid: &str) -> Value {
    json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": {"group": "gravitee.io", "version": "v1alpha1", "kind": "ApiDefinition"},
            "name": "orders", "namespace": "team", "operation": "CREATE",
            "object": {
                "apiVersion": "gravitee.io/v1alpha1", "kind": "ApiDefinition",
                "metadata": {"name": "orders", "namespace": "team"},
                "spec": {"name": "orders", "version": "1", "description": "d",
                         "contextRef": {"name": "dev"},
                         "resources": [{"ref": {"name": "cache"}}],
                         "plans": [{"name": "free", "description": "free", "security": "KEY_LESS"}],
                         "proxy": {"virtual_hosts": [{"path": "/orders"}],
                                   "groups": [{"name": "g", "endpoints": [{"name": "e", "target": "https://b.example"}]}]}}
            }
        }
    })
}

#[tokio::test]
async fn a_review_with_an_unreachable_reference_answers_within_budget_naming_it() {
    let budget = gko::admission::budget::budget_for(Duration::from_secs(1));
    let s = start(Arc::new(NeverAnswers), ServerLimits::default(), budget).await;
    let client = s.client(false);
    let started = Instant::now();
    let answer: Value = client
        .post(format!("{}/validate", s.base))
        .json(&api_review("unreachable"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let took = started.elapsed();
    println!("review with an unreachable reference answered in {took:?} (budget {budget:?}, webhook timeout 1s)");
    assert!(took >= budget, "{took:?}");
    assert!(
        took < Duration::from_secs(1),
        "answered before the API server's timeout: {took:?}"
    );
    let r = &answer["response"];
    assert_eq!(r["uid"], "unreachable");
    assert_eq!(r["allowed"], false);
    let message = r["status"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ApiDefinition team/orders: gko could not read ManagementContext team/dev, ApiResource team/cache within its 800ms review budget"),
        "{message}"
    );
    assert_eq!(
        s.metric("gko_admission_review_budget_exceeded_total{stage=\"resolve\"}"),
        1
    );
}

/// Opens a TLS connection and sends the first bytes of a request, then one header byte at a time.
async fn slowloris(
    addr: std::net::SocketAddr,
    ca_pem: Vec<u8>,
    cut: Arc<std::sync::atomic::AtomicUsize>,
) {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&ca_pem) {
        roots.add(cert.expect("cert")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let Ok(mut tls) = connector.connect(name, tcp).await else {
        return;
    };
    let _ = tls
        .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\n")
        .await;
    let started = Instant::now();
    let mut buf = [0u8; 64];
    while started.elapsed() < Duration::from_secs(10) {
        if tls.write_all(b"X").await.is_err() || tls.flush().await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            _ => {}
        }
    }
    if started.elapsed() < Duration::from_secs(10) {
        cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn slowloris_connections_are_cut_by_the_header_timeout() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let s = start(
        Arc::new(Slow(Duration::ZERO)),
        limits,
        Duration::from_secs(4),
    )
    .await;
    let cut = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| tokio::spawn(slowloris(s.addr, s.ca_pem.clone(), cut.clone())))
        .collect();
    // Meanwhile a normal client gets answers.
    let client = s.client(true);
    let answer = client
        .post(format!("{}/validate", s.base))
        .json(&api_review("normal"))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), 200);
    for t in tasks {
        t.await.expect("join");
    }
    let took = started.elapsed();
    let cut = cut.load(std::sync::atomic::Ordering::SeqCst);
    println!("slowloris: {cut}/100 connections cut, all within {took:?} (header timeout 1s)");
    assert_eq!(cut, 100);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(s.metric("gko_webhook_connections_closed_total{reason=\"header_timeout\"}") >= 100);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_survives_until_the_idle_timeout() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(1500),
        ..ServerLimits::default()
    };
    let s = start(
        Arc::new(Slow(Duration::ZERO)),
        limits,
        Duration::from_secs(4),
    )
    .await;
    let client = s.client(true);
    let post = || async {
        client
            .post(format!("{}/validate", s.base))
            .json(&api_review("idle"))
            .send()
            .await
            .expect("answered")
            .status()
    };
    assert_eq!(post().await, 200);
    // Idle for longer than the header timeout: the connection is reused, not cut.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(post().await, 200);
    assert_eq!(s.metric("gko_webhook_connections_closed_total"), 0);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        s.metric("gko_webhook_connections_closed_total{reason=\"idle_timeout\"}"),
        1
    );
    assert_eq!(post().await, 200);
}

#[tokio::test]
async fn a_flood_beyond_the_connection_limit_does_not_stop_reviews() {
    let limits = ServerLimits {
        max_connections: 20,
        header_read_timeout: Duration::from_secs(3),
        ..ServerLimits::default()
    };
    let s = start(
        Arc::new(Slow(Duration::ZERO)),
        limits,
        Duration::from_secs(4),
    )
    .await;
    // The API server's connection, established before the flood.
    let client = s.client(false);
    let post = |uid: String| {
        let client = client.clone();
        let url = format!("{}/validate", s.base);
        async move {
            client
                .post(url)
                .json(&api_review(&uid))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(post("before".into()).await, 200);
    let mut flood = Vec::new();
    for _ in 0..500 {
        if let Ok(c) = TcpStream::connect(s.addr).await {
            flood.push(c);
        }
    }
    let started = Instant::now();
    let mut answered = 0;
    for i in 0..50 {
        if post(format!("during-{i}")).await == 200 {
            answered += 1;
        }
    }
    let took = started.elapsed();
    let refused = s.metric("gko_webhook_connections_closed_total{reason=\"connection_limit\"}");
    println!("flood of {} connections: {refused} closed at once by the limit; {answered}/50 reviews answered on the established connection in {took:?}", flood.len());
    assert_eq!(answered, 50);
    assert!(refused >= 480, "{refused}");
    drop(flood);
}

#[tokio::test]
async fn reviews_beyond_the_in_flight_limit_are_refused_at_once() {
    let limits = ServerLimits {
        max_in_flight: 2,
        ..ServerLimits::default()
    };
    let s = start(
        Arc::new(Slow(Duration::from_millis(800))),
        limits,
        Duration::from_secs(4),
    )
    .await;
    let client = s.client(false);
    let url = format!("{}/validate", s.base);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let status = client
                .post(url)
                .json(&api_review(&format!("r{i}")))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            (status, started.elapsed())
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        let (status, took) = t.await.expect("join");
        match status {
            200 => ok += 1,
            429 => {
                refused += 1;
                assert!(
                    took < Duration::from_millis(500),
                    "refused at once: {took:?}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, refused), (2, 4));
    assert_eq!(
        s.metric("gko_webhook_requests_refused_total{reason=\"in_flight_limit\"}"),
        4
    );
}
