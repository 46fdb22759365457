//! Playing the kubelet and the Job controller on a cluster that runs no pods (the project's envtest):
//! what a pod of the chart would run, run here with the pod's own identity (its ServiceAccount's token,
//! `kubectl create token`), its arguments and environment, and its Secret volumes written where they
//! are mounted. `Jobs` runs every Job that appears in a namespace and writes its completion, so that
//! `helm install|upgrade|uninstall` with hooks run to the end as on a real cluster.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::cluster::{kubectl, kubectl_ok, text};

pub fn helm_bin() -> String {
    std::env::var("HELM").unwrap_or_else(|_| "helm".into())
}

pub fn helm_available() -> bool {
    Command::new(helm_bin())
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs helm with `args` (the current `KUBECONFIG`).
pub fn helm(args: &[&str]) -> Output {
    Command::new(helm_bin())
        .args(args)
        .output()
        .expect("helm runs")
}

/// The strings of a JSON array (`[]` for anything else).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A kubeconfig for ServiceAccount `ns/sa`: the current cluster's server and CA, the SA's token.
pub fn service_account_kubeconfig(ns: &str, sa: &str, dir: &Path) -> PathBuf {
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
    let path = dir.join(format!("{ns}-{sa}.kubeconfig"));
    std::fs::write(&path, config.to_string()).expect("write kubeconfig");
    path
}

/// Writes a Secret's items under `dir` as the kubelet mounts them (key -> path).
pub fn mount_secret(ns: &str, secret: &str, volume: &Value, dir: &Path) {
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

/// The local binary for an image command: `gko` and `certs-tool` are what the image holds.
fn binary(command: &str, certs_tool: &Path) -> PathBuf {
    match command {
        "gko" => PathBuf::from(env!("CARGO_BIN_EXE_gko")),
        "certs-tool" => certs_tool.to_path_buf(),
        other => panic!("the chart runs {other}, which the image does not hold"),
    }
}

/// Runs a Job's (first) container as the Job's ServiceAccount: its command, args and plain env.
pub fn run_job(job: &Value, certs_tool: &Path, dir: &Path) -> Output {
    let ns = job["metadata"]["namespace"].as_str().unwrap_or("default");
    let pod = &job["spec"]["template"]["spec"];
    let sa = pod["serviceAccountName"].as_str().unwrap_or("default");
    let kubeconfig = service_account_kubeconfig(ns, sa, dir);
    let container = &pod["containers"][0];
    let command = strings(&container["command"]);
    let mut cmd = Command::new(binary(command.first().expect("a command"), certs_tool));
    cmd.args(&command[1..])
        .args(strings(&container["args"]))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("GKO_NAMESPACES");
    for env in container["env"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (env["name"].as_str(), env["value"].as_str()) {
            cmd.env(name, value);
        }
    }
    cmd.output().expect("the Job's command runs")
}

/// One Job run by [`Jobs`].
#[derive(Clone, Debug)]
pub struct JobRun {
    pub name: String,
    pub hook: String,
    pub ok: bool,
    pub output: String,
}

/// The Job controller (and kubelet) of a namespace: every new Job is run once as its ServiceAccount,
/// then its status says Complete (or Failed), which is what Helm waits for.
pub struct Jobs {
    stop: Arc<AtomicBool>,
    runs: Arc<Mutex<Vec<JobRun>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Jobs {
    pub fn start(ns: &str, certs_tool: &Path, dir: &Path) -> Jobs {
        let stop = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let (ns, certs_tool, dir) = (ns.to_owned(), certs_tool.to_owned(), dir.to_owned());
        let (stop2, runs2) = (stop.clone(), runs.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = HashSet::new();
            while !stop2.load(Ordering::Relaxed) {
                for job in list_jobs(&ns) {
                    let uid = job["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if !seen.insert(uid) {
                        continue;
                    }
                    let out = run_job(&job, &certs_tool, &dir);
                    let name = job["metadata"]["name"].as_str().unwrap_or_default();
                    let status = if out.status.success() {
                        json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
                    } else {
                        json!({"status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}})
                    };
                    // The Job may already be gone (helm deleted it): nothing to write then.
                    let _ = kubectl(
                        &[
                            "patch",
                            "job",
                            name,
                            "-n",
                            &ns,
                            "--subresource=status",
                            "--type=merge",
                            "-p",
                            &status.to_string(),
                        ],
                        None,
                    );
                    if let Ok(mut runs) = runs2.lock() {
                        runs.push(JobRun {
                            name: name.to_owned(),
                            hook: job["metadata"]["annotations"]["helm.sh/hook"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                            ok: out.status.success(),
                            output: text(&out),
                        });
                    }
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        Jobs {
            stop,
            runs,
            thread: Some(thread),
        }
    }

    /// The Jobs run so far, in order.
    pub fn runs(&self) -> Vec<JobRun> {
        self.runs.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Jobs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn list_jobs(ns: &str) -> Vec<Value> {
    let out = kubectl(&["get", "jobs", "-n", ns, "-o", "json"], None);
    if !out.status.success() {
        return Vec::new();
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}
