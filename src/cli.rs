//! Command line: every flag can also be set from an environment variable (`GKO_*`).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "gko",
    version,
    about = "Admission webhook and operator for Gravitee API Management (GKO v1alpha1 manifests)"
)]
pub struct Cli {
    /// Log format.
    #[arg(long, env = "GKO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,gko=debug`.
    #[arg(long, env = "GKO_LOG", default_value = "info", global = true)]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate manifests offline, with the same rules as the webhook; references are resolved
    /// among the given files. Exit 0: all pass; 1: something is denied; 2: unreadable input.
    Validate(ValidateArgs),
    /// Print the CustomResourceDefinitions of the three kinds as YAML.
    Crds,
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

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}
