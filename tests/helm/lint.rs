//! `helm lint`, the values schema refusing bad values, every default in the schema.

use super::*;
use crate::readme::{default_values, schema};

#[test]
fn helm_lint_passes() {
    if skip("helm_lint_passes") {
        return;
    }
    let chart = chart().display().to_string();
    for args in [
        vec!["lint", chart.as_str()],
        vec!["lint", "--strict", chart.as_str()],
        vec![
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "certificates.mode=manage",
        ],
        vec![
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "watchNamespaces={a,b}",
        ],
    ] {
        let kube = kube_version();
        let args: Vec<&str> = args
            .into_iter()
            .chain(["--kube-version", kube.as_str()])
            .collect();
        let out = helm(&args);
        assert!(out.status.success(), "helm {args:?}:\n{}", out_text(&out));
        assert!(
            out_text(&out).contains("0 chart(s) failed"),
            "{}",
            out_text(&out)
        );
    }
}
#[test]
fn the_schema_refuses_bad_values() {
    if skip("the_schema_refuses_bad_values") {
        return;
    }
    for (values, says) in [
        (
            json!({"webhook": {"failurePolicy": "Maybe"}}),
            "failurePolicy",
        ),
        (json!({"webhook": {"timeoutSeconds": 31}}), "timeoutSeconds"),
        (json!({"reconcile": {"apimDryRun": "bogus"}}), "apimDryRun"),
        (json!({"reconcile": {"apimDryRun": false}}), "apimDryRun"),
        (json!({"reconcile": {"drift": {"policy": "fix"}}}), "policy"),
        (json!({"certificates": {"mode": "cert-manager"}}), "mode"),
        (
            json!({"certificates": {"caValidity": "5 years"}}),
            "caValidity",
        ),
        (json!({"replicaCount": 0}), "replicaCount"),
        (
            json!({"watchNamespaces": ["Not_A_Name"]}),
            "watchNamespaces",
        ),
        (json!({"typo": true}), "typo"),
        (json!({"webhook": {"failurPolicy": "Fail"}}), "failurPolicy"),
        (json!({"extraArgs": ["serve"]}), "extraArgs"),
    ] {
        match try_render("gko", "gko", &values) {
            Ok(_) => panic!("{values} must be refused by values.schema.json"),
            Err(e) => assert!(e.contains(says), "{values}: the error names {says}:\n{e}"),
        }
    }
}
#[test]
fn every_default_value_is_in_the_schema() {
    // values.yaml keys without a schema property would be refused by helm (additionalProperties);
    // this says which, without helm.
    fn walk(values: &Value, schema: &Value, path: &str, bad: &mut Vec<String>) {
        let Some(map) = values.as_object() else {
            return;
        };
        let Some(props) = schema["properties"].as_object() else {
            return;
        };
        for (k, v) in map {
            let p = format!("{path}{k}");
            match props.get(k) {
                None => bad.push(p),
                Some(s) => walk(v, s, &format!("{p}."), bad),
            }
        }
    }
    let mut bad = Vec::new();
    walk(&default_values(), &schema(), "", &mut bad);
    assert!(
        bad.is_empty(),
        "values.yaml keys not in values.schema.json: {bad:?}"
    );
}

/// The chart's kubeVersion is what the client is built for: k8s-openapi's `v1_XX` feature in
/// Cargo.toml (kube 5's minimum supported version is 1.33 too).
#[test]
fn kube_version_is_what_the_client_supports() {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let feature = cargo
        .lines()
        .find(|l| l.starts_with("k8s-openapi"))
        .and_then(|l| l.split('"').find(|p| p.starts_with("v1_")))
        .expect("a v1_XX feature of k8s-openapi");
    let minor = feature.trim_start_matches("v1_");
    assert_eq!(
        kube_version(),
        format!("1.{minor}.0"),
        "Chart.yaml kubeVersion vs k8s-openapi {feature}"
    );
}
