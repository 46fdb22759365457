//! Helpers for end-to-end tests against a real API server (`KUBECONFIG`: the project's envtest
//! or any cluster): kubectl, namespaces, CRDs, url webhooks, and a `gko serve` child process.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// True (after saying so) when there is no cluster to test against.
pub fn skip(test: &str) -> bool {
    if std::env::var_os("KUBECONFIG").is_none() {
        println!("skipped: {test}: KUBECONFIG not set (start /work/shared/envtest/up.sh DIR and source DIR/env, or point it at a cluster)");
        return true;
    }
    false
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A short unique suffix so tests can run again against the same cluster.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{:x}{:x}",
        (nanos / 1000) % 0xffffff,
        std::process::id() % 0xfff
    )
}

pub fn kubectl_bin() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into())
}

/// Runs kubectl with `args`, feeding `stdin` when given.
pub fn kubectl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(kubectl_bin());
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("kubectl runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("kubectl finishes")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs kubectl and fails the test with its output when it fails.
pub fn kubectl_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kubectl(args, stdin);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Applies gko's CRDs and waits until they are established.
pub fn apply_crds() {
    let crds = repo().join("charts/gko/crds/gko-crds.yaml");
    kubectl_ok(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &crds.display().to_string(),
        ],
        None,
    );
    for crd in [
        "managementcontexts.gravitee.io",
        "apidefinitions.gravitee.io",
        "apiresources.gravitee.io",
        "apiv4definitions.gravitee.io",
    ] {
        kubectl_ok(
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                &format!("crd/{crd}"),
            ],
            None,
        );
    }
}

/// Creates a namespace labelled `gko-e2e=<label>` (the label the test webhooks select).
pub fn namespace(name: &str, label: &str) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": {"gko-e2e": label}}});
    kubectl_ok(&["apply", "-f", "-"], Some(&ns.to_string()));
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Reads `webhook-config/{validating,mutating}.yaml`, renames the configurations after `id`, points
/// them at `https://127.0.0.1:<port>` with `ca_pem` as caBundle, selects namespaces labelled
/// `gko-e2e=<id>`, and applies them.
pub fn register_webhooks(id: &str, port: u16, ca_pem: &[u8]) -> Vec<String> {
    let bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let mut names = Vec::new();
    for file in ["validating.yaml", "mutating.yaml"] {
        let yaml = std::fs::read_to_string(repo().join("webhook-config").join(file))
            .expect("webhook-config file");
        let mut config: Value = serde_saphyr::from_str(&yaml).expect("webhook-config YAML");
        let kind = config["kind"].as_str().unwrap_or_default().to_string();
        let name = format!(
            "{}-{id}",
            config["metadata"]["name"].as_str().unwrap_or("gko")
        );
        config["metadata"]["name"] = json!(name);
        for webhook in config["webhooks"].as_array_mut().expect("webhooks") {
            let path = webhook["clientConfig"]["service"]["path"]
                .as_str()
                .unwrap_or("/")
                .to_string();
            webhook["clientConfig"] =
                json!({"url": format!("https://127.0.0.1:{port}{path}"), "caBundle": bundle});
            webhook["namespaceSelector"] = json!({"matchLabels": {"gko-e2e": id}});
        }
        kubectl_ok(&["apply", "-f", "-"], Some(&config.to_string()));
        names.push(format!("{}/{name}", kind.to_lowercase()));
    }
    names
}

/// Deletes what `register_webhooks` made.
pub fn unregister_webhooks(names: &[String]) {
    for n in names {
        let _ = kubectl(&["delete", "--ignore-not-found", n], None);
    }
}

/// A running `gko serve`, stopped with SIGTERM when dropped.
pub struct Gko {
    pub child: Child,
    pub port: u16,
    pub probe_port: u16,
    pub log: PathBuf,
}

impl Gko {
    /// Starts `gko serve` with `args` (plus listen addresses) and waits until `/readyz` is ok.
    pub fn start(args: &[&str], log_dir: &Path) -> Gko {
        Gko::start_on(free_port(), args, log_dir)
    }

    /// Like [`Gko::start`], with the webhook on `port`.
    pub fn start_on(port: u16, args: &[&str], log_dir: &Path) -> Gko {
        let probe_port = free_port();
        let mut all = vec![
            "serve".to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--probe-listen".into(),
            format!("127.0.0.1:{probe_port}"),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        Gko::start_argv(&all, port, probe_port, log_dir)
    }

    /// Starts `gko` with exactly `argv` (after the program name), which must make it listen on
    /// `port` (webhook) and `probe_port` (probes), and waits until `/readyz` is ok.
    pub fn start_argv(argv: &[String], port: u16, probe_port: u16, log_dir: &Path) -> Gko {
        let log = log_dir.join(format!("gko-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_gko"))
            .args(argv)
            .env("GKO_LOG", "info,gko=debug")
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .spawn()
            .expect("gko serve starts");
        let gko = Gko {
            child,
            port,
            probe_port,
            log,
        };
        gko.wait_ready(Duration::from_secs(30));
        gko
    }

    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.probe_port)) {
                use std::io::Read;
                let _ = s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "gko serve not ready in time; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Gko {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The certs-tool binary: `CERTS_TOOL`, else the one cargo built next to gko.
pub fn certs_tool_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CERTS_TOOL") {
        return Some(PathBuf::from(p));
    }
    let gko = PathBuf::from(env!("CARGO_BIN_EXE_gko"));
    let p = gko.with_file_name(format!("certs-tool{}", std::env::consts::EXE_SUFFIX));
    p.exists().then_some(p)
}

/// Every field of `sent` is in `stored` with the same value (the server may add defaults).
pub fn assert_subset(sent: &Value, stored: &Value, path: &str) {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let there = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k} was pruned by the API server"));
                assert_subset(v, there, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: list length changed");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, &format!("{path}[{i}]"));
            }
        }
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{path}"),
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}
