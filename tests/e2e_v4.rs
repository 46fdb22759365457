//! ApiV4Definition end to end through a real API server (envtest or `KUBECONFIG`), with gko's
//! webhooks registered: GKO's v4 samples apply unchanged, and v2 and v4 APIs share one path space.
//! Skipped, saying so, without KUBECONFIG.

mod support;

use serde_json::Value;
use support::cluster::{self, assert_subset, kubectl, kubectl_ok, text, Gko};

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
  name: dev-ctx
spec:
  baseUrl: https://apim.example.com
  organizationId: DEFAULT
  environmentId: DEFAULT
  auth:
    secretRef:
      name: apim-credentials
"#;

/// A namespace selected by a fresh `gko serve` (reviews only), with the context the samples name.
struct Setup {
    ns: String,
    webhooks: Vec<String>,
    gko: Gko,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new(prefix: &str) -> Setup {
        let id = cluster::run_id();
        let ns = format!("{prefix}-{id}");
        cluster::apply_crds();
        cluster::namespace(&ns, &id);
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        let certs_arg = certs.display().to_string();
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
        kubectl_ok(&["apply", "-n", &ns, "-f", "-"], Some(CONTEXT));
        Setup {
            ns,
            webhooks,
            gko,
            _dir: dir,
        }
    }

    fn apply(&self, manifest: &str) -> (bool, String) {
        let out = kubectl(
            &["apply", "--validate=strict", "-n", &self.ns, "-f", "-"],
            Some(manifest),
        );
        (out.status.success(), text(&out))
    }

    fn delete(&self, kind: &str, name: &str) {
        kubectl_ok(&["delete", "-n", &self.ns, kind, name], None);
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        cluster::unregister_webhooks(&self.webhooks);
        let _ = kubectl(&["delete", "namespace", &self.ns, "--wait=false"], None);
    }
}

#[test]
fn gko_v4_samples_apply_unchanged() {
    if cluster::skip("gko_v4_samples_apply_unchanged") {
        return;
    }
    let setup = Setup::new("e2e-v4s");
    let dir = cluster::repo().join("tests/fixtures/apiv4");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/apiv4")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "the eight GKO v4 samples");
    for f in &files {
        let doc = std::fs::read_to_string(f).expect("read sample");
        let (ok, said) = setup.apply(&doc);
        assert!(
            ok,
            "{} is refused:\n{said}\n{}",
            f.display(),
            setup.gko.log_text()
        );
        let sent: Value = serde_saphyr::from_str(&doc).expect("yaml");
        let name = sent["metadata"]["name"].as_str().expect("name");
        let stored: Value = serde_json::from_str(&kubectl_ok(
            &[
                "get",
                "-n",
                &setup.ns,
                "apiv4definition",
                name,
                "-o",
                "json",
            ],
            None,
        ))
        .expect("json");
        assert_subset(
            &sent["spec"],
            &stored["spec"],
            &format!("{}: spec", f.display()),
        );
        // GKO 4.x's defaults are there (CRD defaults and gko's mutation agree).
        let spec = &stored["spec"];
        assert_eq!(
            spec["definitionContext"]["syncFrom"], "MANAGEMENT",
            "{name}"
        );
        assert_eq!(spec["contextRef"]["namespace"], setup.ns.as_str(), "{name}");
        for (key, plan) in spec["plans"].as_object().expect("plans") {
            for (field, value) in [
                ("status", "PUBLISHED"),
                ("type", "API"),
                ("validation", "AUTO"),
                ("mode", "STANDARD"),
            ] {
                assert_eq!(plan[field], value, "{name}: plans.{key}.{field}");
            }
        }
        if name == "api-v4-with-shared-policy-group" {
            assert!(
                said.contains("passed to APIM unchecked"),
                "the shared policy group reference is a warning:\n{said}"
            );
        }
    }
    // The short name and the printer columns GKO users know.
    let table = kubectl_ok(&["get", "-n", &setup.ns, "graviteev4apis"], None);
    for column in ["STATE", "LIFECYCLE STATE", "VERSION"] {
        assert!(table.contains(column), "{table}");
    }
    assert!(
        table.contains("api-v4-native") && table.contains("UNPUBLISHED"),
        "{table}"
    );
}

fn v2_api(name: &str, path: &str) -> String {
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
    name: dev-ctx
  plans:
    - name: free
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

fn v4_api(name: &str, path: &str) -> String {
    format!(
        r#"apiVersion: gravitee.io/v1alpha1
kind: ApiV4Definition
metadata:
  name: {name}
spec:
  name: {name}
  version: "1.0"
  type: PROXY
  contextRef:
    name: dev-ctx
  listeners:
    - type: HTTP
      paths:
        - path: {path}
      entrypoints:
        - type: http-proxy
  endpointGroups:
    - name: default
      type: http-proxy
      endpoints:
        - name: backend
          type: http-proxy
          inheritConfiguration: false
          configuration:
            target: https://backend.example.com
  plans:
    free:
      name: free
      security:
        type: KEY_LESS
"#
    )
}

/// A v4 API and a v2 API on one path in one namespace: whichever comes second is refused, and the
/// message names the first with its kind.
#[test]
fn v2_and_v4_apis_share_one_path_space() {
    if cluster::skip("v2_and_v4_apis_share_one_path_space") {
        return;
    }
    let setup = Setup::new("e2e-v4c");
    let ns = setup.ns.clone();

    // v4 first, then v2.
    let (ok, said) = setup.apply(&v4_api("orders-v4", "/orders"));
    assert!(ok, "{said}\n{}", setup.gko.log_text());
    let (ok, said) = setup.apply(&v2_api("orders-v2", "/orders"));
    assert!(!ok, "the v2 API must be refused:\n{said}");
    assert!(
        said.contains(&format!("ApiV4Definition {ns}/orders-v4")),
        "names the v4 API and its kind:\n{said}"
    );
    assert!(said.contains("spec.proxy.virtual_hosts[0].path"), "{said}");
    setup.delete("apiv4definition", "orders-v4");

    // v2 first, then v4 (on a sub-path: APIM's prefix rule).
    let (ok, said) = setup.apply(&v2_api("billing-v2", "/billing"));
    assert!(ok, "{said}\n{}", setup.gko.log_text());
    let (ok, said) = setup.apply(&v4_api("billing-v4", "/billing/v4"));
    assert!(!ok, "the v4 API must be refused:\n{said}");
    assert!(
        said.contains(&format!("ApiDefinition {ns}/billing-v2")),
        "names the v2 API and its kind:\n{said}"
    );
    assert!(said.contains("spec.listeners[0].paths[0].path"), "{said}");

    // Another path is fine.
    let (ok, said) = setup.apply(&v4_api("shipping-v4", "/shipping"));
    assert!(ok, "{said}");
}
