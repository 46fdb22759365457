//! Command line: every flag can also be set from an environment variable (`GKO_*`).

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand, ValueEnum};

use crate::reconcile::dry_run::DryRunMode;
use crate::reconcile::DriftPolicy;

#[derive(Parser, Debug)]
#[command(
    name = "gko",
    version,
    about = "Admission webhook and operator for Gravitee API Management (GKO v1alpha1 manifests)"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "GKO_LOG_FORMAT", value_enum, default_value_t = crate::telemetry::LogFormat::Text, global = true)]
    pub log_format: crate::telemetry::LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,gko=debug`.
    #[arg(long, env = "GKO_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Parsed once at start: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate manifests offline, with the same rules as the webhook; references are resolved
    /// among the given files. Exit 0: all pass; 1: something is denied; 2: unreadable input.
    Validate(ValidateArgs),
    /// Print the CustomResourceDefinitions of the three kinds as YAML.
    Crds,
    /// Run the admission webhook (HTTPS) and the probe/metrics server (HTTP).
    Serve(Box<ServeArgs>),
    /// Remove gko from the cluster for good (the chart's pre-delete hook): delete the webhook
    /// configurations, stop gko's Deployment, remove gko's finalizer from every object. APIM is untouched.
    Cleanup(CleanupArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct CleanupArgs {
    /// Remove gko's finalizer from every ManagementContext, ApiDefinition and ApiResource.
    #[arg(long, env = "GKO_CLEANUP_FINALIZERS")]
    pub finalizers: bool,
    /// Release the Secrets and ConfigMaps a GKO installation still holds (GKO's finalizers and annotations);
    /// needs the rights to list and patch them, which gko's own roles do not have.
    #[arg(long, env = "GKO_CLEANUP_RELEASE_GKO_HOLDS")]
    pub release_gko_holds: bool,
    /// Webhook configurations (validating or mutating) to delete first, so no write is refused meanwhile.
    #[arg(
        long = "webhook-config",
        env = "GKO_CLEANUP_WEBHOOK_CONFIGS",
        value_delimiter = ','
    )]
    pub webhook_configs: Vec<String>,
    /// gko's Deployment, `namespace/name`: deleted and waited for before the finalizers go (a running
    /// reconciler would put them back).
    #[arg(long, env = "GKO_CLEANUP_DEPLOYMENT")]
    pub deployment: Option<String>,
    /// Namespaces whose objects are cleaned (comma-separated); empty: all.
    #[arg(long, env = "GKO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// How long to wait for the Deployment to be gone.
    #[arg(long, env = "GKO_CLEANUP_WAIT", default_value = "120s", value_parser = humantime::parse_duration)]
    pub wait: std::time::Duration,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address of the HTTPS webhook server (POST /validate, POST /mutate).
    #[arg(long, env = "GKO_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: std::net::SocketAddr,
    /// Address of the plain-HTTP server for /healthz, /readyz and /metrics.
    #[arg(long, env = "GKO_PROBE_LISTEN", default_value = "0.0.0.0:8081")]
    pub probe_listen: std::net::SocketAddr,
    /// PEM serving certificate (chain); reloaded without restart when it changes.
    #[arg(
        long,
        env = "GKO_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "GKO_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Without certificate files: generate a CA and a serving certificate at start (written to --cert-dir).
    #[arg(long, env = "GKO_SELF_SIGNED")]
    pub self_signed: bool,
    /// Folder for the generated CA (ca.crt) and serving certificate (tls.crt, tls.key).
    #[arg(long, env = "GKO_CERT_DIR", default_value = "gko-certs")]
    pub cert_dir: PathBuf,
    /// DNS names and IP addresses of the generated serving certificate.
    #[arg(
        long = "self-signed-san",
        env = "GKO_SELF_SIGNED_SANS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub self_signed_sans: Vec<String>,
    /// How often the certificate files are checked for changes.
    #[arg(long, env = "GKO_CERT_RELOAD_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub cert_reload_interval: std::time::Duration,
    /// Namespaces to watch (comma-separated); empty means all namespaces.
    #[arg(long, env = "GKO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Check context-path clashes against ApiDefinitions of every namespace, not only the API's own.
    #[arg(long, env = "GKO_CLUSTER_WIDE_PATHS")]
    pub cluster_wide_paths: bool,
    /// Serve without a cluster: resolve references against these manifest files or folders.
    #[arg(long, env = "GKO_MANIFESTS", value_delimiter = ',')]
    pub manifests: Vec<PathBuf>,
    /// Manage the certificate in the cluster like `certs-tool ensure`: create or renew the CA and
    /// serving certificate in --cert-secret, patch the caBundle of --webhook-config, serve the result
    /// from --cert-dir, and renew in time while running.
    #[arg(long, env = "GKO_MANAGE_CERTS", conflicts_with_all = ["tls_cert", "self_signed"])]
    pub manage_certs: bool,
    /// Service name the serving certificate is made for (with --manage-certs).
    #[arg(long, env = "GKO_WEBHOOK_SERVICE", default_value = "gko-webhook")]
    pub webhook_service: String,
    /// Namespace of that Service and of the certificate Secret (with --manage-certs).
    #[arg(long, env = "GKO_WEBHOOK_NAMESPACE", default_value = "gko")]
    pub webhook_namespace: String,
    /// `kubernetes.io/tls` Secret holding the CA and serving certificate (with --manage-certs).
    #[arg(long, env = "GKO_CERT_SECRET", default_value = "gko-webhook-cert")]
    pub cert_secret: String,
    /// Webhook configurations whose caBundle is kept up to date (with --manage-certs).
    #[arg(
        long = "webhook-config",
        env = "GKO_WEBHOOK_CONFIGS",
        value_delimiter = ',',
        default_value = "gko-validating,gko-mutating"
    )]
    pub webhook_configs: Vec<String>,
    /// Extra DNS names or IP addresses for the managed serving certificate.
    #[arg(
        long = "cert-extra-san",
        env = "GKO_CERT_EXTRA_SANS",
        value_delimiter = ','
    )]
    pub cert_extra_sans: Vec<String>,
    /// At start, server-side apply gko's three CRDs where the cluster's differ (a `helm upgrade` brings
    /// the new fields; Helm never upgrades `crds/`). Needs `get` and `patch` on the three CRDs.
    #[arg(long, env = "GKO_APPLY_CRDS", default_value_t = false, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub apply_crds: bool,
    /// How long in-flight reviews may take to finish after SIGTERM.
    #[arg(long, env = "GKO_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: std::time::Duration,

    /// Run the reconciler (push objects to the Management API, write status) besides the webhook. Needs a
    /// cluster; ignored with --manifests.
    #[arg(long, env = "GKO_RECONCILE", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub reconcile: bool,
    /// Reconciles running at once, per kind (one object is never reconciled twice at once).
    #[arg(long, env = "GKO_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Elect one reconciling replica with a coordination.k8s.io/v1 Lease (all replicas serve the webhook).
    #[arg(long, env = "GKO_LEADER_ELECTION", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(long, env = "GKO_LEASE_NAME", default_value = "gko-reconciler")]
    pub lease_name: String,
    /// Namespace of the Lease (and of the generated cluster id ConfigMap); default: $POD_NAMESPACE, else
    /// `default`.
    #[arg(long, env = "GKO_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a Lease stays valid without renewal (renewed every third of it).
    #[arg(long, env = "GKO_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: std::time::Duration,
    /// Identity of this replica in the Lease and in Events; default: $HOSTNAME.
    #[arg(long, env = "GKO_POD_NAME")]
    pub pod_name: Option<String>,
    /// Identity of this cluster, stamped on every API gko pushes; default: the uid of namespace kube-system,
    /// else a value generated once and kept in ConfigMap gko-cluster-id.
    #[arg(long, env = "GKO_CLUSTER_ID")]
    pub cluster_id: Option<String>,
    /// How often each synced API is compared with APIM (console edits); 0 turns drift checks off.
    #[arg(long, env = "GKO_DRIFT_INTERVAL", default_value = "5m", value_parser = parse_interval)]
    pub drift_interval: std::time::Duration,
    /// What to do with a console edit: report it (condition Drifted, Event) or correct it (push again).
    #[arg(long, env = "GKO_DRIFT_POLICY", value_enum, default_value_t = DriftPolicy::Report)]
    pub drift_policy: DriftPolicy,
    /// Timeout of one Management API call made by the reconciler.
    #[arg(long, env = "GKO_APIM_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub apim_timeout: std::time::Duration,
    /// Dry-run admitted ApiDefinitions against APIM in the validating webhook: off, warn (APIM's errors become
    /// warnings) or enforce (they deny the request; so does an unreachable APIM).
    #[arg(long, env = "GKO_APIM_DRY_RUN", value_enum, default_value_t = DryRunMode::Off)]
    pub apim_dry_run: DryRunMode,
    /// PEM bundle of extra CAs trusted for the Management API, besides the system's and the bundled public
    /// roots (chart value `apimCa`).
    #[arg(long, env = "GKO_APIM_CA_FILE")]
    pub apim_ca_file: Option<PathBuf>,
    /// Do not verify the Management API's TLS certificate at all (tests only: logged and shown in every
    /// context's status).
    #[arg(long, env = "GKO_APIM_INSECURE_SKIP_VERIFY")]
    pub apim_insecure_skip_verify: bool,
    /// Time budget of the webhook's APIM dry run.
    #[arg(long, env = "GKO_APIM_DRY_RUN_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration)]
    pub apim_dry_run_timeout: std::time::Duration,

    /// The webhook configurations' `timeoutSeconds`: every review is answered within a budget derived from it
    /// (the larger of 80% of it and it minus 1s), live reads and the APIM dry run included.
    #[arg(long, env = "GKO_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub webhook_timeout: std::time::Duration,
    /// Time for the response headers of one Kubernetes API request (watches excepted); also bounds connect
    /// (at most 5s) and write.
    #[arg(long, env = "GKO_KUBE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub kube_timeout: std::time::Duration,
    /// Retries of a Kubernetes API answer 429/503/504 (delays from 50ms doubling, capped at 500ms).
    #[arg(long, env = "GKO_KUBE_RETRIES", default_value_t = 3)]
    pub kube_retries: u32,
    /// Time a new webhook connection, or an idle HTTP/1.1 one that started sending a request, has to deliver
    /// complete request headers (slowloris bound; includes the TLS handshake of a new connection).
    #[arg(long, env = "GKO_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: std::time::Duration,
    /// Idle keep-alive timeout of a webhook connection with no request in flight; above the API server's own
    /// 90s so that it always closes its idle connections first.
    #[arg(long, env = "GKO_IDLE_TIMEOUT", default_value = "120s", value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Webhook connections open at once; a connection beyond it is closed at once.
    #[arg(long, env = "GKO_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Reviews in progress at once; a review beyond it is answered 429 at once.
    #[arg(long, env = "GKO_MAX_IN_FLIGHT", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// HTTP/2 streams open at once on one webhook connection.
    #[arg(long, env = "GKO_H2_MAX_STREAMS", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub h2_max_streams: u32,
    /// HTTP/2 keep-alive PING interval on an open webhook connection; the peer must answer within as long.
    #[arg(long, env = "GKO_H2_KEEP_ALIVE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub h2_keep_alive: std::time::Duration,
}

/// A duration, or `0` / `off` for none.
fn parse_interval(s: &str) -> Result<std::time::Duration, String> {
    match s.trim() {
        "0" | "off" | "" => Ok(std::time::Duration::ZERO),
        other => humantime::parse_duration(other).map_err(|e| e.to_string()),
    }
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Files or folders (walked recursively for .yaml, .yml and .json); multi-document YAML is fine.
    #[arg(short = 'f', long = "filename", required = true, num_args = 1.., env = "GKO_VALIDATE_FILES", value_delimiter = ',')]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Text, env = "GKO_VALIDATE_OUTPUT")]
    pub output: OutputFormat,
    /// Namespace of documents that do not set metadata.namespace.
    #[arg(short = 'n', long, default_value = "default", env = "GKO_NAMESPACE")]
    pub namespace: String,
    /// Check context-path clashes against ApiDefinitions of every namespace, not only the API's own.
    #[arg(long, env = "GKO_CLUSTER_WIDE_PATHS")]
    pub cluster_wide_paths: bool,
    /// Report references to objects that are not among the files as warnings, not denials.
    #[arg(long, env = "GKO_ALLOW_MISSING_REFS")]
    pub allow_missing_refs: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}
