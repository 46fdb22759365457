use std::process::ExitCode;

use clap::Parser;
use gko::admission::{Engine, Settings};
use gko::cli::{Cli, Command, OutputFormat};
use gko::offline;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
