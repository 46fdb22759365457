//! `gko validate` as users run it: the built binary, its exit codes, its text and JSON reports,
//! the examples shipped in `examples/`, and GKO's own samples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const GKO: &str = env!("CARGO_BIN_EXE_gko");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `gko <args>` from the crate root; fails the test if the binary panicked.
fn gko(args: &[&str]) -> Output {
    let out = Command::new(GKO)
        .args(args)
        .current_dir(ROOT)
        // Flags can come from the environment: keep the caller's out of the tests.
        .env_remove("GKO_VALIDATE_FILES")
        .env_remove("GKO_VALIDATE_OUTPUT")
        .env_remove("GKO_NAMESPACE")
        .env_remove("GKO_CLUSTER_WIDE_PATHS")
        .env_remove("GKO_ALLOW_MISSING_REFS")
        .output()
        .expect("run gko");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "gko panicked: {stderr}");
    out
}

fn code(out: &Output) -> i32 {
    out.status
        .code()
        .expect("exit code (not killed by a signal)")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `gko validate -o json <args>`: exit code and parsed report.
fn validate_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["validate", "-o", "json"];
    all.extend_from_slice(args);
    let out = gko(&all);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("-o json is not JSON ({e}): {}", stdout(&out)));
    (code(&out), report)
}

fn validate_text(args: &[&str]) -> (i32, String) {
    let mut all = vec!["validate"];
    all.extend_from_slice(args);
    let out = gko(&all);
    (code(&out), stdout(&out))
}

/// A temporary folder with the given files (relative path, content).
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write");
    }
    dir
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn objects(report: &Value) -> &Vec<Value> {
    report["objects"].as_array().expect("objects array")
}

fn object<'a>(report: &'a Value, name: &str) -> &'a Value {
    objects(report)
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no object {name} in {report:#}"))
}

fn fields(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|v| v["field"].as_str().expect("field").to_string())
        .collect()
}

const API: &str = r#"apiVersion: gravitee.io/v1alpha1
kind: ApiDefinition
metadata:
  name: NAME
spec:
  name: NAME
  version: "1.0"
  description: test API
  local: true
  plans:
    - name: free
      security: KEY_LESS
  proxy:
    virtual_hosts:
      - path: /NAME
    groups:
      - name: default
        endpoints:
          - name: backend
            target: https://backend.example.com
"#;

/// A valid local API named (and served at /) `name`.
fn api(name: &str) -> String {
    API.replace("NAME", name)
}

// ---------------------------------------------------------------------------------------------
// Exit codes and report formats
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_input_exits_0() {
    let dir = folder(&[("api.yaml", &api("orders"))]);
    let (rc, text) = validate_text(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.ends_with("gko validate: 1 object(s) checked, 0 denied, 0 warning(s), 0 input error(s), 0 document(s) skipped\n"),
        "{text}"
    );
}

#[test]
fn a_denial_exits_1_with_one_line_per_violation() {
    let broken = api("orders").replace("  version: \"1.0\"\n", "");
    let dir = folder(&[("api.yaml", &broken)]);
    let file = dir.path().join("api.yaml");
    let (rc, text) = validate_text(&["-f", path_str(&file)]);
    assert_eq!(rc, 1, "{text}");
    let expected = format!(
        "{}:5: ApiDefinition default/orders: spec.version: is required: APIM needs a version for the API; set spec.version, e.g. \"1.0\"",
        file.display()
    );
    assert_eq!(text.lines().next(), Some(expected.as_str()), "{text}");
    assert!(text.contains("1 object(s) checked, 1 denied"), "{text}");
}

#[test]
fn warnings_are_reported_and_do_not_deny() {
    let no_description = api("orders").replace("  description: test API\n", "");
    let dir = folder(&[("api.yaml", &no_description)]);
    let file = dir.path().join("api.yaml");
    let (rc, text) = validate_text(&["-f", path_str(&file)]);
    assert_eq!(rc, 0, "{text}");
    let expected = format!(
        "{}:5: ApiDefinition default/orders: warning: spec.description: is empty; APIM 4.x requires a description, set spec.description",
        file.display()
    );
    assert_eq!(text.lines().next(), Some(expected.as_str()), "{text}");
}

#[test]
fn a_missing_file_exits_2() {
    let (rc, text) = validate_text(&["-f", "no/such/file.yaml"]);
    assert_eq!(rc, 2, "{text}");
    assert!(
        text.starts_with("no/such/file.yaml: no such file or folder\n"),
        "{text}"
    );
}

#[test]
fn an_unreadable_file_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("binary.yaml");
    std::fs::write(&file, [0xff, 0xfe, 0x00, 0x01]).expect("write");
    let (rc, report) = validate_json(&["-f", path_str(&file)]);
    assert_eq!(rc, 2, "{report:#}");
    let error = &report["errors"][0];
    assert_eq!(error["file"], path_str(&file));
    assert!(error["document"].is_null(), "{error}");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .starts_with("cannot read file: "),
        "{error}"
    );
}

#[test]
fn bad_yaml_exits_2_and_the_documents_before_it_are_still_checked() {
    let content = format!("{}---\nspec: [unclosed\n", api("orders"));
    let dir = folder(&[("api.yaml", &content)]);
    let file = dir.path().join("api.yaml");
    let (rc, report) = validate_json(&["-f", path_str(&file)]);
    assert_eq!(rc, 2, "{report:#}");
    assert_eq!(objects(&report).len(), 1);
    assert_eq!(object(&report, "orders")["allowed"], true);
    let error = &report["errors"][0];
    assert_eq!(error["document"], 2);
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .starts_with("invalid YAML: "),
        "{error}"
    );
    let (_, text) = validate_text(&["-f", path_str(&file)]);
    assert_eq!(error["line"], 22, "{error}");
    let prefix = format!("{}:22: document 2: invalid YAML: ", file.display());
    assert!(text.starts_with(&prefix), "{text}");
}

#[test]
fn json_report_has_every_field() {
    let broken = api("orders").replace("security: KEY_LESS", "security: KEYLESS");
    let dir = folder(&[("api.yaml", &broken)]);
    let file = dir.path().join("api.yaml");
    let (rc, report) = validate_json(&["-f", path_str(&file)]);
    assert_eq!(rc, 1);
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["skipped"], serde_json::json!([]));
    let o = object(&report, "orders");
    assert_eq!(o["file"], path_str(&file));
    assert_eq!(o["document"], 1);
    assert_eq!(o["kind"], "ApiDefinition");
    assert_eq!(o["namespace"], "default");
    assert_eq!(o["allowed"], false);
    assert_eq!(o["warnings"], serde_json::json!([]));
    assert_eq!(
        o["violations"],
        serde_json::json!([{
            "rule": "api-plan-security-unknown",
            "field": "spec.plans[0].security",
            "line": 12,
            "message": "\"KEYLESS\" is not a known plan security type (did you mean KEY_LESS?); use one of KEY_LESS, API_KEY, OAUTH2, JWT",
            "cause": "rule"
        }])
    );
}

#[test]
fn explicit_nulls_are_dropped_as_the_api_server_drops_them() {
    // A chart that renders an unset value as `null`: the API server prunes the field before
    // admission, so the object is valid.
    let with_nulls = api("orders").replace(
        "  local: true\n",
        "  local: true\n  flow_mode: null\n  labels: null\n",
    );
    let dir = folder(&[("api.yaml", &with_nulls)]);
    let (rc, text) = validate_text(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{text}");
}

#[test]
fn each_finding_points_at_the_line_of_its_field() {
    let broken = format!(
        "# two APIs in one file\n{}---\n{}",
        api("orders"),
        api("billing").replace("security: KEY_LESS", "security: KEYLESS")
    );
    let dir = folder(&[("apis.yaml", &broken)]);
    let file = dir.path().join("apis.yaml");
    let (rc, report) = validate_json(&["-f", path_str(&file)]);
    assert_eq!(rc, 1, "{report:#}");
    let billing = object(&report, "billing");
    assert_eq!(billing["document"], 2);
    assert_eq!(billing["line"], 23, "{billing:#}");
    assert_eq!(billing["violations"][0]["line"], 34, "{billing:#}");
    let (_, text) = validate_text(&["-f", path_str(&file)]);
    assert!(
        text.starts_with(&format!(
            "{}:34: ApiDefinition default/billing: spec.plans[0].security: ",
            file.display()
        )),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Documents: per-document errors, multi-document files, JSON, folders
// ---------------------------------------------------------------------------------------------

#[test]
fn a_document_without_api_version_is_reported_on_its_own() {
    let no_version = api("billing").replace("apiVersion: gravitee.io/v1alpha1\n", "");
    let content = format!("{}---\n{}", no_version, api("orders"));
    let dir = folder(&[("apis.yaml", &content)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1, "{report:#}");
    assert_eq!(object(&report, "orders")["allowed"], true);
    assert_eq!(report["errors"][0]["document"], 1);
    assert_eq!(
        report["errors"][0]["message"],
        "apiVersion missing; every manifest needs apiVersion and kind (e.g. apiVersion: gravitee.io/v1alpha1, kind: ApiDefinition)"
    );
}

#[test]
fn a_misspelt_gravitee_kind_is_an_error_with_a_suggestion() {
    let typo = api("orders").replace("kind: ApiDefinition", "kind: ApiDefinitions");
    let dir = folder(&[("api.yaml", &typo)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1, "{report:#}");
    assert_eq!(
        report["errors"][0]["message"],
        "unknown kind ApiDefinitions; did you mean ApiDefinition?"
    );
}

#[test]
fn other_kinds_are_skipped() {
    let content = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: gateway}\n---\napiVersion: gravitee.io/v1alpha1\nkind: Application\nmetadata: {name: app}\nspec: {name: app}\n";
    let dir = folder(&[("other.yaml", content)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{report:#}");
    let skipped: Vec<&str> = report["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| s["message"].as_str().expect("message"))
        .collect();
    assert_eq!(
        skipped,
        vec![
            "apps/v1 Deployment is not a gravitee.io kind",
            "gravitee.io/v1alpha1 Application is a kind gko does not validate"
        ]
    );
}

#[test]
fn a_document_that_is_not_an_object_is_an_error() {
    let content = format!("- just\n- a list\n---\n{}", api("orders"));
    let dir = folder(&[("list.yaml", &content)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1, "{report:#}");
    assert_eq!(report["errors"][0]["document"], 1);
    assert_eq!(
        report["errors"][0]["message"],
        "not a Kubernetes object (a mapping with apiVersion, kind and metadata)"
    );
    assert_eq!(object(&report, "orders")["allowed"], true);
}

#[test]
fn multi_document_files_resolve_references_among_their_documents() {
    let with_context = api("orders").replace("  local: true\n", "  contextRef:\n    name: dev\n");
    let content = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: dev-creds}}\nstringData: {{bearerToken: t}}\n---\n\
         apiVersion: gravitee.io/v1alpha1\nkind: ManagementContext\nmetadata: {{name: dev}}\n\
         spec: {{baseUrl: 'https://apim.example.com', organizationId: DEFAULT, environmentId: DEFAULT, auth: {{secretRef: {{name: dev-creds}}}}}}\n\
         ---\n{with_context}---\n"
    );
    let dir = folder(&[("all.yaml", &content)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{report:#}");
    assert_eq!(object(&report, "dev")["document"], 2);
    assert_eq!(object(&report, "orders")["document"], 3);
    assert_eq!(report["skipped"][0]["document"], 1);
}

#[test]
fn json_files_are_read() {
    let value: Value = serde_saphyr::from_str(&api("orders")).expect("yaml");
    let json = serde_json::to_string_pretty(&value).expect("json");
    let dir = folder(&[("api.json", &json)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{report:#}");
    assert_eq!(object(&report, "orders")["kind"], "ApiDefinition");
}

#[test]
fn folders_are_walked_recursively_for_yaml_and_json() {
    let broken = api("c").replace("security: KEY_LESS", "security: BASIC");
    let dir = folder(&[
        ("a.yaml", &api("a")),
        ("team/b.yml", &api("b")),
        ("team/deep/er/c.yaml", &broken),
        ("team/notes.txt", "not: [a manifest"),
        ("README.md", "# not a manifest"),
    ]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1, "{report:#}");
    let names: Vec<&str> = objects(&report)
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    assert_eq!(object(&report, "c")["allowed"], false);
    assert!(report["errors"].as_array().expect("errors").is_empty());
}

#[test]
fn the_namespace_flag_applies_to_documents_without_one() {
    let with_context = api("orders").replace("  local: true\n", "  contextRef:\n    name: dev\n");
    let context = "apiVersion: gravitee.io/v1alpha1\nkind: ManagementContext\nmetadata: {name: dev, namespace: team}\nspec: {baseUrl: 'https://apim.example.com', organizationId: DEFAULT, environmentId: DEFAULT, auth: {bearerToken: t}}\n";
    let dir = folder(&[("api.yaml", &with_context), ("ctx.yaml", context)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path()), "-n", "team"]);
    assert_eq!(rc, 0, "{report:#}");
    assert_eq!(object(&report, "orders")["namespace"], "team");
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1, "{report:#}");
    assert_eq!(
        fields(&object(&report, "orders")["violations"]),
        vec!["spec.contextRef"]
    );
}

#[test]
fn allow_missing_refs_turns_reference_denials_into_warnings() {
    let with_context = api("orders").replace("  local: true\n", "  contextRef:\n    name: prod\n");
    let dir = folder(&[("api.yaml", &with_context)]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 1);
    let o = object(&report, "orders");
    assert_eq!(o["violations"][0]["cause"], "reference");
    let (rc, report) = validate_json(&["-f", path_str(dir.path()), "--allow-missing-refs"]);
    assert_eq!(rc, 0, "{report:#}");
    assert_eq!(
        fields(&object(&report, "orders")["warnings"]),
        vec!["spec.contextRef"]
    );
}

#[test]
fn cluster_wide_paths_compares_paths_across_namespaces() {
    let a = api("orders").replacen(
        "  name: orders\n",
        "  name: orders\n  namespace: team-a\n",
        1,
    );
    let b = api("orders").replacen(
        "  name: orders\n",
        "  name: orders\n  namespace: team-b\n",
        1,
    );
    let dir = folder(&[("a.yaml", &a), ("b.yaml", &b)]);
    let (rc, _) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0);
    let (rc, report) = validate_json(&["-f", path_str(dir.path()), "--cluster-wide-paths"]);
    assert_eq!(rc, 1, "{report:#}");
    for o in objects(&report) {
        assert_eq!(
            fields(&o["violations"]),
            vec!["spec.proxy.virtual_hosts[0].path"]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// examples/
// ---------------------------------------------------------------------------------------------

fn example_files(sub: &str) -> Vec<PathBuf> {
    let dir = Path::new(ROOT).join("examples").join(sub);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_valid_examples_pass_without_warnings() {
    let (rc, report) = validate_json(&["-f", "examples/valid"]);
    assert_eq!(rc, 0, "{report:#}");
    for o in objects(&report) {
        assert_eq!(o["warnings"], serde_json::json!([]), "{o:#}");
    }
    let kinds: Vec<&str> = objects(&report)
        .iter()
        .map(|o| o["kind"].as_str().expect("kind"))
        .collect();
    for kind in ["ManagementContext", "ApiResource", "ApiDefinition"] {
        assert!(kinds.contains(&kind), "no {kind} in examples/valid");
    }
}

/// Every invalid example says what is wrong on its first line and which field is denied on its
/// second (`# expect: <field>`), and fails for exactly that reason next to the valid examples.
#[test]
fn every_invalid_example_fails_for_its_own_mistake() {
    let files = example_files("invalid");
    assert!(files.len() >= 10, "only {} invalid examples", files.len());
    for file in files {
        let rel = file
            .strip_prefix(ROOT)
            .expect("under the crate")
            .to_str()
            .expect("utf-8");
        let text = std::fs::read_to_string(&file).expect("read");
        let mut lines = text.lines();
        let what = lines.next().unwrap_or_default();
        assert!(
            what.starts_with("# Invalid: "),
            "{rel}: first line {what:?}"
        );
        let expect = lines
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{rel}: second line is not `# expect: <field>`"));

        let (rc, report) = validate_json(&["-f", "examples/valid", "-f", rel]);
        assert_eq!(rc, 1, "{rel}: {report:#}");
        let denied: Vec<String> = objects(&report)
            .iter()
            .filter(|o| o["file"] == rel && o["allowed"] == false)
            .flat_map(|o| fields(&o["violations"]))
            .collect();
        assert!(
            denied.iter().any(|f| f == expect),
            "{rel}: expected a violation at {expect}, got {denied:?}"
        );
        assert!(
            report["errors"].as_array().expect("errors").is_empty(),
            "{rel}: {report:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// GKO's samples
// ---------------------------------------------------------------------------------------------

/// gko accepts every sample of GKO 0.8.0, except for references to objects that are not among the
/// samples, and the sample whose API is STARTED without a plan (which GKO 4.x rejects too).
#[test]
fn gko_samples_are_accepted_but_for_missing_references_and_the_no_plan_sample() {
    let samples = Path::new(ROOT).join("../shared/reference/gko-0.8.0/samples");
    if !samples.is_dir() {
        println!(
            "SKIPPED: GKO samples not found at {}; nothing to compare with",
            samples.display()
        );
        return;
    }
    let (rc, report) = validate_json(&["-f", path_str(&samples)]);
    assert!(
        report["errors"].as_array().expect("errors").is_empty(),
        "{report:#}"
    );
    assert!(objects(&report).len() >= 30, "{report:#}");
    let mut no_plan_seen = false;
    for o in objects(&report) {
        let file = o["file"].as_str().expect("file");
        for v in o["violations"].as_array().expect("violations") {
            if v["cause"] == "reference" {
                continue;
            }
            let no_plan = file.ends_with("api-with-no-plan.yml")
                && v["field"] == "spec.plans"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("is empty but spec.state is STARTED"));
            assert!(no_plan, "{file}: unexpected denial {v}");
            no_plan_seen = true;
        }
    }
    assert!(no_plan_seen, "the no-plan sample is expected to be denied");
    assert_eq!(rc, 1);
}

#[test]
fn an_object_defined_twice_warns_with_its_rule_id() {
    let dir = folder(&[("a.yaml", &api("orders")), ("b.yaml", &api("orders"))]);
    let (rc, report) = validate_json(&["-f", path_str(dir.path())]);
    assert_eq!(rc, 0, "{report:#}");
    let later = objects(&report)
        .iter()
        .find(|o| o["file"].as_str().is_some_and(|f| f.ends_with("b.yaml")))
        .unwrap_or_else(|| panic!("b.yaml in {report:#}"));
    assert_eq!(later["warnings"][0]["rule"], "files-duplicate-object");
    assert_eq!(later["warnings"][0]["field"], "metadata.name");
}
