//! End to end: the chart's objects and commands against a real API server (admin identity).

use super::*;
use crate::support::cluster::certs_tool_bin;

// ---- End to end: the chart's objects and commands against a real API server ------------------

/// Without Pods (envtest has none), runs what the pods would: the pre-install Job's certs-tool,
/// the release objects (Service, webhook configurations), the post-install Job's certs-tool, then
/// gko with the Deployment's arguments and the Secret's files where the volume puts them. The API
/// server then calls gko through the Service clientConfig with the caBundle certs-tool set, so the
/// Service name, namespace and port, the certificate's names and the arguments all have to agree.
#[test]
fn the_chart_certifies_the_webhook_through_the_api_server() {
    if skip("the_chart_certifies_the_webhook_through_the_api_server")
        || support::cluster::skip("the_chart_certifies_the_webhook_through_the_api_server")
    {
        return;
    }
    let Some(certs_tool) = certs_tool_bin() else {
        println!("skipped: the_chart_certifies_the_webhook_through_the_api_server: no certs-tool binary (cargo build -p certs-tool, or set CERTS_TOOL)");
        return;
    };
    use support::cluster::{self, kubectl, kubectl_ok, text, Gko};
    let id = cluster::run_id();
    let release = format!("gko-{id}");
    let ns = release.clone();
    let user_ns = format!("e2e-chart-{id}");
    cluster::apply_crds();
    kubectl_ok(&["create", "namespace", &ns], None);
    cluster::namespace(&user_ns, &id);
    // envtest dials a Service at 127.0.0.1:<service port>: gko listens there (service port =
    // container port here, as envtest has no kube-proxy to map one to the other).
    let port = cluster::free_port();
    let probe_port = cluster::free_port();
    let r = render(
        &release,
        &ns,
        json!({
            "service": {"port": port},
            "probes": {"port": probe_port},
            "bindAddress": "127.0.0.1",
            // Only this test's namespace: other tests share the cluster.
            "webhook": {"port": port, "namespaceSelector": {"matchLabels": {"gko-e2e": id}}},
            "log": {"format": "text", "level": "info,gko=debug"}
        }),
    );
    let run_job = |job: &Value| {
        let args = Rendered::job_args(job);
        let out = Command::new(&certs_tool)
            .args(&args)
            .output()
            .expect("certs-tool runs");
        assert!(
            out.status.success(),
            "certs-tool {args:?}:\n{}",
            out_text(&out)
        );
    };
    let apply = |doc: &Value| {
        kubectl_ok(&["apply", "-f", "-"], Some(&doc.to_string()));
    };

    // helm install: crds/, pre-install hooks, release objects, post-install hooks.
    run_job(r.one("Job", &format!("{release}-certs")));
    let secret = format!("{release}-webhook-cert");
    let got: Value = serde_json::from_str(&kubectl_ok(
        &["get", "secret", "-n", &ns, &secret, "-o", "json"],
        None,
    ))
    .expect("json");
    assert_eq!(got["type"], "kubernetes.io/tls");
    apply(r.service());
    let validating = r.one(
        "ValidatingWebhookConfiguration",
        &format!("{release}-validating"),
    );
    let mutating = r.one(
        "MutatingWebhookConfiguration",
        &format!("{release}-mutating"),
    );
    apply(validating);
    apply(mutating);
    let cleanup = || {
        for (kind, d) in [
            ("validatingwebhookconfiguration", validating),
            ("mutatingwebhookconfiguration", mutating),
        ] {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            let _ = kubectl(&["delete", "--ignore-not-found", kind, name], None);
        }
        let _ = kubectl(&["delete", "namespace", &user_ns, "--wait=false"], None);
        let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
    };
    run_job(r.one("Job", &format!("{release}-certs-patch")));
    for (kind, d) in [
        ("validatingwebhookconfiguration", validating),
        ("mutatingwebhookconfiguration", mutating),
    ] {
        let name = d["metadata"]["name"].as_str().expect("name");
        let bundle = kubectl_ok(
            &[
                "get",
                kind,
                name,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ],
            None,
        );
        assert!(
            bundle.len() > 100,
            "{kind} {name} has a caBundle after the post-install Job"
        );
    }

    // The pod: the Secret's items where the volume mounts them, the Deployment's arguments.
    let dir = tempfile::tempdir().expect("temp dir");
    let mount = r.container()["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "tls")
        .expect("tls mount")["mountPath"]
        .as_str()
        .expect("path")
        .to_string();
    let secret_json: Value = serde_json::from_str(&kubectl_ok(
        &["get", "secret", "-n", &ns, &secret, "-o", "json"],
        None,
    ))
    .expect("json");
    let volume = r.pod_spec()["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "tls")
        .expect("tls volume");
    assert_eq!(volume["secret"]["secretName"], secret.as_str());
    let local_mount = dir.path().join("tls");
    std::fs::create_dir_all(&local_mount).expect("mkdir");
    for item in volume["secret"]["items"].as_array().expect("items") {
        use base64::Engine as _;
        let key = item["key"].as_str().expect("key");
        let data = base64::engine::general_purpose::STANDARD
            .decode(
                secret_json["data"][key]
                    .as_str()
                    .expect("key in the Secret"),
            )
            .expect("base64");
        std::fs::write(local_mount.join(item["path"].as_str().expect("path")), data)
            .expect("write");
    }
    let local = local_mount.display().to_string();
    let argv: Vec<String> = r
        .argv()
        .into_iter()
        .skip(1)
        .map(|a| a.replace(&mount, &local))
        .collect();
    let gko = Gko::start_argv(&argv, port, probe_port, dir.path());

    // A bad ApiDefinition is refused by gko, called through the Service.
    let bad = r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: bad
spec:
  name: bad
  version: "1.0"
  contextRef:
    name: missing
  plans:
    - name: free
      security: KEYLESS
  proxy:
    virtual_hosts:
      - path: /bad
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
"#;
    let out = kubectl(&["apply", "-n", &user_ns, "-f", "-"], Some(bad));
    let said = text(&out);
    if out.status.success() || !said.contains("denied the request") {
        cleanup();
        panic!(
            "the bad API must be refused by gko:\n{said}\n--- gko log:\n{}",
            gko.log_text()
        );
    }
    assert!(
        said.contains("admission webhook \"validate.gko.gravitee.io\" denied the request"),
        "{said}"
    );
    assert!(said.contains("did you mean KEY_LESS?"), "{said}");

    // The mutating webhook too: the context's base URL loses its trailing slash.
    let context = r#"apiVersion: v1
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
    let out = kubectl(&["apply", "-n", &user_ns, "-f", "-"], Some(context));
    let admitted = out.status.success();
    let stored = kubectl(
        &[
            "get",
            "-n",
            &user_ns,
            "managementcontext",
            "apim",
            "-o",
            "jsonpath={.spec.baseUrl}",
        ],
        None,
    );
    cleanup();
    assert!(
        admitted,
        "the context is admitted:\n{}\n{}",
        text(&out),
        gko.log_text()
    );
    assert_eq!(
        String::from_utf8_lossy(&stored.stdout),
        "https://apim.example.com"
    );
}
