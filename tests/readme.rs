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

/// One row of README's rule tables.
#[derive(Debug, PartialEq, Eq)]
struct RuleRow {
    kind: String,
    field: String,
    effect: String,
    cause: String,
}

/// The rows of every table under `## Rules` (up to `### Engine behaviour`), by rule id. The kind
/// is the `Kind` column, or the table's heading when it has none.
fn readme_rule_rows(readme: &str) -> Vec<(String, RuleRow)> {
    let start = readme
        .find("\n## Rules\n")
        .expect("README has a Rules section");
    let end = readme[start..]
        .find("\n### Engine behaviour")
        .map_or(readme.len(), |e| start + e);
    let mut rows = Vec::new();
    let mut heading = String::new();
    let mut columns: Vec<String> = Vec::new();
    for line in readme[start..end].lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.trim().to_string();
            columns.clear();
            continue;
        }
        if !line.starts_with('|') || line.starts_with("|---") {
            continue;
        }
        // Cells split on `|` not escaped as `\|`.
        let cells: Vec<String> = line
            .replace("\\|", "\u{0}")
            .split('|')
            .map(|c| c.trim().replace('\u{0}', "|"))
            .collect();
        let cells = &cells[1..cells.len() - 1];
        if columns.is_empty() {
            columns = cells.to_vec();
            assert_eq!(columns[0], "Rule", "the first column of {heading}'s table");
            continue;
        }
        let cell = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .map(|i| cells[i].clone())
        };
        let id = cell("Rule").expect("Rule column");
        let id = id
            .strip_prefix('`')
            .and_then(|i| i.strip_suffix('`'))
            .unwrap_or_else(|| panic!("rule id {id:?} in backticks"));
        let effect_cell = cell("Effect").expect("Effect column");
        let effect = effect_cell
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let cause = ["schema", "reference"]
            .into_iter()
            .find(|c| effect_cell.contains(&format!("(`{c}`)")))
            .unwrap_or("rule")
            .to_string();
        rows.push((
            id.to_string(),
            RuleRow {
                kind: cell("Kind").unwrap_or_else(|| heading.clone()),
                field: cell("Field").expect("Field column").replace('`', ""),
                effect,
                cause,
            },
        ));
    }
    rows
}

#[test]
fn readme_rule_tables_list_exactly_the_engines_rules() {
    use gko::admission::{Cause, Effect, RULES};
    let rows = readme_rule_rows(&readme());
    let mut documented = std::collections::BTreeMap::new();
    for (id, row) in rows {
        assert!(
            documented.insert(id.clone(), row).is_none(),
            "README lists {id} twice"
        );
    }
    let engine: std::collections::BTreeMap<String, RuleRow> = RULES
        .iter()
        .map(|r| {
            (
                r.id.to_string(),
                RuleRow {
                    kind: r.kind.map_or("all", |k| k.as_str()).to_string(),
                    field: r.field.to_string(),
                    effect: match r.effect {
                        Effect::Deny => "deny",
                        Effect::Warn => "warn",
                    }
                    .to_string(),
                    cause: match r.cause {
                        Cause::Schema => "schema",
                        Cause::Rule => "rule",
                        Cause::Reference => "reference",
                    }
                    .to_string(),
                },
            )
        })
        .collect();
    let undocumented: Vec<&String> = engine
        .keys()
        .filter(|id| !documented.contains_key(*id))
        .collect();
    let unknown: Vec<&String> = documented
        .keys()
        .filter(|id| !engine.contains_key(*id))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "rules of the engine missing from README: {undocumented:?}; README rules the engine does not have: {unknown:?}"
    );
    for (id, row) in &engine {
        assert_eq!(&documented[id], row, "README's row of {id}");
    }
}

#[test]
fn every_condition_reason_is_documented() {
    let readme = readme();
    let status = readme
        .split("### Status")
        .nth(1)
        .and_then(|rest| rest.split("\n### ").next())
        .expect("README has a Status section");
    let missing: Vec<&str> = gko::reconcile::status::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .filter(|r| !status.contains(&format!("`{r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README's Status section does not name the reasons {missing:?}"
    );
    let mut names: Vec<&str> = gko::reconcile::status::Reason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names.len(),
        gko::reconcile::status::Reason::ALL.len(),
        "reason strings are distinct"
    );
}

/// The rows of README's `### GKO settings → gko` table, cells trimmed and unquoted.
fn gko_settings_rows(readme: &str) -> Vec<Vec<String>> {
    let start = readme
        .find("\n### GKO settings → gko\n")
        .expect("README has a GKO settings → gko section");
    let rest = &readme[start + 1..];
    let end = rest[4..].find("\n#").map_or(rest.len(), |e| e + 4);
    rest[..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

#[test]
fn readme_gko_settings_table_is_the_translation_table() {
    use gko::gko_env::{Equivalent, GKO_VARS};
    let rows = gko_settings_rows(&readme());
    assert_eq!(
        rows.len(),
        GKO_VARS.len(),
        "one README row per GKO variable"
    );
    for (row, var) in rows.iter().zip(GKO_VARS) {
        assert_eq!(row[0], var.chart_value, "{}: GKO chart value", var.name);
        assert_eq!(
            row[1], var.name,
            "README lists GKO's variables in gko_env's order"
        );
        assert_eq!(row[2], var.gko_chart, "{}: gko chart value", var.name);
        match var.gko {
            Equivalent::Env { var: env, flag, .. } => {
                assert_eq!(
                    row[3],
                    format!("{flag}` (`{env}`)"),
                    "{}: gko flag",
                    var.name
                )
            }
            Equivalent::None(why) => {
                assert_eq!(row[3], "no equivalent", "{}", var.name);
                assert_eq!(row[4], why, "{}: why there is none", var.name);
            }
        }
    }
}
