//! Manifests written for GKO, through a real API server and `gko serve` (the project's envtest, or any
//! cluster in `KUBECONFIG`): Gravitee Cloud contexts defaulted from the token in their Secret (read live by
//! the webhook), malformed tokens refused, a templated baseUrl checked as its ConfigMap value, and what GKO
//! admits (ingress templates, JWT plans without securityDefinition) admitted with a warning. Skipped,
//! saying so, without KUBECONFIG.

mod support;

use base64::Engine as _;
use serde_json::{json, Value};
use support::cluster::{self, kubectl, kubectl_ok, text, Gko};

fn cloud_token(claims: Value) -> String {
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(claims)
    )
}

fn apply(ns: &str, yaml: &str) -> (bool, String) {
    let out = kubectl(&["apply", "-n", ns, "-f", "-"], Some(yaml));
    (out.status.success(), text(&out))
}

#[test]
fn gko_manifests_are_admitted_and_defaulted_as_gko_does() {
    if cluster::skip("gko_manifests_are_admitted_and_defaulted_as_gko_does") {
        return;
    }
    let id = cluster::run_id();
    let ns = format!("e2e-parity-{id}");
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

    // A cloud context as GKO users write it: only the Secret with the token.
    let token = cloud_token(json!({"org": "org-e2e", "envs": ["env-a", "env-b"], "cpg": "eu"}));
    let cloud = format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: cloud-token
stringData:
  cloudToken: {token}
---
apiVersion: gravitee.io/v1alpha1
kind: ManagementContext
metadata:
  name: cloud
spec:
  environmentId: env-b
  cloud:
    secretRef:
      name: cloud-token
"#
    );
    let (ok, said) = apply(&ns, &cloud);
    assert!(ok, "cloud context admitted:\n{said}\n{}", gko.log_text());
    let stored: Value = serde_json::from_str(&kubectl_ok(
        &["get", "-n", &ns, "managementcontext", "cloud", "-o", "json"],
        None,
    ))
    .expect("json");
    let spec = &stored["spec"];
    assert_eq!(spec["baseUrl"], "https://eu.cloudgate.gravitee.io");
    assert_eq!(spec["organizationId"], "org-e2e");
    assert_eq!(spec["environmentId"], "env-b");
    assert_eq!(
        spec["auth"],
        json!({"secretRef": {"name": "cloud-token", "namespace": ns}})
    );
    assert!(!said.contains("Warning"), "{said}");

    // Malformed cloud contexts are refused with GKO's reasons.
    let several = cloud_token(json!({"org": "o", "envs": ["a", "b"], "cpg": "eu"}));
    for (token, expected) in [
        (
            "not-a-jwt".to_string(),
            "spec.cloud: the cloud token is not a JWT",
        ),
        (
            several,
            "spec.environmentId: the cloud token lists 2 environments (a, b)",
        ),
    ] {
        let yaml = format!(
            "apiVersion: gravitee.io/v1alpha1\nkind: ManagementContext\nmetadata:\n  name: bad-cloud\nspec:\n  cloud:\n    token: {token}\n"
        );
        let (ok, said) = apply(&ns, &yaml);
        assert!(!ok, "{said}");
        assert!(
            said.contains(&format!("ManagementContext {ns}/bad-cloud: {expected}")),
            "{said}"
        );
    }

    // A baseUrl kept in a ConfigMap is checked as the URL it holds.
    let templated = |url: &str| {
        format!(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: apim-url
data:
  url: "{url}"
---
apiVersion: v1
kind: Secret
metadata:
  name: apim-credentials
stringData:
  bearerToken: t
---
apiVersion: gravitee.io/v1alpha1
kind: ManagementContext
metadata:
  name: templated
spec:
  baseUrl: "[[ configmap `apim-url/url` ]]"
  organizationId: DEFAULT
  environmentId: DEFAULT
  auth:
    secretRef:
      name: apim-credentials
"#
        )
    };
    let (ok, said) = apply(&ns, &templated("apim.example.com"));
    assert!(!ok, "{said}");
    assert!(
        said.contains("spec.baseUrl: \"apim.example.com\" is not an absolute http(s) URL"),
        "{said}"
    );
    let (ok, said) = apply(&ns, &templated("https://apim.example.com"));
    assert!(ok, "{said}");

    // What GKO admits is admitted, with a warning: an ingress template (no check at all) and a JWT plan
    // without securityDefinition.
    let template = "apiVersion: gravitee.io/v1alpha1\nkind: ApiDefinition\nmetadata:\n  name: ingress-tpl\n  annotations:\n    gravitee.io/template: \"true\"\nspec:\n  plans: []\n";
    let (ok, said) = apply(&ns, template);
    assert!(ok, "{said}");
    assert!(
        said.contains("this ApiDefinition is an ingress template"),
        "{said}"
    );
    let jwt = r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: jwt
spec:
  name: jwt
  version: "1.0"
  description: e2e
  local: true
  plans:
    - name: jwt
      security: JWT
  proxy:
    virtual_hosts:
      - path: /jwt
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
"#;
    let (ok, said) = apply(&ns, jwt);
    assert!(ok, "{said}");
    assert!(said.contains("GKO admits such a JWT plan"), "{said}");

    cluster::unregister_webhooks(&webhooks);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
