use std::process::ExitCode;

use clap::Parser;
use gko::admission::{Engine, Settings};
use gko::cli::{Cli, Command, OutputFormat};
use gko::offline;

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // `gko serve` also reads GKO's environment variables (its chart's): translated into gko's, then
    // parsed again.
    let mut gko_vars = None;
    if matches!(cli.command, Command::Serve(_)) {
        let translation = gko::gko_env::apply_to_process();
        if !translation.set.is_empty() {
            cli = Cli::parse();
        }
        gko_vars = Some(translation);
    }
    gko::telemetry::init_logging(cli.log_format, &cli.log);
    if let Some(translation) = gko_vars {
        translation.log();
    }
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Cleanup(args) => cleanup(args),
        Command::Crds => match gko::crd::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gko crds: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Validate(args) => {
            let engine = Engine::new(Settings {
                cluster_wide_paths: args.cluster_wide_paths,
            });
            let options = offline::Options {
                namespace: args.namespace,
                allow_missing_refs: args.allow_missing_refs,
            };
            let report = offline::run(&args.files, &engine, &options);
            match args.output {
                OutputFormat::Text => print!("{}", report.to_text()),
                OutputFormat::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("gko validate: cannot encode the report: {e}");
                        return ExitCode::from(2);
                    }
                },
            }
            ExitCode::from(report.exit_code() as u8)
        }
    }
}

fn cleanup(args: gko::cli::CleanupArgs) -> ExitCode {
    let deployment = match args.deployment.as_deref().map(|d| d.split_once('/')) {
        None => None,
        Some(Some((ns, name))) if !ns.is_empty() && !name.is_empty() => {
            Some((ns.to_owned(), name.to_owned()))
        }
        Some(_) => {
            eprintln!("gko cleanup: --deployment is namespace/name");
            return ExitCode::from(2);
        }
    };
    let plan = gko::cleanup::CleanupPlan {
        webhook_configs: args.webhook_configs,
        deployment,
        finalizers: args.finalizers,
        release_gko_holds: args.release_gko_holds,
        namespaces: args.namespaces,
        wait: args.wait,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gko cleanup: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match kube::Client::try_default().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("gko cleanup: cannot reach the cluster: {e}");
                return ExitCode::FAILURE;
            }
        };
        match gko::cleanup::run(&client, &plan).await {
            Ok(report) => {
                println!(
                    "gko cleanup: {} webhook configuration(s) deleted, deployment deleted: {}, {} finalizer(s) removed",
                    report.webhooks_deleted.len(),
                    report.deployment_deleted,
                    report.finalizers_removed.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("gko cleanup: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn serve(args: gko::cli::ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gko serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let stop = tokio_util::sync::CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received: draining");
            on_signal.cancel();
        });
        match gko::serve::run(args, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "gko serve failed");
                eprintln!("gko serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
