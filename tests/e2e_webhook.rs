//! End to end through a real API server (the project's envtest, or any cluster in `KUBECONFIG`):
//! gko's CRDs and webhook configurations (url clientConfig with the caBundle) are applied,
//! `gko serve` runs, and kubectl shows what a user sees. Skipped, saying so, without KUBECONFIG.

mod support;

use serde_json::Value;
use support::cluster::{self, assert_subset, kubectl, kubectl_ok, text, Gko};

fn good_api(name: &str, path: &str) -> String {
    format!(
        r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: {name}
spec:
  name: {name}
  version: "1.0"
  description: e2e
  contextRef:
    name: apim
  plans:
    - name: free
      description: free plan
      security: KEY_LESS
  proxy:
    virtual_hosts:
      - path: {path}
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
"#
    )
}

const CONTEXT: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: apim-credentials
stringData:
  bearerToken: not-a-real-token
---
apiVersion: gravitee.io/v1alpha1
kind: ManagementContext
metadata:
  name: apim
spec:
  baseUrl: https://apim.example.com/
  organizationId: DEFAULT
  environmentId: DEFAULT
  auth:
    secretRef:
      name: apim-credentials
"#;

#[test]
fn webhook_through_the_api_server() {
    if cluster::skip("webhook_through_the_api_server") {
        return;
    }
    let id = cluster::run_id();
    let ns = format!("e2e-wh-{id}");
    cluster::apply_crds();
    cluster::namespace(&ns, &id);
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("certs");
    let certs_arg = certs.display().to_string();
    // Only the reviews: no reconciler side effects in this test.
    let gko = Gko::start(
        &[
            "--self-signed",
            "--cert-dir",
            &certs_arg,
            "--namespaces",
            &ns,
            "--reconcile=false",
        ],
        dir.path(),
    );
    let ca = std::fs::read(certs.join("ca.crt")).expect("ca written");
    let webhooks = cluster::register_webhooks(&id, gko.port, &ca);

    // A bad ApiDefinition is rejected, and the error names the field and the fix.
    let mut bad = good_api("bad", "/bad");
    bad = bad.replace("security: KEY_LESS", "security: KEYLESS");
    let out = kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&bad));
    let said = text(&out);
    assert!(!out.status.success(), "bad API must be refused:\n{said}");
    assert!(
        said.contains("admission webhook \"validate.gko.gravitee.io\" denied the request"),
        "{said}"
    );
    assert!(
        said.contains(&format!("denied the request: ApiDefinition {ns}/bad: ")),
        "{said}"
    );
    assert!(said.contains("spec.plans[0].security: \"KEYLESS\" is not a known plan security type (did you mean KEY_LESS?); use one of KEY_LESS, API_KEY, OAUTH2, JWT"), "{said}");
    assert!(
        said.contains("spec.contextRef: ManagementContext"),
        "the missing context is named too:\n{said}"
    );

    // A context, its Secret and an API that uses it, in one apply: admitted although the watch
    // cache may not have the context yet (live read on a cache miss).
    let all = format!("{CONTEXT}---\n{}", good_api("good", "good/"));
    let out = kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&all));
    assert!(
        out.status.success(),
        "good manifests must be admitted:\n{}\n{}",
        text(&out),
        gko.log_text()
    );

    // Stored with the defaults filled in by the mutating webhook.
    let stored: Value = serde_json::from_str(&kubectl_ok(
        &["get", "-n", &ns, "apidefinition", "good", "-o", "json"],
        None,
    ))
    .expect("json");
    let spec = &stored["spec"];
    assert_eq!(spec["contextRef"]["namespace"], ns.as_str());
    assert_eq!(spec["state"], "STARTED");
    assert_eq!(spec["visibility"], "PRIVATE");
    assert_eq!(spec["definition_context"]["origin"], "kubernetes");
    assert_eq!(spec["plans"][0]["status"], "PUBLISHED");
    assert_eq!(spec["plans"][0]["validation"], "AUTO");
    assert_eq!(spec["proxy"]["virtual_hosts"][0]["path"], "/good");
    assert_eq!(spec["proxy"]["groups"][0]["endpoints"][0]["type"], "http");
    assert_eq!(spec["proxy"]["groups"][0]["endpoints"][0]["weight"], 1);
    let ctx: Value = serde_json::from_str(&kubectl_ok(
        &["get", "-n", &ns, "managementcontext", "apim", "-o", "json"],
        None,
    ))
    .expect("json");
    assert_eq!(ctx["spec"]["baseUrl"], "https://apim.example.com");

    // Printer columns a user wants.
    let table = kubectl_ok(&["get", "-n", &ns, "graviteeapis"], None);
    for column in [
        "API NAME",
        "VERSION",
        "CONTEXT",
        "ENTRYPOINT",
        "STATE",
        "SYNCED",
    ] {
        assert!(table.contains(column), "{table}");
    }
    assert!(
        table.contains("/good") && table.contains("STARTED") && table.contains("apim"),
        "{table}"
    );
    let table = kubectl_ok(&["get", "-n", &ns, "graviteecontexts"], None);
    assert!(
        table.contains("BASEURL") && table.contains("https://apim.example.com"),
        "{table}"
    );

    // Another API on an overlapping path is refused, naming the other API.
    let out = kubectl(
        &["apply", "-n", &ns, "-f", "-"],
        Some(&good_api("clash", "/good/v2")),
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!("overlaps /good of ApiDefinition {ns}/good")),
        "{said}"
    );

    // Deleting the context while the API uses it is refused, naming the API.
    let out = kubectl(
        &[
            "delete",
            "-n",
            &ns,
            "managementcontext",
            "apim",
            "--wait=false",
        ],
        None,
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "the context is still used by 1 ApiDefinition ({ns}/good)"
        )),
        "{said}"
    );

    // Server-side dry run gets the same answer and stores nothing.
    let out = kubectl(
        &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
        Some(&bad),
    );
    assert!(!out.status.success());
    let out = kubectl(
        &[
            "get",
            "-n",
            &ns,
            "apidefinition",
            "bad",
            "--ignore-not-found",
            "-o",
            "name",
        ],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());

    // Once the API is gone, the context can go.
    kubectl_ok(&["delete", "-n", &ns, "apidefinition", "good"], None);
    let mut deleted = false;
    for _ in 0..50 {
        let out = kubectl(
            &[
                "delete",
                "-n",
                &ns,
                "managementcontext",
                "apim",
                "--wait=false",
            ],
            None,
        );
        if out.status.success() {
            deleted = true;
            break;
        }
        // The watch cache may still hold the API for a moment.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(deleted, "context deletable once unused");

    cluster::unregister_webhooks(&webhooks);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}

/// Manifests written for GKO (0.x samples, plus fixtures with 0.x-only and 4.x-only fields) are
/// accepted by gko's CRDs as they are: strict field validation finds no unknown field.
#[test]
fn gko_manifests_apply_unchanged() {
    if cluster::skip("gko_manifests_apply_unchanged") {
        return;
    }
    cluster::apply_crds();
    let id = cluster::run_id();
    let ns = format!("e2e-gko-{id}");
    // No gko webhook selects this namespace: this checks the CRD schemas alone.
    cluster::namespace(&ns, &format!("schema-only-{id}"));
    let samples = cluster::repo().join("../shared/reference/gko-0.8.0/samples");
    let mut files: Vec<std::path::PathBuf> = vec![
        cluster::repo().join("tests/fixtures/gko4-api.yaml"),
        cluster::repo().join("tests/fixtures/gko0-api.yaml"),
    ];
    if samples.is_dir() {
        for sub in ["apim", "context/dev", "context/debug", "context/k3d"] {
            if let Ok(entries) = std::fs::read_dir(samples.join(sub)) {
                let mut list: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                list.sort();
                files.extend(
                    list.into_iter()
                        .filter(|p| !p.ends_with("basic-application.yml")),
                );
            }
        }
    } else {
        println!(
            "note: GKO samples not found at {}; only the fixtures are applied",
            samples.display()
        );
    }
    for f in &files {
        let raw = std::fs::read_to_string(f).expect("read manifest");
        // The samples name namespace "default"; apply them into the test namespace instead.
        let doc = raw
            .replace("namespace: \"default\"", &format!("namespace: \"{ns}\""))
            .replace("namespace: default", &format!("namespace: {ns}"));
        let out = kubectl(
            &[
                "apply",
                "--dry-run=server",
                "--validate=strict",
                "-n",
                &ns,
                "-f",
                "-",
            ],
            Some(&doc),
        );
        assert!(
            out.status.success(),
            "{} is refused by the CRD schema:\n{}",
            f.display(),
            text(&out)
        );
        // Nothing the user wrote is pruned: the server's answer keeps every field of the spec.
        let out = kubectl(
            &[
                "apply",
                "--dry-run=server",
                "-n",
                &ns,
                "-o",
                "json",
                "-f",
                "-",
            ],
            Some(&doc),
        );
        let answer: Value = serde_json::from_slice(&out.stdout).expect("json answer");
        let sent: Value = serde_saphyr::from_str(&doc).expect("yaml");
        let stored = if answer["kind"] == "List" {
            answer["items"][0].clone()
        } else {
            answer
        };
        assert_subset(
            &sent["spec"],
            &stored["spec"],
            &format!("{}: spec", f.display()),
        );
    }
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
