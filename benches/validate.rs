//! How long `gko validate` takes on a realistic repository of 1,000 ApiDefinitions.
//!
//! `cargo bench --bench validate` generates 1,000 APIs (plans, flows, three endpoint groups,
//! unique paths, all in one namespace so the context-path clash check sees every pair) plus their
//! ManagementContext and Secret into a temporary folder, one file per API, then times
//! `gko::offline::run` over the folder, and the release binary end to end when it is built.
//! It prints min and median of several iterations, wall clock and (on Linux) CPU time, the
//! steadier figure on a shared machine; it asserts nothing about time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gko::admission::{Engine, Settings};
use gko::offline::{self, Options};

const APIS: usize = 1_000;
const ITERATIONS: usize = 7;

fn main() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("bench: cannot create a temp folder: {e}");
            return;
        }
    };
    if let Err(e) = generate(dir.path()) {
        eprintln!("bench: cannot write the manifests: {e}");
        return;
    }
    let paths = vec![dir.path().to_path_buf()];
    bench_library(&paths);
    bench_binary(dir.path());
}

/// Times `offline::run` (read, parse, resolve, validate) in-process.
fn bench_library(paths: &[PathBuf]) {
    let engine = Engine::new(Settings::default());
    let options = Options {
        namespace: "default".into(),
        allow_missing_refs: false,
    };
    // The first run also compiles the CRD schemas (once per process): report it on its own.
    let start = Instant::now();
    let report = offline::run(paths, &engine, &options);
    let first = start.elapsed();
    let denied = report.denied();
    let checked = report.objects.len();
    if denied > 0 || !report.errors.is_empty() {
        eprintln!(
            "bench: the generated set is not valid:\n{}",
            report.to_text()
        );
    }
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..ITERATIONS {
        let (cpu_start, start) = (own_cpu_time(), Instant::now());
        let report = offline::run(paths, &engine, &options);
        wall.push(start.elapsed());
        if let (Some(a), Some(b)) = (cpu_start, own_cpu_time()) {
            cpu.push(b.saturating_sub(a));
        }
        std::hint::black_box(report);
    }
    println!(
        "offline::run, {checked} objects ({APIS} ApiDefinitions), {denied} denied: first run {} (includes schema compilation)",
        ms(first)
    );
    print_times(wall, cpu);
}

fn print_times(wall: Vec<Duration>, cpu: Vec<Duration>) {
    println!("  wall: {}", summary(wall));
    if !cpu.is_empty() {
        println!("  cpu:  {}", summary(cpu));
    }
}

/// CPU time of this (single-threaded) benchmark, from Linux's schedstat; `None` elsewhere.
fn own_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// CPU time of the finished child processes, from Linux's /proc/self/stat (10 ms resolution).
fn children_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // cutime and cstime are fields 16 and 17; count after the command name, which is in
    // parentheses and may contain spaces.
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Times the release binary end to end (process start, schema compilation, report printing).
fn bench_binary(dir: &Path) {
    let bin = Path::new(env!("CARGO_BIN_EXE_gko"));
    if !bin.exists() {
        println!("gko binary: not built, skipped");
        return;
    }
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..ITERATIONS {
        let (cpu_start, start) = (children_cpu_time(), Instant::now());
        let out = Command::new(bin).args(["validate", "-f"]).arg(dir).output();
        let elapsed = start.elapsed();
        if let (Some(a), Some(b)) = (cpu_start, children_cpu_time()) {
            cpu.push(b.saturating_sub(a));
        }
        match out {
            Ok(o) if o.status.success() => times.push(elapsed),
            Ok(o) => {
                println!(
                    "gko binary: exit {:?}, not timed:\n{}",
                    o.status.code(),
                    String::from_utf8_lossy(&o.stdout)
                );
                return;
            }
            Err(e) => {
                println!("gko binary: cannot run {}: {e}", bin.display());
                return;
            }
        }
    }
    println!("{} validate -f <folder>:", bin.display());
    print_times(times, cpu);
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let min = times.first().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    format!(
        "min {} / median {} over {} runs",
        ms(min),
        ms(median),
        times.len()
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Writes the context, its Secret and the APIs, one file each, into nested team folders.
fn generate(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("context.yaml"), CONTEXT)?;
    for i in 0..APIS {
        let team = dir.join(format!("team-{:02}", i % 20));
        std::fs::create_dir_all(&team)?;
        std::fs::write(team.join(format!("api-{i:04}.yaml")), api(i))?;
    }
    Ok(())
}

const CONTEXT: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: apim-credentials
stringData:
  username: gko
  password: secret
---
apiVersion: gravitee.io/v1alpha1
kind: ManagementContext
metadata:
  name: apim
spec:
  baseUrl: https://apim.example.com
  organizationId: DEFAULT
  environmentId: DEFAULT
  auth:
    secretRef:
      name: apim-credentials
"#;

/// A realistic API: three plans (one JWT), an inline cache, two flows with policies, three
/// endpoint groups with two endpoints each, and a unique context path.
fn api(i: usize) -> String {
    format!(
        r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: service-{i}
  labels:
    team: team-{team:02}
spec:
  name: Service {i}
  version: "1.{minor}"
  description: Generated API number {i}
  contextRef:
    name: apim
  visibility: PRIVATE
  flow_mode: BEST_MATCH
  tags: [internal]
  properties:
    - key: owner
      value: team-{team:02}
  resources:
    - name: cache
      type: cache
      configuration:
        timeToIdleSeconds: 0
        timeToLiveSeconds: 120
        maxEntriesLocalHeap: 1000
  plans:
    - name: free
      description: Anyone
      security: KEY_LESS
      flows:
        - name: rate
          path-operator: {{path: /, operator: STARTS_WITH}}
          pre:
            - name: Rate limit
              policy: rate-limit
              configuration:
                rate: {{limit: 10, periodTime: 1, periodTimeUnit: SECONDS}}
    - name: partners
      security: API_KEY
      validation: MANUAL
    - name: customers
      security: JWT
      securityDefinition: '{{"signature":"RSA_RS256","publicKeyResolver":"JWKS_URL","resolverParameter":"https://login.example.com/jwks.json"}}'
  flows:
    - name: cache-reads
      path-operator: {{path: /items, operator: STARTS_WITH}}
      methods: [GET, HEAD]
      pre:
        - name: Cache
          policy: cache
          configuration: {{cacheName: cache, timeToLiveSeconds: 60, scope: APPLICATION}}
    - name: headers
      path-operator: {{path: /, operator: STARTS_WITH}}
      post:
        - name: Transform headers
          policy: transform-headers
          configuration:
            addHeaders:
              - {{name: X-Service, value: service-{i}}}
  proxy:
    virtual_hosts:
      - path: /services/service-{i}
    strip_context_path: false
    groups:
      - name: primary
        load_balancing: {{type: ROUND_ROBIN}}
        endpoints:
          - {{name: a, target: "https://a.service-{i}.internal/api", weight: 1}}
          - {{name: b, target: "https://b.service-{i}.internal/api", weight: 1}}
        http: {{connectTimeout: 5000, readTimeout: 10000, keepAlive: true}}
      - name: secondary
        endpoints:
          - {{name: a, target: "https://a.dr.service-{i}.internal/api"}}
          - {{name: b, target: "https://b.dr.service-{i}.internal/api", backup: true}}
      - name: legacy
        endpoints:
          - {{name: soap, target: "http://legacy.internal:8080/service-{i}"}}
          - {{name: soap-backup, target: "http://legacy-2.internal:8080/service-{i}", backup: true}}
"#,
        team = i % 20,
        minor = i % 7
    )
}
