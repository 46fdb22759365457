//! `gko serve`: wires certificates, caches, the engine and the servers together.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::admission::dry_run::ApimDryRun;
use crate::admission::lookup::{Resolver, StaticResolver};
use crate::admission::{Engine, Settings};
use crate::apim::{ClientOptions, Trust};
use crate::cli::ServeArgs;
use crate::cluster::{self, ClusterCache, Scope};
use crate::manifests::ManifestSet;
use crate::offline;
use crate::reconcile::{self, dry_run::DryRunMode};
use crate::server::{self, AppState};
use crate::telemetry::Metrics;
use crate::tls::{self, CertFiles, CertReloader};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(
        "no serving certificate: pass --tls-cert and --tls-key, --self-signed, or --manage-certs"
    )]
    NoCertificate,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot reach a Kubernetes cluster ({0}); set KUBECONFIG, run in a cluster, or pass --manifests to serve without one")]
    NoCluster(String),
    #[error("cannot read --manifests: {0}")]
    Manifests(String),
    #[error("--manage-certs: {0}")]
    Certs(String),
    #[error("{0}")]
    Crds(String),
    #[error("Management API trust: {0}")]
    ApimTrust(String),
    #[error("cannot start the reconciler: {0}")]
    Reconciler(String),
}

/// `--manage-certs`: ensure the certificate in the cluster, write it to --cert-dir, and keep
/// ensuring it in time (renewal, CA rotation) for as long as gko runs. The reloader serves the
/// new files without restart.
async fn managed_certificate(
    args: &ServeArgs,
    stop: &CancellationToken,
) -> Result<CertFiles, ServeError> {
    let client = crate::kube_client::infer(kube_settings(args))
        .await
        .map_err(|e| ServeError::NoCluster(e.to_string()))?;
    let mut cfg = certs_tool::EnsureConfig::new(
        args.webhook_service.clone(),
        args.webhook_namespace.clone(),
        args.cert_secret.clone(),
        args.webhook_configs.clone(),
    );
    cfg.field_manager = "gko".into();
    for san in &args.cert_extra_sans {
        let parsed = san
            .parse::<certs_tool::San>()
            .map_err(|e| ServeError::Certs(e.to_string()))?;
        cfg.certs.extra_sans.push(parsed);
    }
    let outcome = certs_tool::ensure(&client, &cfg)
        .await
        .map_err(|e| ServeError::Certs(e.to_string()))?;
    let files = write_managed(&args.cert_dir, &outcome)?;
    tracing::info!(secret = %cfg.secret_ref(), written = outcome.secret_written, patched = outcome.patched.len(), next = %outcome.next_action_at, "certificate ensured");
    let stop = stop.clone();
    let dir = args.cert_dir.clone();
    tokio::spawn(async move {
        let mut next = outcome.next_action_at;
        loop {
            let wait = (next - time::OffsetDateTime::now_utc())
                .clamp(time::Duration::seconds(5), time::Duration::hours(1));
            let wait =
                std::time::Duration::from_secs(u64::try_from(wait.whole_seconds()).unwrap_or(60));
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            match certs_tool::ensure(&client, &cfg).await {
                Ok(outcome) => {
                    next = outcome.next_action_at;
                    if let Err(e) = write_managed(&dir, &outcome) {
                        tracing::error!(error = %e, "cannot write the renewed certificate");
                    } else if outcome.secret_written || !outcome.patched.is_empty() {
                        tracing::info!(patched = outcome.patched.len(), "certificate renewed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "certificate check failed, retrying in a minute");
                    next = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
                }
            }
        }
    });
    Ok(files)
}

fn write_managed(
    dir: &std::path::Path,
    outcome: &certs_tool::EnsureOutcome,
) -> Result<CertFiles, ServeError> {
    std::fs::create_dir_all(dir)?;
    let files = CertFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    // Key first, then certificate, each through a rename: the reloader only swaps once the pair
    // parses and matches.
    write_atomic(&files.key, outcome.serving.key_pem.expose_pem().as_bytes())?;
    write_atomic(&files.cert, outcome.serving.cert_pem.as_bytes())?;
    write_atomic(&dir.join("ca.crt"), outcome.ca_bundle.as_bytes())?;
    Ok(files)
}

fn write_atomic(path: &std::path::Path, content: &[u8]) -> Result<(), std::io::Error> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

async fn certificate(args: &ServeArgs, stop: &CancellationToken) -> Result<CertFiles, ServeError> {
    if args.manage_certs {
        return managed_certificate(args, stop).await;
    }
    match (&args.tls_cert, &args.tls_key, args.self_signed) {
        (Some(cert), Some(key), _) => Ok(CertFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (_, _, true) => {
            let generated = tls::self_signed(&args.cert_dir, &args.self_signed_sans)?;
            let ca = std::fs::canonicalize(&generated.ca).unwrap_or(generated.ca.clone());
            tracing::info!(ca = %ca.display(), sans = ?args.self_signed_sans, "generated a self-signed CA and serving certificate");
            eprintln!("gko: self-signed CA written to {}", ca.display());
            Ok(generated.files)
        }
        _ => Err(ServeError::NoCertificate),
    }
}

/// The resolver of the webhook over files (`--manifests`), without a cluster.
fn manifest_resolver(args: &ServeArgs) -> Result<Arc<dyn Resolver>, ServeError> {
    {
        let mut errors = Vec::new();
        let docs = offline::load(&args.manifests, &mut errors);
        if let Some(e) = errors.first() {
            return Err(ServeError::Manifests(format!("{}: {}", e.file, e.message)));
        }
        let mut set = ManifestSet::new();
        for d in &docs {
            let ns = d
                .value
                .pointer("/metadata/namespace")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("default");
            set.insert(ns, &d.value);
        }
        tracing::info!(
            documents = docs.len(),
            "serving without a cluster, references resolved against --manifests"
        );
        Ok(Arc::new(StaticResolver(Arc::new(set))))
    }
}

/// The Kubernetes client's timeouts and retries from the flags.
pub fn kube_settings(args: &ServeArgs) -> crate::kube_client::ClientSettings {
    crate::kube_client::ClientSettings {
        request_timeout: args.kube_timeout,
        retries: args.kube_retries,
    }
}

/// The webhook server's limits from the flags.
pub fn server_limits(args: &ServeArgs) -> server::ServerLimits {
    server::ServerLimits {
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
        max_in_flight: args.max_in_flight,
        h2_max_streams: args.h2_max_streams,
        h2_keep_alive: args.h2_keep_alive,
        request_timeout: args.webhook_timeout,
    }
}

/// Reconciler settings from the flags.
pub fn reconcile_settings(args: &ServeArgs) -> reconcile::Settings {
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let holder = args
        .pod_name
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("gko-{}", uuid::Uuid::new_v4()));
    let defaults = reconcile::Settings::default();
    reconcile::Settings {
        scope: Scope::from_list(&args.namespaces),
        concurrency: args.concurrency,
        cluster_id: args.cluster_id.clone(),
        lease: args.leader_election.then(|| reconcile::LeaseSettings {
            name: args.lease_name.clone(),
            namespace: namespace.clone(),
            holder: holder.clone(),
            duration: args.lease_duration,
        }),
        namespace,
        drift_interval: args.drift_interval,
        drift_policy: args.drift_policy,
        apim: ClientOptions {
            request_timeout: args.apim_timeout,
            connect_timeout: args.apim_timeout.min(std::time::Duration::from_secs(5)),
            ..ClientOptions::default()
        },
        instance: holder,
        ..defaults
    }
}

/// The Management API trust from `--apim-ca-file` / `--apim-insecure-skip-verify`, checked at start.
fn apim_trust(args: &ServeArgs) -> Result<Trust, ServeError> {
    let trust = Trust::from_flags(args.apim_ca_file.as_deref(), args.apim_insecure_skip_verify)
        .map_err(|e| ServeError::ApimTrust(e.to_string()))?;
    if trust.insecure_skip_verify() {
        tracing::warn!("{}", crate::apim::INSECURE_WARNING);
        eprintln!("gko: WARNING: {}", crate::apim::INSECURE_WARNING);
    }
    if let Some(file) = &args.apim_ca_file {
        tracing::info!(ca_file = %file.display(), certificates = trust.extra_roots(), "Management API CAs loaded");
    }
    Ok(trust)
}

/// Runs until `stop` is cancelled (SIGTERM), then shuts down gracefully.
pub async fn run(args: ServeArgs, stop: CancellationToken) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::new());
    let files = certificate(&args, &stop).await?;
    let reloader = Arc::new(CertReloader::load(files)?);
    let tls_config = tls::server_config(reloader.cert.clone())?;
    let reload_metrics = metrics.clone();
    reloader.clone().spawn(
        args.cert_reload_interval,
        move || {
            reload_metrics.tls_reloads.inc();
        },
        stop.clone(),
    );

    let client = if args.manifests.is_empty() {
        Some(
            crate::kube_client::infer(kube_settings(&args))
                .await
                .map_err(|e| ServeError::NoCluster(e.to_string()))?,
        )
    } else {
        None
    };
    if let (Some(client), true) = (&client, args.apply_crds) {
        crate::crd::apply::apply_crds(client)
            .await
            .map_err(|e| ServeError::Crds(e.to_string()))?;
    }
    // One cache for the webhook and the reconciler.
    let cache = client.as_ref().map(|client| {
        ClusterCache::start(
            client.clone(),
            &cluster::Options {
                scope: Scope::from_list(&args.namespaces),
                reconcile: args.reconcile,
            },
            &stop,
        )
    });
    let resolver: Arc<dyn Resolver> = match &cache {
        Some(cache) => Arc::new(cache.clone()),
        None => manifest_resolver(&args)?,
    };
    crate::release_unused_memory();
    let engine = Engine::new(Settings {
        cluster_wide_paths: args.cluster_wide_paths,
    });

    let mut settings = reconcile_settings(&args);
    settings.apim.trust = apim_trust(&args)?;
    let mut dry_run: Option<Arc<dyn ApimDryRun>> = None;
    let mut reconciler = None;
    match (&client, cache) {
        (Some(client), Some(cache)) => {
            if args.reconcile || args.apim_dry_run != DryRunMode::Off {
                let id =
                    reconcile::cluster_id(client, args.cluster_id.as_deref(), &settings.namespace)
                        .await;
                tracing::info!(cluster_id = %id, "cluster identity");
                settings.cluster_id = Some(id);
            }
            let runner = reconcile::dry_run::Runner::with_options(
                client.clone(),
                args.apim_dry_run,
                args.apim_dry_run_timeout,
                settings.cluster_id.clone().unwrap_or_default(),
                settings.apim.clone(),
            )
            .map_err(|e| ServeError::Reconciler(e.to_string()))?;
            dry_run = runner.map(|r| Arc::new(r) as Arc<dyn ApimDryRun>);
            if args.reconcile {
                reconciler = Some(tokio::spawn(reconcile::run(
                    cache,
                    settings,
                    metrics.clone(),
                    stop.clone(),
                )));
            }
        }
        _ => {
            if args.apim_dry_run != DryRunMode::Off {
                tracing::warn!("--apim-dry-run needs a cluster (to read credentials): disabled with --manifests");
            }
            tracing::info!("no cluster: the reconciler does not run with --manifests");
        }
    }
    let budget = crate::admission::budget::budget_for(args.webhook_timeout);
    let state = AppState::with_budget(engine, resolver, metrics.clone(), dry_run, budget);
    state.tls_ready.store(true, Ordering::SeqCst);

    let webhook = server::bind(args.listen).await?;
    let probes = server::bind(args.probe_listen).await?;
    tracing::info!(webhook = %webhook.local_addr()?, probes = %probes.local_addr()?, "gko serving");

    let probe_task = tokio::spawn(server::serve_plain(
        probes,
        server::probe_router(state.clone()),
        stop.clone(),
    ));
    server::serve_tls_bounded(
        webhook,
        tls_config,
        server::webhook_router(state),
        stop.clone(),
        args.shutdown_timeout,
        server_limits(&args),
        metrics,
    )
    .await;
    stop.cancel();
    let _ = probe_task.await;
    if let Some(task) = reconciler {
        match tokio::time::timeout(args.shutdown_timeout, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "the reconciler failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "the reconciler task failed"),
            Err(_) => tracing::warn!("gave up waiting for in-flight reconciles"),
        }
    }
    tracing::info!("gko stopped");
    Ok(())
}
