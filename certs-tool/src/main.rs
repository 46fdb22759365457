//! `certs-tool`: the gko webhook's certificates, for Helm hook Jobs and local tests.
//!
//! Exit codes: 0 success (for `check`: nothing to do), 3 `check` found changes to make,
//! 1 error, 2 usage error.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use certs_tool::{
    check, ensure, generate_self_signed, parse_duration, write_self_signed, CertConfig,
    EnsureConfig, Lifetime, San, DEFAULT_FIELD_MANAGER,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use time::{Duration, OffsetDateTime};
use tracing::info;

/// Exit code of `check` when `ensure` would change something.
const EXIT_CHANGES_NEEDED: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "certs-tool",
    version,
    about = "Creates, rotates and installs the gko webhook CA and serving certificate"
)]
struct Cli {
    /// Log format on stderr (level from CERTS_TOOL_LOG, e.g. `debug`; default `info`).
    #[arg(long, env = "CERTS_TOOL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create or reuse the CA and serving certificate, renew/rotate when due, store them in the
    /// Secret and patch the caBundle of every webhook of the named configurations.
    Ensure(ClusterArgs),
    /// Print what `ensure` would do, writing nothing. Exit 0: nothing to do; 3: changes needed.
    Check(ClusterArgs),
    /// Write ca.crt, tls.crt and tls.key for the given names into a directory (no cluster).
    Generate(GenerateArgs),
}

#[derive(Args, Debug)]
struct ValidityArgs {
    /// Validity of a new CA (s, m, h, d, w, y units, e.g. 5y, 90d, 1h30m).
    #[arg(long, env = "CERTS_TOOL_CA_VALIDITY", default_value = "5y", value_parser = parse_duration)]
    ca_validity: Duration,
    /// Validity of a new serving certificate (never beyond the CA's).
    #[arg(long, env = "CERTS_TOOL_SERVING_VALIDITY", default_value = "1y", value_parser = parse_duration)]
    serving_validity: Duration,
    /// notBefore is set this far in the past, for clock skew.
    #[arg(long, env = "CERTS_TOOL_BACKDATE", default_value = "1m", value_parser = parse_duration)]
    backdate: Duration,
}

#[derive(Args, Debug)]
struct ClusterArgs {
    /// Name of the webhook Service (SANs svc, svc.ns, svc.ns.svc, svc.ns.svc.<cluster-domain>).
    #[arg(long, env = "CERTS_TOOL_SERVICE")]
    service: String,
    /// Namespace of the Service and of the Secret.
    #[arg(long, env = "CERTS_TOOL_NAMESPACE")]
    namespace: String,
    /// Name of the kubernetes.io/tls Secret holding tls.crt, tls.key, ca.crt, ca.key (and
    /// ca-previous.crt during a CA change).
    #[arg(long, env = "CERTS_TOOL_SECRET")]
    secret: String,
    /// Validating and/or MutatingWebhookConfiguration whose webhooks get the caBundle
    /// (repeatable; comma-separated in the env var).
    #[arg(long = "webhook-config", env = "CERTS_TOOL_WEBHOOK_CONFIG", value_delimiter = ',', num_args = 1..)]
    webhook_configs: Vec<String>,
    /// Additional SAN: DNS name or IP address (repeatable; comma-separated in the env var).
    #[arg(long = "extra-san", env = "CERTS_TOOL_EXTRA_SAN", value_delimiter = ',', num_args = 1..)]
    extra_sans: Vec<San>,
    /// Cluster DNS domain.
    #[arg(
        long,
        env = "CERTS_TOOL_CLUSTER_DOMAIN",
        default_value = "cluster.local"
    )]
    cluster_domain: String,
    /// After a CA rotation, the old CA leaves the caBundle once a serving certificate signed by
    /// the new CA has been in the Secret this long (or the old CA expired).
    #[arg(long, env = "CERTS_TOOL_CA_OVERLAP", default_value = "1h", value_parser = parse_duration)]
    ca_overlap: Duration,
    /// Field manager of our writes.
    #[arg(long, env = "CERTS_TOOL_FIELD_MANAGER", default_value = DEFAULT_FIELD_MANAGER)]
    field_manager: String,
    #[command(flatten)]
    validity: ValidityArgs,
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Directory to write ca.crt, tls.crt and tls.key (0600) into; created if missing.
    #[arg(long, env = "CERTS_TOOL_OUT_DIR")]
    out_dir: PathBuf,
    /// DNS name for the serving certificate (repeatable; comma-separated in the env var).
    #[arg(long = "dns", env = "CERTS_TOOL_DNS", value_delimiter = ',', num_args = 1..)]
    dns: Vec<String>,
    /// IP address for the serving certificate (repeatable; comma-separated in the env var).
    #[arg(long = "ip", env = "CERTS_TOOL_IP", value_delimiter = ',', num_args = 1..)]
    ip: Vec<IpAddr>,
    #[command(flatten)]
    validity: ValidityArgs,
}

impl ClusterArgs {
    fn to_config(&self) -> EnsureConfig {
        EnsureConfig {
            secret_name: self.secret.clone(),
            webhook_configs: self.webhook_configs.clone(),
            field_manager: self.field_manager.clone(),
            certs: CertConfig {
                service: self.service.clone(),
                namespace: self.namespace.clone(),
                cluster_domain: self.cluster_domain.clone(),
                extra_sans: self.extra_sans.clone(),
                ca_validity: self.validity.ca_validity,
                serving_validity: self.validity.serving_validity,
                ca_overlap: self.ca_overlap,
                backdate: self.validity.backdate,
            },
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CERTS_TOOL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn client() -> anyhow::Result<kube::Client> {
    kube::Client::try_default()
        .await
        .context("cannot build a Kubernetes client (in-cluster config or KUBECONFIG)")
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ensure(args) => {
            let cfg = args.to_config();
            cfg.certs.validate()?;
            let outcome = ensure(&client().await?, &cfg).await?;
            info!(
                secret = %cfg.secret_ref(),
                secret_written = outcome.secret_written,
                patched_configs = outcome.patched.len(),
                next_action_at = %outcome.next_action_at,
                "{}",
                if outcome.plan.is_noop() { "up to date" } else { "done" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(args) => {
            let cfg = args.to_config();
            cfg.certs.validate()?;
            let plan = check(&client().await?, &cfg).await?;
            let steps = plan.steps(&cfg.secret_ref());
            if steps.is_empty() {
                println!("nothing to do");
                Ok(ExitCode::SUCCESS)
            } else {
                for step in steps {
                    println!("{step}");
                }
                Ok(ExitCode::from(EXIT_CHANGES_NEEDED))
            }
        }
        Command::Generate(args) => {
            let mut sans = Vec::new();
            for name in &args.dns {
                sans.push(name.parse::<San>()?);
            }
            sans.extend(args.ip.iter().copied().map(San::Ip));
            if sans.is_empty() {
                anyhow::bail!("give at least one --dns or --ip");
            }
            let lifetime = |validity| Lifetime {
                validity,
                backdate: args.validity.backdate,
            };
            let certs = generate_self_signed(
                &sans,
                OffsetDateTime::now_utc(),
                lifetime(args.validity.ca_validity),
                lifetime(args.validity.serving_validity),
            )?;
            write_self_signed(&args.out_dir, &certs)?;
            info!(dir = %args.out_dir.display(), sans = ?sans.iter().map(ToString::to_string).collect::<Vec<_>>(), "wrote ca.crt, tls.crt, tls.key");
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
