//! certs-tool against a real API server (the project's envtest):
//!
//! ```sh
//! /work/shared/envtest/up.sh target/envtest --owner-pid $$ && source target/envtest/env
//! cargo test -p certs-tool --test envtest
//! /work/shared/envtest/down.sh target/envtest
//! ```
//!
//! Without KUBECONFIG every test prints "skipped: KUBECONFIG not set" and passes. Each test works
//! in its own namespace with its own webhook configurations, so they run in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use certs_tool::{parse_pem_bundle, CertInfo};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

const BIN: &str = env!("CARGO_BIN_EXE_certs-tool");

/// A suffix so the tests can run again against the same cluster.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}", (nanos / 1000) % 0xffffff)
}

fn skip() -> bool {
    if std::env::var_os("KUBECONFIG").is_none() {
        println!(
            "skipped: KUBECONFIG not set (start /work/shared/envtest/up.sh and source its env)"
        );
        return true;
    }
    false
}

async fn client() -> Client {
    Client::try_default()
        .await
        .expect("kube client from KUBECONFIG")
}

/// A namespace plus a ValidatingWebhookConfiguration (two webhooks) and a
/// MutatingWebhookConfiguration (one webhook), all named after `prefix`, url clientConfig.
struct Fixture {
    client: Client,
    ns: String,
    validating: String,
    mutating: String,
}

impl Fixture {
    async fn new(prefix: &str) -> Fixture {
        let client = client().await;
        let prefix = format!("{prefix}-{}", run_id());
        let ns = format!("{prefix}-ns");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap(),
            )
            .await
            .expect("create namespace");
        let validating = format!("{prefix}-validating");
        let mutating = format!("{prefix}-mutating");
        let rule = serde_json::json!([{"apiGroups": ["certs-tool.test"], "apiVersions": ["v1"],
            "operations": ["CREATE"], "resources": ["nothings"]}]);
        let webhook = |name: &str, path: &str| {
            serde_json::json!({
                "name": name,
                "clientConfig": {"url": format!("https://127.0.0.1:1/{path}")},
                "rules": rule,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 3,
            })
        };
        let v: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
            "metadata": {"name": validating, "labels": {"keep": "me"}},
            "webhooks": [webhook("a.certs-tool.test", "a"), webhook("b.certs-tool.test", "b")],
        }))
        .unwrap();
        let m: MutatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
            "metadata": {"name": mutating},
            "webhooks": [webhook("m.certs-tool.test", "m")],
        }))
        .unwrap();
        Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &v)
            .await
            .expect("create validating config");
        Api::<MutatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &m)
            .await
            .expect("create mutating config");
        Fixture {
            client,
            ns,
            validating,
            mutating,
        }
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "--service",
            "gko-webhook",
            "--namespace",
            &self.ns,
            "--secret",
            "gko-webhook-cert",
            "--webhook-config",
            &self.validating,
            "--webhook-config",
            &self.mutating,
            "--extra-san",
            "127.0.0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    async fn secret(&self) -> Secret {
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get("gko-webhook-cert")
            .await
            .expect("get Secret")
    }

    async fn material(&self) -> BTreeMap<String, String> {
        self.secret()
            .await
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect()
    }

    /// resourceVersions of the Secret and both configurations.
    async fn versions(&self) -> [String; 3] {
        let v = Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .get(&self.validating)
            .await
            .unwrap();
        let m = Api::<MutatingWebhookConfiguration>::all(self.client.clone())
            .get(&self.mutating)
            .await
            .unwrap();
        [
            self.secret().await.metadata.resource_version.unwrap(),
            v.metadata.resource_version.unwrap(),
            m.metadata.resource_version.unwrap(),
        ]
    }

    /// caBundle of every webhook (validating a, b, then mutating m).
    async fn bundles(&self) -> Vec<Option<String>> {
        let v = Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .get(&self.validating)
            .await
            .unwrap();
        let m = Api::<MutatingWebhookConfiguration>::all(self.client.clone())
            .get(&self.mutating)
            .await
            .unwrap();
        let text = |b: Option<k8s_openapi::ByteString>| b.map(|b| String::from_utf8(b.0).unwrap());
        v.webhooks
            .unwrap()
            .into_iter()
            .map(|w| text(w.client_config.ca_bundle))
            .chain(
                m.webhooks
                    .unwrap()
                    .into_iter()
                    .map(|w| text(w.client_config.ca_bundle)),
            )
            .collect()
    }
}

fn cli(args: &[String], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run certs-tool")
}

fn cli_ok(sub: &str, args: &[String]) -> String {
    let mut all = vec![sub.to_string()];
    all.extend_from_slice(args);
    let out = cli(&all, &[]);
    assert!(
        out.status.success(),
        "certs-tool {sub} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `check`; returns (exit code, stdout).
fn check(args: &[String]) -> (i32, String) {
    let mut all = vec!["check".to_string()];
    all.extend_from_slice(args);
    let out = cli(&all, &[]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn info(pem: &str) -> CertInfo {
    CertInfo::from_pem(pem).unwrap()
}

fn subjects(bundle: &str) -> Vec<String> {
    parse_pem_bundle(bundle)
        .unwrap()
        .into_iter()
        .map(|c| c.subject)
        .collect()
}

/// What the API server does with the caBundle: chain, serverAuth, name.
fn verifies(leaf_pem: &str, bundle: &str, name: &str) -> bool {
    let leaf = CertificateDer::from(info(leaf_pem).der().to_vec());
    let roots: Vec<CertificateDer<'static>> = parse_pem_bundle(bundle)
        .unwrap()
        .iter()
        .map(|c| CertificateDer::from(c.der().to_vec()))
        .collect();
    let anchors: Vec<_> = roots
        .iter()
        .map(|r| webpki::anchor_from_trusted_cert(r).unwrap())
        .collect();
    let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &[],
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .is_ok()
        && ee
            .verify_is_valid_for_subject_name(&ServerName::try_from(name.to_string()).unwrap())
            .is_ok()
}

#[tokio::test]
async fn ensure_creates_patches_and_is_idempotent() {
    if skip() {
        return;
    }
    let f = Fixture::new("idem").await;
    let args = f.args(&[]);

    let (code, out) = check(&args);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("create CA"), "{out}");
    assert!(
        out.contains(&format!(
            "patch caBundle of ValidatingWebhookConfiguration/{}",
            f.validating
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("create Secret {}/gko-webhook-cert", f.ns)),
        "{out}"
    );
    assert!(
        Api::<Secret>::namespaced(f.client.clone(), &f.ns)
            .get_opt("gko-webhook-cert")
            .await
            .unwrap()
            .is_none(),
        "check wrote nothing"
    );

    cli_ok("ensure", &args);
    let secret = f.secret().await;
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = f.material().await;
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["ca.crt", "ca.key", "tls.crt", "tls.key"]
    );
    let ca = info(&data["ca.crt"]);
    let leaf = info(&data["tls.crt"]);
    assert!(ca.is_ca && leaf.is_signed_by(&ca));
    let sans: Vec<String> = leaf.sans.iter().map(|s| s.to_string()).collect();
    let ns = &f.ns;
    for want in [
        "DNS:gko-webhook".to_string(),
        format!("DNS:gko-webhook.{ns}"),
        format!("DNS:gko-webhook.{ns}.svc"),
        format!("DNS:gko-webhook.{ns}.svc.cluster.local"),
        "IP:127.0.0.1".to_string(),
    ] {
        assert!(sans.contains(&want), "{want} not in {sans:?}");
    }
    assert_eq!(sans.len(), 5);
    assert!(verifies(
        &data["tls.crt"],
        &data["ca.crt"],
        &format!("gko-webhook.{ns}.svc")
    ));
    assert!(info(&data["tls.crt"])
        .matches_key(&certs_tool::PrivateKeyPem::new(data["tls.key"].clone())));

    // Every webhook of both kinds carries exactly the CA.
    let bundles = f.bundles().await;
    assert_eq!(bundles.len(), 3);
    for b in &bundles {
        assert_eq!(b.as_deref(), Some(ca.to_pem().as_str()));
    }
    // Everything else is preserved.
    let v = Api::<ValidatingWebhookConfiguration>::all(f.client.clone())
        .get(&f.validating)
        .await
        .unwrap();
    assert_eq!(v.metadata.labels.unwrap()["keep"], "me");
    let hooks = v.webhooks.unwrap();
    assert_eq!(hooks[0].name, "a.certs-tool.test");
    assert_eq!(
        hooks[1].client_config.url.as_deref(),
        Some("https://127.0.0.1:1/b")
    );
    assert_eq!(
        hooks[1].rules.as_ref().unwrap()[0]
            .resources
            .as_ref()
            .unwrap()[0],
        "nothings"
    );
    assert_eq!(hooks[1].timeout_seconds, Some(3));

    // Second run: nothing to do, nothing written.
    let before = f.versions().await;
    let (code, out) = check(&args);
    assert_eq!((code, out.trim()), (0, "nothing to do"));
    cli_ok("ensure", &args);
    assert_eq!(f.versions().await, before, "second ensure wrote something");

    // Same thing configured through CERTS_TOOL_* env vars only.
    let webhooks = format!("{},{}", f.validating, f.mutating);
    let out = cli(
        &["ensure".to_string()],
        &[
            ("CERTS_TOOL_SERVICE", "gko-webhook"),
            ("CERTS_TOOL_NAMESPACE", &f.ns),
            ("CERTS_TOOL_SECRET", "gko-webhook-cert"),
            ("CERTS_TOOL_WEBHOOK_CONFIG", &webhooks),
            ("CERTS_TOOL_EXTRA_SAN", "127.0.0.1"),
            ("CERTS_TOOL_LOG_FORMAT", "json"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("\"up to date\""), "{logs}");
    assert!(!logs.contains("PRIVATE KEY"));
    assert_eq!(
        f.versions().await,
        before,
        "env-configured ensure wrote something"
    );

    // A bundle changed behind our back is put right, on that webhook only.
    Api::<ValidatingWebhookConfiguration>::all(f.client.clone())
        .patch(
            &f.validating,
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(serde_json::json!([
                    {"op": "remove", "path": "/webhooks/1/clientConfig/caBundle"}
                ]))
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let (code, out) = check(&args);
    assert_eq!(code, 3);
    assert!(out.contains("(webhooks: b.certs-tool.test)"), "{out}");
    let before = f.versions().await;
    cli_ok("ensure", &args);
    let after = f.versions().await;
    assert_eq!(after[0], before[0], "Secret untouched");
    assert_ne!(after[1], before[1], "validating config patched");
    assert_eq!(after[2], before[2], "mutating config untouched");
    assert!(f
        .bundles()
        .await
        .iter()
        .all(|b| b.as_deref() == Some(ca.to_pem().as_str())));

    // A name found in neither kind is an error, and nothing is written.
    let mut bad = args.clone();
    bad.extend(["--webhook-config".to_string(), "no-such-config".to_string()]);
    let mut all = vec!["ensure".to_string()];
    all.extend(bad);
    let out = cli(&all, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"no-such-config\" not found"));
}

#[tokio::test]
async fn short_lived_serving_cert_is_renewed() {
    if skip() {
        return;
    }
    let f = Fixture::new("renew").await;
    // 6s of life: renewed once less than 2s are left.
    let args = f.args(&["--serving-validity", "6s", "--backdate", "0s"]);
    cli_ok("ensure", &args);
    let first = f.material().await;
    assert_eq!(check(&args).0, 0, "fresh certificate is kept");

    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (code, out) = check(&args);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("renew serving certificate"), "{out}");
    assert!(out.contains("less than a third"), "{out}");
    assert!(
        !out.contains("patch caBundle"),
        "same CA, no caBundle change: {out}"
    );

    let before = f.versions().await;
    cli_ok("ensure", &args);
    let after = f.versions().await;
    assert_ne!(after[0], before[0], "Secret updated");
    assert_eq!(after[1..], before[1..], "webhooks untouched");
    let second = f.material().await;
    assert_eq!(second["ca.crt"], first["ca.crt"]);
    assert_eq!(second["ca.key"], first["ca.key"]);
    assert_ne!(second["tls.crt"], first["tls.crt"]);
    assert_ne!(second["tls.key"], first["tls.key"]);
    assert!(info(&second["tls.crt"]).not_after > info(&first["tls.crt"]).not_after);
    assert!(verifies(&second["tls.crt"], &second["ca.crt"], "127.0.0.1"));
    assert_eq!(check(&args).0, 0);
}

#[tokio::test]
async fn ca_rotation_keeps_old_and_new_then_drops_old() {
    if skip() {
        return;
    }
    let f = Fixture::new("rotate").await;
    // A 12s CA is rotated once less than 4s are left.
    let base = [
        "--ca-validity",
        "12s",
        "--serving-validity",
        "12s",
        "--backdate",
        "0s",
    ];
    let with_overlap = |o: &str| {
        let mut a = base.to_vec();
        a.extend(["--ca-overlap", o]);
        f.args(&a)
    };
    let long = with_overlap("1h");
    cli_ok("ensure", &long);
    let first = f.material().await;
    let ca1 = info(&first["ca.crt"]);

    tokio::time::sleep(Duration::from_millis(8500)).await;
    let (code, out) = check(&long);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("rotate CA"), "{out}");

    let before = f.versions().await;
    cli_ok("ensure", &long);
    let after = f.versions().await;
    assert!(
        after.iter().zip(&before).all(|(a, b)| a != b),
        "Secret and both configs written"
    );
    let second = f.material().await;
    let ca2 = info(&second["ca.crt"]);
    assert_ne!(ca1, ca2);
    assert_eq!(second["ca-previous.crt"], ca1.to_pem());
    assert!(info(&second["tls.crt"]).is_signed_by(&ca2));
    // Every webhook trusts new and old, in that order.
    let bundle = format!("{}{}", ca2.to_pem(), ca1.to_pem());
    for b in f.bundles().await {
        assert_eq!(b.as_deref(), Some(bundle.as_str()));
    }
    assert_eq!(
        subjects(&bundle),
        vec![ca2.subject.clone(), ca1.subject.clone()]
    );
    // No request fails: a pod still serving the old certificate and one serving the new one are
    // both accepted.
    assert!(verifies(&first["tls.crt"], &bundle, "127.0.0.1"));
    assert!(verifies(&second["tls.crt"], &bundle, "127.0.0.1"));

    // Within the overlap: nothing to do.
    let before = f.versions().await;
    assert_eq!(check(&long).0, 0);
    cli_ok("ensure", &long);
    assert_eq!(f.versions().await, before);

    // Once the new serving certificate has been in place long enough, the old CA goes.
    let short = with_overlap("0s");
    let (code, out) = check(&short);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("drop previous CA"), "{out}");
    cli_ok("ensure", &short);
    let third = f.material().await;
    assert!(!third.contains_key("ca-previous.crt"));
    assert_eq!(third["ca.crt"], second["ca.crt"]);
    assert_eq!(third["tls.crt"], second["tls.crt"]);
    for b in f.bundles().await {
        assert_eq!(b.as_deref(), Some(ca2.to_pem().as_str()));
    }
    assert!(!verifies(&first["tls.crt"], &ca2.to_pem(), "127.0.0.1"));
    let before = f.versions().await;
    assert_eq!(check(&short).0, 0);
    cli_ok("ensure", &short);
    assert_eq!(f.versions().await, before);
}

// ---------------------------------------------------------------------------------------------
// The API server itself calling a webhook served with our certificate, through a CA change.

struct Webhook(Child);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn envtest_core() -> Option<PathBuf> {
    let bin = PathBuf::from(std::env::var_os("GKO_ENVTEST_BIN")?).join("envtest-core");
    bin.exists().then_some(bin)
}

fn free_port(core: &Path) -> u16 {
    let out = Command::new(core).args(["ports", "1"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Serves `tls.crt`/`tls.key` on 127.0.0.1:port with envtest-core's test webhook (denies objects
/// labelled `deny=yes`).
fn serve(
    core: &Path,
    dir: &Path,
    port: u16,
    data: &BTreeMap<String, String>,
    tag: &str,
) -> Webhook {
    let crt = dir.join(format!("{tag}.crt"));
    let key = dir.join(format!("{tag}.key"));
    std::fs::write(&crt, &data["tls.crt"]).unwrap();
    std::fs::write(&key, &data["tls.key"]).unwrap();
    let child = Command::new(core)
        .args([
            "webhook",
            "-listen",
            &format!("127.0.0.1:{port}"),
            "-deny-label",
            "deny=yes",
        ])
        .arg("-cert")
        .arg(&crt)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = dir.join(format!("{tag}-ca.crt"));
    std::fs::write(&ca, &data["ca.crt"]).unwrap();
    let ok = Command::new(core)
        .args([
            "wait",
            "-url",
            &format!("https://127.0.0.1:{port}/healthz"),
            "-timeout",
            "10s",
        ])
        .arg("-cacert")
        .arg(&ca)
        .status()
        .unwrap()
        .success();
    assert!(ok, "test webhook did not come up");
    Webhook(child)
}

/// Creates a labelled `thing` and returns the API server's answer: Ok, or the error text.
async fn create_denied_thing(api: &Api<DynamicObject>, ar: &ApiResource, name: &str) -> String {
    let obj: DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": ar.api_version, "kind": ar.kind,
        "metadata": {"name": name, "labels": {"deny": "yes"}},
    }))
    .unwrap();
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => "created".into(),
        Err(e) => e.to_string(),
    }
}

/// Polls until the webhook call outcome contains `want` (webhook configuration changes reach the
/// API server through a watch).
async fn eventually(api: &Api<DynamicObject>, ar: &ApiResource, want: &str) {
    let start = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let got = create_denied_thing(api, ar, &format!("t{n}")).await;
        if got.contains(want) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "wanted {want:?}, got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn api_server_trusts_the_bundle_through_a_ca_change() {
    if skip() {
        return;
    }
    let Some(core) = envtest_core() else {
        println!("skipped: GKO_ENVTEST_BIN/envtest-core not found (source the envtest env)");
        return;
    };
    let client = client().await;
    let ns = &format!("trust-{}", run_id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await
        .unwrap();
    let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "things.certs-tool.test"},
        "spec": {
            "group": "certs-tool.test",
            "scope": "Namespaced",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => panic!("create CRD: {e}"),
    }
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("certs-tool.test", "v1", "Thing"),
        "things",
    );
    let things: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let start = Instant::now();
    while things.list(&Default::default()).await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "CRD never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let port = free_port(&core);
    let v: ValidatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{ns}-validating")},
        "webhooks": [{
            "name": "deny.certs-tool.test",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}/validate")},
            "rules": [{"apiGroups": ["certs-tool.test"], "apiVersions": ["v1"],
                "operations": ["CREATE"], "resources": ["things"]}],
            "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "failurePolicy": "Fail", "timeoutSeconds": 5,
        }],
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &v)
        .await
        .unwrap();

    let args: Vec<String> = [
        "--service",
        "trust-webhook",
        "--namespace",
        ns,
        "--secret",
        "cert",
        "--webhook-config",
        &format!("{ns}-validating"),
        "--extra-san",
        "127.0.0.1",
        "--backdate",
        "0s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let secret_data = || async {
        Api::<Secret>::namespaced(client.clone(), ns)
            .get("cert")
            .await
            .unwrap()
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect::<BTreeMap<String, String>>()
    };
    let dir = tempfile::tempdir().unwrap();
    let denied = "admission webhook \"deny.certs-tool.test\" denied the request";
    let untrusted = "failed calling webhook \"deny.certs-tool.test\"";

    // 1. The webhook serves our certificate; the API server reaches it (it denies by label, which
    //    proves the call went through TLS with our caBundle).
    cli_ok("ensure", &args);
    let first = secret_data().await;
    let wh = serve(&core, dir.path(), port, &first, "first");
    eventually(&things, &ar, denied).await;

    // 2. CA change (triggered by losing ca.key): the bundle now holds new + old CA while the
    //    webhook still serves the old certificate: calls keep succeeding.
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            "cert",
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(
                    serde_json::json!([{"op": "remove", "path": "/data/ca.key"}]),
                )
                .unwrap(),
            ),
        )
        .await
        .unwrap();
    let (code, out) = check(&args);
    assert_eq!(code, 3);
    assert!(out.contains("rotate CA: no ca.key"), "{out}");
    cli_ok("ensure", &args);
    let second = secret_data().await;
    assert_ne!(second["ca.crt"], first["ca.crt"]);
    assert_eq!(second["ca-previous.crt"], info(&first["ca.crt"]).to_pem());
    for _ in 0..5 {
        let got = create_denied_thing(&things, &ar, "during").await;
        assert!(
            got.contains(denied),
            "old certificate during the overlap: {got}"
        );
    }

    // 3. The webhook picks up the new certificate: still fine.
    drop(wh);
    let wh = serve(&core, dir.path(), port, &second, "second");
    eventually(&things, &ar, denied).await;
    for _ in 0..3 {
        let got = create_denied_thing(&things, &ar, "after").await;
        assert!(got.contains(denied), "new certificate: {got}");
    }

    // 4. The old CA leaves the bundle: the new certificate still works ...
    let mut drop_args = args.clone();
    drop_args.extend(["--ca-overlap".to_string(), "0s".to_string()]);
    cli_ok("ensure", &drop_args);
    assert!(!secret_data().await.contains_key("ca-previous.crt"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = create_denied_thing(&things, &ar, "dropped").await;
    assert!(
        got.contains(denied),
        "new certificate after the drop: {got}"
    );

    // 5. ... and a webhook still serving the old certificate would now be refused, so the old CA
    //    really is gone from what the API server trusts.
    drop(wh);
    let _wh = serve(&core, dir.path(), port, &first, "old-again");
    eventually(&things, &ar, untrusted).await;
}

#[test]
fn generate_writes_files_without_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("certs");
    let out = cli(
        &[
            "generate".into(),
            "--out-dir".into(),
            out_dir.display().to_string(),
            "--dns".into(),
            "localhost".into(),
            "--ip".into(),
            "127.0.0.1".into(),
        ],
        &[("CERTS_TOOL_SERVING_VALIDITY", "2d")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |n: &str| std::fs::read_to_string(out_dir.join(n)).unwrap();
    let (ca, crt, key) = (read("ca.crt"), read("tls.crt"), read("tls.key"));
    assert!(verifies(&crt, &ca, "localhost"));
    assert!(verifies(&crt, &ca, "127.0.0.1"));
    assert!(key.contains("BEGIN PRIVATE KEY"));
    let leaf = info(&crt);
    let life = leaf.not_after - leaf.not_before;
    assert_eq!(life, time::Duration::days(2) + time::Duration::minutes(1));
}
