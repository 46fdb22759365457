//! README.md stays true: every `gko serve` and `gko validate` flag is documented with its
//! environment variable, the two commands exist, and CI runs the same test command.

use clap::CommandFactory;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

#[test]
fn every_serve_flag_is_documented_with_its_env_var() {
    let readme = readme();
    let cli = gko::cli::Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve subcommand");
    let mut missing = Vec::new();
    for arg in serve.get_arguments().chain(cli.get_arguments()) {
        let Some(long) = arg.get_long() else { continue };
        if matches!(long, "help" | "version") {
            continue;
        }
        if !readme.contains(&format!("`--{long}`")) {
            missing.push(format!("--{long}"));
        }
        match arg.get_env() {
            Some(env) => {
                let env = env.to_string_lossy();
                if !readme.contains(&format!("`{env}`")) {
                    missing.push(env.to_string());
                }
            }
            None => missing.push(format!("--{long} has no env var")),
        }
    }
    assert!(
        missing.is_empty(),
        "README.md does not document: {missing:?}"
    );
}

#[test]
fn the_two_commands_exist_and_ci_runs_the_same_test_command() {
    let readme = readme();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for command in ["examples/quickstart.sh", "tests/run.sh"] {
        assert!(
            readme.contains(&format!("`{command}`")),
            "README gives {command}"
        );
        assert!(root.join(command).is_file(), "{command} exists");
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).expect(".ci/run");
    assert!(
        ci.contains("tests/run.sh"),
        ".ci/run calls the README's test command"
    );
}
