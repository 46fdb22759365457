//! The install path end to end on a real API server: certs-tool makes the certificate and injects
//! the caBundle, gko serves the Secret's files, and the API server calls the webhook through that
//! bundle; then the CA is rotated while a client applies manifests in a loop, with zero failures.
//! Skipped, saying so, without KUBECONFIG.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use support::cluster::{self, kubectl, text, Gko};

fn ensure_config(
    ns: &str,
    webhooks: &[String],
    ca_overlap: Option<time::Duration>,
) -> certs_tool::EnsureConfig {
    let names = webhooks
        .iter()
        .map(|w| w.split('/').nth(1).unwrap_or_default().to_string())
        .collect();
    let mut cfg = certs_tool::EnsureConfig::new("gko-webhook", ns, "gko-webhook-cert", names);
    cfg.certs
        .extra_sans
        .push("127.0.0.1".parse().expect("ip san"));
    if let Some(overlap) = ca_overlap {
        cfg.certs.ca_overlap = overlap;
    }
    cfg
}

/// Writes the Secret's tls.crt/tls.key the way the kubelet does: a new timestamped folder, then an
/// atomic swap of the `..data` symlink.
fn mount_secret(secret: &Secret, root: &Path, generation: usize) {
    let data = secret.data.clone().unwrap_or_default();
    let dir = root.join(format!("..2026_11_21_{generation:06}"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        let bytes = data.get(key).map(|b| b.0.clone()).unwrap_or_default();
        std::fs::write(dir.join(key), bytes).expect("write");
    }
    let tmp = root.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(dir.file_name().expect("name"), &tmp).expect("symlink");
    std::fs::rename(&tmp, root.join("..data")).expect("swap");
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        let link = root.join(key);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{key}"), &link).expect("symlink");
        }
    }
}

fn local_api(name: &str, round: usize) -> String {
    format!(
        r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: {name}
  labels:
    round: "{round}"
spec:
  name: {name}
  version: "1"
  description: loop
  local: true
  plans:
    - name: free
      description: free
      security: KEY_LESS
  proxy:
    virtual_hosts:
      - path: /{name}
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certs_tool_bundle_and_ca_rotation_under_load() {
    if cluster::skip("certs_tool_bundle_and_ca_rotation_under_load") {
        return;
    }
    let client = kube::Client::try_default().await.expect("kube client");
    let id = cluster::run_id();
    let ns = format!("e2e-inst-{id}");
    cluster::apply_crds();
    cluster::namespace(&ns, &id);
    let port = cluster::free_port();
    // Webhook configurations as rendered for a url clientConfig, with no caBundle yet.
    let webhooks = cluster::register_webhooks(&id, port, b"");

    let cfg = ensure_config(&ns, &webhooks, None);
    let first = certs_tool::ensure(&client, &cfg)
        .await
        .expect("certs-tool ensure");
    assert!(first.secret_written);
    assert_eq!(
        first.patched.len(),
        2,
        "both webhook configurations get the caBundle"
    );
    let again = certs_tool::ensure(&client, &cfg)
        .await
        .expect("second ensure");
    assert!(
        !again.secret_written && again.patched.is_empty(),
        "a second run changes nothing"
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let mount = tempfile::tempdir().expect("dir");
    let logs = tempfile::tempdir().expect("dir");
    mount_secret(
        &secrets.get("gko-webhook-cert").await.expect("secret"),
        mount.path(),
        1,
    );
    let cert = mount.path().join("tls.crt").display().to_string();
    let key = mount.path().join("tls.key").display().to_string();
    let _gko = Gko::start_on(
        port,
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--cert-reload-interval",
            "200ms",
            "--namespaces",
            &ns,
            "--reconcile=false",
        ],
        logs.path(),
    );

    // The API server reaches gko through the injected caBundle: a bad manifest is refused by gko.
    let bad = local_api("bad", 0).replace("security: KEY_LESS", "security: NONE");
    let out = kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&bad));
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("denied the request") && said.contains("spec.plans[0].security"),
        "{said}"
    );

    // A client applies manifests in a loop while the CA is rotated.
    let running = Arc::new(AtomicBool::new(true));
    let applied = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let looper = {
        let (running, applied, failures, ns) = (
            running.clone(),
            applied.clone(),
            failures.clone(),
            ns.clone(),
        );
        std::thread::spawn(move || {
            let mut round = 0;
            while running.load(Ordering::SeqCst) {
                round += 1;
                let out = kubectl(
                    &["apply", "-n", &ns, "-f", "-"],
                    Some(&local_api("looped", round)),
                );
                if out.status.success() {
                    applied.fetch_add(1, Ordering::SeqCst);
                } else if let Ok(mut f) = failures.lock() {
                    f.push(text(&out));
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Force a CA change: without its key the CA must be replaced.
    let remove_key = serde_json::json!([{"op": "remove", "path": "/data/ca.key"}]);
    secrets
        .patch(
            "gko-webhook-cert",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(remove_key).expect("patch")),
        )
        .await
        .expect("remove ca.key");
    let rotated = certs_tool::ensure(&client, &cfg).await.expect("rotation");
    let bundle = certs_tool::parse_pem_bundle(&rotated.ca_bundle).expect("bundle");
    assert_eq!(
        bundle.len(),
        2,
        "during the change the caBundle carries the new and the old CA"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The kubelet updates the mounted Secret; gko reloads without restart.
    let new_secret = secrets.get("gko-webhook-cert").await.expect("secret");
    mount_secret(&new_secret, mount.path(), 2);
    let new_ca = rotated.ca_cert_pem.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !serves_cert_signed_by(port, &new_ca).await {
        assert!(
            Instant::now() < deadline,
            "gko did not reload the rotated certificate"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // After the overlap the old CA leaves the bundle; gko already serves the new certificate.
    let done = certs_tool::ensure(
        &client,
        &ensure_config(&ns, &webhooks, Some(time::Duration::ZERO)),
    )
    .await
    .expect("drop old CA");
    assert_eq!(
        certs_tool::parse_pem_bundle(&done.ca_bundle)
            .expect("bundle")
            .len(),
        1
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    running.store(false, Ordering::SeqCst);
    looper.join().expect("loop thread");
    let failures = failures.lock().map(|f| f.clone()).unwrap_or_default();
    let count = applied.load(Ordering::SeqCst);
    println!(
        "CA rotation under load: {count} applies, {} failures",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "applies failed during the rotation:\n{}",
        failures.join("\n")
    );
    assert!(count >= 5, "the loop made progress ({count} applies)");

    cluster::unregister_webhooks(&webhooks);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}

/// True when the webhook port presents a certificate that chains to `ca_pem`.
async fn serves_cert_signed_by(port: u16, ca_pem: &str) -> bool {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()).flatten() {
        let _ = roots.add(c);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return false;
    };
    let config = builder.with_root_certificates(roots).with_no_client_auth();
    let Ok(tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let Ok(name) = rustls_pki_types::ServerName::try_from("127.0.0.1") else {
        return false;
    };
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gko_manages_its_own_certificate() {
    if cluster::skip("gko_manages_its_own_certificate") {
        return;
    }
    let id = cluster::run_id();
    let ns = format!("e2e-mc-{id}");
    cluster::apply_crds();
    cluster::namespace(&ns, &id);
    let port = cluster::free_port();
    let webhooks = cluster::register_webhooks(&id, port, b"");
    let names: Vec<String> = webhooks
        .iter()
        .map(|w| w.split('/').nth(1).unwrap_or_default().to_string())
        .collect();
    let dir = tempfile::tempdir().expect("dir");
    let cert_dir = dir.path().join("certs").display().to_string();
    let _gko = Gko::start_on(
        port,
        &[
            "--manage-certs",
            "--webhook-namespace",
            &ns,
            "--cert-secret",
            "gko-webhook-cert",
            "--webhook-config",
            &names.join(","),
            "--cert-extra-san",
            "127.0.0.1",
            "--cert-dir",
            &cert_dir,
            "--namespaces",
            &ns,
            "--reconcile=false",
        ],
        dir.path(),
    );
    let client = kube::Client::try_default().await.expect("client");
    let secret = Api::<Secret>::namespaced(client, &ns)
        .get("gko-webhook-cert")
        .await
        .expect("secret made by gko");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let bad = local_api("bad", 0).replace("security: KEY_LESS", "security: NONE");
    let out = kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&bad));
    let said = text(&out);
    assert!(
        !out.status.success() && said.contains("spec.plans[0].security"),
        "{said}"
    );
    let good = kubectl(
        &["apply", "-n", &ns, "-f", "-"],
        Some(&local_api("good", 1)),
    );
    assert!(good.status.success(), "{}", text(&good));
    let bundle = base64::engine::general_purpose::STANDARD.encode(
        secret
            .data
            .unwrap_or_default()
            .get("ca.crt")
            .map(|b| b.0.clone())
            .unwrap_or_default(),
    );
    let vwc = kubectl(
        &[
            "get",
            &webhooks[0],
            "-o",
            "jsonpath={.webhooks[0].clientConfig.caBundle}",
        ],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&vwc.stdout).trim(),
        bundle,
        "caBundle is the Secret's CA"
    );
    cluster::unregister_webhooks(&webhooks);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
