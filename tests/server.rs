//! The HTTPS webhook server, tested over real TLS with AdmissionReview JSON as the API server
//! sends it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use gko::admission::lookup::{Lookup, ResolveError, Resolver, StaticResolver};
use gko::admission::review::ADMISSION_API_VERSION;
use gko::admission::{DocRequest, Engine, Settings};
use gko::crd::Kind;
use gko::manifests::ManifestSet;
use gko::server::{self, AppState};
use gko::telemetry::Metrics;
use gko::tls::{self, CertFiles, CertReloader};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[path = "support/fixtures.rs"]
mod fixtures;

struct Running {
    base: String,
    probes: String,
    client: reqwest::Client,
    ca_pem: Vec<u8>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

fn cluster() -> ManifestSet {
    let mut set = ManifestSet::new();
    set.insert("team", &fixtures::context_named("team", "dev"));
    set.insert("team", &api_object("in-use", "/in-use"));
    set
}

/// The fixture API as `team/name` on `path`, pushed to context `dev` (a reference without a
/// namespace, which the mutating webhook fills in), with the metadata the API server adds.
fn api_object(name: &str, path: &str) -> Value {
    let api = fixtures::other_api("team", name, path);
    let api = fixtures::without(api, "/spec/local");
    let api = fixtures::with(api, "/spec/contextRef", json!({"name": "dev"}));
    let mut api = fixtures::with(api, "/spec/name", json!(name));
    api["metadata"]["uid"] = json!("6f2c1c3e-0000-4000-8000-000000000001");
    api["metadata"]["generation"] = json!(1);
    api["metadata"]["creationTimestamp"] = json!("2026-11-21T00:00:00Z");
    api
}

/// An AdmissionReview with every field the API server sends.
fn review(
    uid: &str,
    operation: &str,
    kind: &str,
    name: &str,
    object: Value,
    old: Value,
    dry_run: bool,
) -> Value {
    let plural = Kind::from_kind(kind)
        .map(|k| k.plural())
        .unwrap_or("unknown");
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": uid,
            "kind": {"group": "gravitee.io", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "gravitee.io", "version": "v1alpha1", "resource": plural},
            "requestKind": {"group": "gravitee.io", "version": "v1alpha1", "kind": kind},
            "requestResource": {"group": "gravitee.io", "version": "v1alpha1", "resource": plural},
            "name": name,
            "namespace": "team",
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": dry_run,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-client-side-apply"}
        }
    })
}

async fn start_with(resolver: Arc<dyn Resolver>) -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = tls::self_signed(dir.path(), &["localhost".into(), "127.0.0.1".into()])
        .expect("certificates");
    let ca_pem = std::fs::read(&generated.ca).expect("ca");
    let reloader = Arc::new(CertReloader::load(generated.files).expect("load"));
    let config = tls::server_config(reloader.cert.clone()).expect("tls config");
    let metrics = Arc::new(Metrics::new());
    let state = AppState::new(Engine::new(Settings::default()), resolver, metrics);
    state
        .tls_ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let webhook = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let probes = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!(
        "https://localhost:{}",
        webhook.local_addr().expect("addr").port()
    );
    let probes_url = format!(
        "http://127.0.0.1:{}",
        probes.local_addr().expect("addr").port()
    );
    let stop = CancellationToken::new();
    tokio::spawn(server::serve_plain(
        probes,
        server::probe_router(state.clone()),
        stop.clone(),
    ));
    let done = tokio::spawn(server::serve_tls(
        webhook,
        config,
        server::webhook_router(state),
        stop.clone(),
        Duration::from_secs(5),
    ));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca_pem).expect("ca pem"))
        .build()
        .expect("client");
    Running {
        base,
        probes: probes_url,
        client,
        ca_pem,
        stop,
        done,
        _dir: dir,
    }
}

async fn start() -> Running {
    start_with(Arc::new(StaticResolver(Arc::new(cluster())))).await
}

impl Running {
    async fn post(&self, path: &str, body: &Value) -> Value {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "HTTP status");
        resp.json().await.expect("JSON answer")
    }
}

fn response(answer: &Value) -> &Value {
    assert_eq!(answer["apiVersion"], ADMISSION_API_VERSION);
    assert_eq!(answer["kind"], "AdmissionReview");
    &answer["response"]
}

#[tokio::test]
async fn validate_allows_a_good_api_and_echoes_the_uid() {
    let s = start().await;
    let body = review(
        "uid-1",
        "CREATE",
        "ApiDefinition",
        "good",
        api_object("good", "/good"),
        Value::Null,
        false,
    );
    let answer = s.post("/validate", &body).await;
    let r = response(&answer);
    assert_eq!(r["uid"], "uid-1");
    assert_eq!(r["allowed"], true);
    assert!(r.get("status").is_none());
}

#[tokio::test]
async fn validate_denies_with_403_and_a_message_naming_object_and_field() {
    let s = start().await;
    let mut obj = api_object("bad", "/bad");
    obj["spec"]["plans"][0]["security"] = json!("KEYLESS");
    let answer = s
        .post(
            "/validate",
            &review(
                "uid-2",
                "CREATE",
                "ApiDefinition",
                "bad",
                obj,
                Value::Null,
                false,
            ),
        )
        .await;
    let r = response(&answer);
    assert_eq!(r["uid"], "uid-2");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["message"],
        "ApiDefinition team/bad: spec.plans[0].security: \"KEYLESS\" is not a known plan security type (did you mean KEY_LESS?); use one of KEY_LESS, API_KEY, OAUTH2, JWT"
    );
}

#[tokio::test]
async fn dry_run_gets_the_same_answer() {
    let s = start().await;
    let obj = api_object("clash", "/in-use/sub");
    let wet = s
        .post(
            "/validate",
            &review(
                "u",
                "CREATE",
                "ApiDefinition",
                "clash",
                obj.clone(),
                Value::Null,
                false,
            ),
        )
        .await;
    let dry = s
        .post(
            "/validate",
            &review(
                "u",
                "CREATE",
                "ApiDefinition",
                "clash",
                obj,
                Value::Null,
                true,
            ),
        )
        .await;
    assert_eq!(wet, dry);
    assert_eq!(wet["response"]["allowed"], false);
}

#[tokio::test]
async fn mutation_is_a_base64_json_patch_that_applies_and_is_idempotent() {
    let s = start().await;
    let mut obj = api_object("m", "m/");
    obj["spec"]["proxy"]["virtual_hosts"][0]["path"] = json!("m/");
    let answer = s
        .post(
            "/mutate",
            &review(
                "uid-m",
                "CREATE",
                "ApiDefinition",
                "m",
                obj.clone(),
                Value::Null,
                false,
            ),
        )
        .await;
    let r = response(&answer);
    assert_eq!(r["uid"], "uid-m");
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let encoded = r["patch"]
        .as_str()
        .expect("patch is a base64 string, not an array of numbers");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let ops: json_patch::Patch = serde_json::from_slice(&bytes).expect("RFC 6902 array");
    let mut patched = obj.clone();
    json_patch::patch(&mut patched, &ops).expect("applies cleanly to the original");
    assert_eq!(patched["spec"]["state"], "STARTED");
    assert_eq!(patched["spec"]["contextRef"]["namespace"], "team");
    assert_eq!(patched["spec"]["proxy"]["virtual_hosts"][0]["path"], "/m");
    assert_eq!(
        patched["spec"]["proxy"]["groups"][0]["endpoints"][0]["type"],
        "http"
    );
    // The result is valid against the CRD schema.
    let mut verdict = gko::admission::Verdict::default();
    gko::admission::schema::check_value(Kind::ApiDefinition, &patched, &mut verdict);
    assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
    // Mutating the mutated object gives no patch.
    let again = s
        .post(
            "/mutate",
            &review(
                "uid-m2",
                "UPDATE",
                "ApiDefinition",
                "m",
                patched.clone(),
                patched,
                false,
            ),
        )
        .await;
    assert_eq!(again["response"]["allowed"], true);
    assert!(again["response"].get("patch").is_none());
    assert!(again["response"].get("patchType").is_none());
}

#[tokio::test]
async fn delete_carries_old_object_only() {
    let s = start().await;
    let ctx = json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext", "metadata": {"name": "dev", "namespace": "team"}, "spec": {}});
    let answer = s
        .post(
            "/validate",
            &review(
                "uid-d",
                "DELETE",
                "ManagementContext",
                "dev",
                Value::Null,
                ctx.clone(),
                false,
            ),
        )
        .await;
    let r = response(&answer);
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(
        r["status"]["message"],
        "ManagementContext team/dev: metadata.name: the context is still used by 1 ApiDefinition (team/in-use); delete those ApiDefinitions or point their spec.contextRef to another context first"
    );
    let mut unused = ctx;
    unused["metadata"]["name"] = json!("unused");
    let answer = s
        .post(
            "/validate",
            &review(
                "uid-d2",
                "DELETE",
                "ManagementContext",
                "unused",
                Value::Null,
                unused,
                false,
            ),
        )
        .await;
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test]
async fn update_checks_the_new_object_and_tolerates_an_unchanged_spec() {
    let s = start().await;
    let old = api_object("u", "/u");
    let mut new = old.clone();
    new["spec"]["proxy"]["virtual_hosts"][0]["path"] = json!("/in-use");
    let answer = s
        .post(
            "/validate",
            &review("uid-u", "UPDATE", "ApiDefinition", "u", new, old, false),
        )
        .await;
    assert_eq!(answer["response"]["allowed"], false);
    // An object admitted before a rule existed can still get labels or finalizers.
    let mut clash = api_object("u", "/in-use");
    let old = clash.clone();
    clash["metadata"]["labels"] = json!({"team": "a"});
    let answer = s
        .post(
            "/validate",
            &review("uid-u2", "UPDATE", "ApiDefinition", "u", clash, old, false),
        )
        .await;
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"]["warnings"][0]
        .as_str()
        .is_some_and(|w| w.contains("the spec is unchanged")));
}

#[tokio::test]
async fn unknown_kind_is_denied_with_a_clear_message() {
    let s = start().await;
    let mut body = review(
        "uid-k",
        "CREATE",
        "Deployment",
        "d",
        json!({"metadata": {"name": "d"}}),
        Value::Null,
        false,
    );
    body["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let answer = s.post("/validate", &body).await;
    let r = response(&answer);
    assert_eq!(r["uid"], "uid-k");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 400);
    assert!(r["status"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("gko does not handle apps/v1 Deployment")));
}

#[tokio::test]
async fn bad_input_is_refused_without_a_panic() {
    let s = start().await;
    let post_raw = |body: Vec<u8>| {
        s.client
            .post(format!("{}/validate", s.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = post_raw(b"not json".to_vec()).await.expect("request");
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap_or_default().contains("not JSON"));
    let resp = post_raw(br#"{"kind": "Pod"}"#.to_vec())
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .contains("not an admission.k8s.io/v1 AdmissionReview"));
    let v1beta1 = json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}});
    let resp = post_raw(serde_json::to_vec(&v1beta1).unwrap_or_default())
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let big = vec![b' '; 9 * 1024 * 1024];
    let resp = post_raw(big).await.expect("request");
    assert_eq!(resp.status(), 413);
    // The server still answers afterwards.
    let ok = s
        .post(
            "/validate",
            &review(
                "after",
                "CREATE",
                "ApiDefinition",
                "a",
                api_object("a", "/a"),
                Value::Null,
                false,
            ),
        )
        .await;
    assert_eq!(ok["response"]["uid"], "after");
}

async fn metrics_text(client: &reqwest::Client, probes: &str) -> String {
    client
        .get(format!("{probes}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn probes_and_metrics() {
    let s = start().await;
    let plain = reqwest::Client::new();
    let health = plain
        .get(format!("{}/healthz", s.probes))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = plain
        .get(format!("{}/readyz", s.probes))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    s.post(
        "/validate",
        &review(
            "m1",
            "CREATE",
            "ApiDefinition",
            "a",
            api_object("a", "/a"),
            Value::Null,
            false,
        ),
    )
    .await;
    let text = metrics_text(&plain, &s.probes).await;
    assert!(text.contains(
        "gko_admission_reviews_total{webhook=\"validate\",kind=\"ApiDefinition\",operation=\"CREATE\",outcome=\"allowed\"} 1"
    ), "{text}");
    assert!(
        text.contains("gko_admission_review_duration_seconds_count{webhook=\"validate\"} 1"),
        "{text}"
    );

    // Every violation and warning is counted by its rule id and effect.
    let mut broken = api_object("b", "/b");
    broken["spec"]["plans"] = json!([]);
    broken["spec"]["description"] = json!("");
    s.post(
        "/validate",
        &review(
            "m3",
            "CREATE",
            "ApiDefinition",
            "b",
            broken,
            Value::Null,
            false,
        ),
    )
    .await;
    let text = metrics_text(&plain, &s.probes).await;
    for line in [
        "gko_admission_violations_total{rule=\"api-plans-missing\",effect=\"deny\"} 1",
        "gko_admission_violations_total{rule=\"api-description-missing\",effect=\"warn\"} 1",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }

    // A kind or operation gko does not know is counted as `unknown`, never copied from the
    // request (a client must not be able to grow the label set).
    s.post(
        "/validate",
        &review(
            "m2",
            "SHRED",
            "Widget",
            "w",
            api_object("w", "/w"),
            Value::Null,
            false,
        ),
    )
    .await;
    let text = metrics_text(&plain, &s.probes).await;
    assert!(text.contains(
        "gko_admission_reviews_total{webhook=\"validate\",kind=\"unknown\",operation=\"unknown\",outcome=\"denied\"} 1"
    ), "{text}");
    assert!(
        !text.contains("Widget") && !text.contains("SHRED"),
        "{text}"
    );
}

/// A resolver whose caches never sync: the webhook must report not ready, not deny.
struct NeverReady;

impl Resolver for NeverReady {
    fn resolve<'a>(
        &'a self,
        _req: &'a DocRequest<'a>,
    ) -> BoxFuture<'a, Result<Arc<dyn Lookup>, ResolveError>> {
        Box::pin(async { Ok(Arc::new(ManifestSet::new()) as Arc<dyn Lookup>) })
    }
    fn is_ready(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn readyz_fails_until_caches_sync() {
    let s = start_with(Arc::new(NeverReady)).await;
    let resp = reqwest::get(format!("{}/readyz", s.probes))
        .await
        .expect("readyz");
    assert_eq!(resp.status(), 503);
    assert!(resp
        .text()
        .await
        .unwrap_or_default()
        .contains("caches synced=false"));
}

/// A resolver that takes its time, to have a review in flight during shutdown.
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

#[tokio::test]
async fn shutdown_finishes_in_flight_reviews_then_stops_accepting() {
    let s = start_with(Arc::new(Slow(Duration::from_millis(600)))).await;
    let client = s.client.clone();
    let url = format!("{}/validate", s.base);
    let mut obj = api_object("slow", "/slow");
    obj["spec"]["local"] = json!(true);
    obj["spec"].as_object_mut().map(|m| m.remove("contextRef"));
    let body = review(
        "in-flight",
        "CREATE",
        "ApiDefinition",
        "slow",
        obj,
        Value::Null,
        false,
    );
    let in_flight = tokio::spawn(async move { client.post(url).json(&body).send().await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    s.stop.cancel();
    let answer = in_flight
        .await
        .expect("join")
        .expect("in-flight review answered");
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.expect("json");
    assert_eq!(answer["response"]["uid"], "in-flight");
    tokio::time::timeout(Duration::from_secs(5), s.done)
        .await
        .expect("server stops within the bound")
        .expect("join");
    assert!(started.elapsed() < Duration::from_secs(5));
    let fresh = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&s.ca_pem).expect("pem"))
        .build()
        .expect("client");
    assert!(
        fresh
            .get(format!("{}/validate", s.base))
            .send()
            .await
            .is_err(),
        "no longer accepting"
    );
}

// ---- TLS ----

fn client_config(
    ca_pem: &[u8],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.expect("ca cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn handshake(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(rustls::ProtocolVersion, Vec<u8>), std::io::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await?;
    let (_, conn) = tls.get_ref();
    let version = conn.protocol_version().expect("negotiated");
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default();
    Ok((version, leaf))
}

#[tokio::test]
async fn tls13_is_preferred_and_tls12_still_works() {
    let s = start().await;
    let addr = s
        .base
        .trim_start_matches("https://")
        .replace("localhost", "127.0.0.1");
    let (v, _) = handshake(
        &addr,
        client_config(
            &s.ca_pem,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        ),
    )
    .await
    .expect("handshake");
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
    let (v, _) = handshake(&addr, client_config(&s.ca_pem, &[&rustls::version::TLS12]))
        .await
        .expect("TLS 1.2 handshake");
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
}

/// Lays out a folder the way the kubelet mounts a Secret: `..data` points to a timestamped folder,
/// and `tls.crt` / `tls.key` point into `..data`.
fn kubelet_layout(root: &Path, generation: &str, from: &Path) {
    let data = root.join(generation);
    std::fs::create_dir_all(&data).expect("mkdir");
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::copy(from.join(f), data.join(f)).expect("copy");
    }
    let tmp = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(generation, &tmp).expect("symlink");
    std::fs::rename(&tmp, root.join("..data")).expect("atomic swap");
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        let link = root.join(f);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), &link).expect("symlink");
        }
    }
}

#[tokio::test]
async fn certificate_is_reloaded_when_the_secret_symlink_is_swapped() {
    let root = tempfile::tempdir().expect("dir");
    let first = tempfile::tempdir().expect("dir");
    let second = tempfile::tempdir().expect("dir");
    let names = ["localhost".to_string()];
    tls::self_signed(first.path(), &names).expect("first");
    tls::self_signed(second.path(), &names).expect("second");
    kubelet_layout(root.path(), "..2026_11_21_00_00_00.1", first.path());

    let files = CertFiles {
        cert: root.path().join("tls.crt"),
        key: root.path().join("tls.key"),
    };
    let reloader = Arc::new(CertReloader::load(files).expect("load"));
    let stop = CancellationToken::new();
    reloader
        .clone()
        .spawn(Duration::from_millis(50), || {}, stop.clone());
    let config = tls::server_config(reloader.cert.clone()).expect("config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let state = AppState::new(
        Engine::default(),
        Arc::new(StaticResolver(Arc::new(ManifestSet::new()))),
        Arc::new(Metrics::new()),
    );
    tokio::spawn(server::serve_tls(
        listener,
        config,
        server::webhook_router(state),
        stop.clone(),
        Duration::from_secs(1),
    ));

    let ca1 = std::fs::read(first.path().join("ca.crt")).expect("ca1");
    let ca2 = std::fs::read(second.path().join("ca.crt")).expect("ca2");
    let all = |v: &[&'static rustls::SupportedProtocolVersion]| v.to_vec();
    let versions = all(&[&rustls::version::TLS13]);
    handshake(&addr, client_config(&ca1, &versions))
        .await
        .expect("first certificate served");

    // A half-written update (garbage key) is ignored: the old certificate keeps being served.
    let broken = tempfile::tempdir().expect("dir");
    for f in ["tls.crt", "ca.crt"] {
        std::fs::copy(second.path().join(f), broken.path().join(f)).expect("copy");
    }
    std::fs::write(
        broken.path().join("tls.key"),
        "-----BEGIN PRIVATE KEY-----\nnope\n",
    )
    .expect("write");
    kubelet_layout(root.path(), "..2026_11_21_00_00_01.2", broken.path());
    tokio::time::sleep(Duration::from_millis(300)).await;
    handshake(&addr, client_config(&ca1, &versions))
        .await
        .expect("old certificate still served");

    kubelet_layout(root.path(), "..2026_11_21_00_00_02.3", second.path());
    let mut swapped = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if handshake(&addr, client_config(&ca2, &versions))
            .await
            .is_ok()
        {
            swapped = true;
            break;
        }
    }
    assert!(
        swapped,
        "the new certificate is served after the symlink swap, without restart"
    );
    assert!(
        handshake(&addr, client_config(&ca1, &versions))
            .await
            .is_err(),
        "the old one is gone"
    );
    stop.cancel();
}

/// A Gravitee Cloud token with these claims (the signature is never checked, as in GKO).
fn cloud_token(claims: Value) -> String {
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(claims)
    )
}

fn cloud_context(cloud: Value, environment_id: Option<&str>) -> Value {
    let mut spec = json!({"cloud": cloud});
    if let Some(env) = environment_id {
        spec["environmentId"] = json!(env);
    }
    json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
           "metadata": {"name": "cloud", "namespace": "team", "uid": "6f2c1c3e-0000-4000-8000-0000000000c1"},
           "spec": spec})
}

fn applied_patch(r: &Value, object: &Value) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().expect("a patch"))
        .expect("base64");
    let ops: json_patch::Patch = serde_json::from_slice(&bytes).expect("RFC 6902 array");
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &ops).expect("applies cleanly");
    patched
}

/// The manifests plus the value of one Secret key, as the cluster lookup knows it for one request.
struct WithSecret {
    set: ManifestSet,
    secret: (&'static str, &'static str, String),
}

impl Lookup for WithSecret {
    fn management_context(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<gko::crd::ManagementContext>> {
        self.set.management_context(namespace, name)
    }
    fn api_resource(&self, namespace: &str, name: &str) -> Option<Arc<gko::crd::ApiResource>> {
        self.set.api_resource(namespace, name)
    }
    fn secret_keys(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::collections::BTreeSet<String>> {
        self.set.secret_keys(namespace, name)
    }
    fn config_map_keys(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<std::collections::BTreeSet<String>> {
        self.set.config_map_keys(namespace, name)
    }
    fn config_map_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        self.set.config_map_value(namespace, name, key)
    }
    fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<String> {
        let (ns, n, value) = &self.secret;
        (namespace == *ns && name == *n && key == "cloudToken").then(|| value.clone())
    }
    fn api_entrypoints(
        &self,
        namespace: Option<&str>,
    ) -> std::borrow::Cow<'_, [gko::model::ApiEntrypoint]> {
        self.set.api_entrypoints(namespace)
    }
    fn context_users(
        &self,
        context: &gko::model::ObjectKey,
    ) -> Vec<(gko::crd::Kind, gko::model::ObjectKey)> {
        self.set.context_users(context)
    }
    fn resource_users(
        &self,
        resource: &gko::model::ObjectKey,
    ) -> Vec<(gko::crd::Kind, gko::model::ObjectKey)> {
        self.set.resource_users(resource)
    }
}

#[tokio::test]
async fn a_cloud_context_is_defaulted_from_its_inline_token() {
    let s = start().await;
    let token = cloud_token(json!({"org": "org-1", "envs": ["env-1"], "cpg": "eu"}));
    let obj = cloud_context(json!({"token": token}), None);
    let answer = s
        .post(
            "/mutate",
            &review(
                "c1",
                "CREATE",
                "ManagementContext",
                "cloud",
                obj.clone(),
                Value::Null,
                false,
            ),
        )
        .await;
    let r = response(&answer);
    assert_eq!(r["allowed"], true, "{r}");
    let patched = applied_patch(r, &obj);
    assert_eq!(
        patched["spec"],
        json!({"cloud": {"token": token}, "baseUrl": "https://eu.cloudgate.gravitee.io",
               "organizationId": "org-1", "environmentId": "env-1", "auth": {"bearerToken": token}})
    );
    // The defaulted context passes validation, and a second mutation changes nothing.
    let validated = s
        .post(
            "/validate",
            &review(
                "c2",
                "CREATE",
                "ManagementContext",
                "cloud",
                patched.clone(),
                Value::Null,
                false,
            ),
        )
        .await;
    assert_eq!(response(&validated)["allowed"], true, "{validated}");
    assert!(
        response(&validated).get("warnings").is_none(),
        "{validated}"
    );
    let again = s
        .post(
            "/mutate",
            &review(
                "c3",
                "UPDATE",
                "ManagementContext",
                "cloud",
                patched.clone(),
                patched,
                false,
            ),
        )
        .await;
    assert!(response(&again).get("patch").is_none(), "{again}");
}

#[tokio::test]
async fn a_cloud_context_is_defaulted_from_its_secret() {
    let mut set = cluster();
    set.insert(
        "team",
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloud-token", "namespace": "team"},
                "data": {"cloudToken": "eA=="}}),
    );
    let token = cloud_token(json!({"org": "org-1", "envs": ["env-1", "env-2"], "cpg": "us"}));
    let lookup = WithSecret {
        set,
        secret: ("team", "cloud-token", token),
    };
    let s = start_with(Arc::new(StaticResolver(Arc::new(lookup)))).await;
    let obj = cloud_context(json!({"secretRef": {"name": "cloud-token"}}), Some("env-2"));
    let answer = s
        .post(
            "/mutate",
            &review(
                "c4",
                "CREATE",
                "ManagementContext",
                "cloud",
                obj.clone(),
                Value::Null,
                false,
            ),
        )
        .await;
    let r = response(&answer);
    assert_eq!(r["allowed"], true, "{r}");
    let patched = applied_patch(r, &obj);
    assert_eq!(
        patched["spec"]["baseUrl"],
        "https://us.cloudgate.gravitee.io"
    );
    assert_eq!(patched["spec"]["organizationId"], "org-1");
    assert_eq!(patched["spec"]["environmentId"], "env-2");
    assert_eq!(
        patched["spec"]["auth"],
        json!({"secretRef": {"name": "cloud-token", "namespace": "team"}})
    );
    assert_eq!(patched["spec"]["cloud"]["secretRef"]["namespace"], "team");
    let validated = s
        .post(
            "/validate",
            &review(
                "c6",
                "CREATE",
                "ManagementContext",
                "cloud",
                patched,
                Value::Null,
                false,
            ),
        )
        .await;
    assert_eq!(response(&validated)["allowed"], true, "{validated}");
    assert!(
        response(&validated).get("warnings").is_none(),
        "{validated}"
    );
}

#[tokio::test]
async fn a_malformed_cloud_token_is_denied_by_the_mutating_webhook() {
    let s = start().await;
    let several = cloud_token(json!({"org": "o", "envs": ["a", "b"], "cpg": "eu"}));
    for (token, env, message) in [
        ("not-a-jwt".to_string(), None, "ManagementContext team/cloud: spec.cloud: the cloud token is not a JWT (it is not three dot-separated parts); paste the token Gravitee Cloud gave you, as is"),
        (cloud_token(json!({"org": "o", "cpg": "eu"})), None, "ManagementContext team/cloud: spec.cloud: the cloud token has no `envs` claim; is it a Gravitee Cloud token?"),
        (several.clone(), None, "ManagementContext team/cloud: spec.environmentId: the cloud token lists 2 environments (a, b); set spec.environmentId to one of them"),
        (several, Some("c"), "ManagementContext team/cloud: spec.environmentId: the cloud token does not list environment \"c\"; set spec.environmentId to one of: a, b"),
    ] {
        let obj = cloud_context(json!({"token": token}), env);
        let answer = s
            .post("/mutate", &review("c5", "CREATE", "ManagementContext", "cloud", obj, Value::Null, false))
            .await;
        let r = response(&answer);
        assert_eq!(r["allowed"], false, "{r}");
        assert_eq!(r["status"]["code"], 403);
        assert_eq!(r["status"]["message"], message);
    }
}
