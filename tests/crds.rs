//! The CRDs committed under charts/gko/crds/ are exactly what `gko crds` prints.

mod support;

use std::path::Path;

#[test]
fn committed_crds_match_generated_ones() {
    let committed_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/gko/crds/gko-crds.yaml");
    let committed = std::fs::read_to_string(&committed_path)
        .expect("charts/gko/crds/gko-crds.yaml is committed");
    let generated = gko::crd::crds_yaml().expect("CRDs serialise");
    assert!(
        committed == generated,
        "charts/gko/crds/gko-crds.yaml is out of date: run `cargo run -- crds > charts/gko/crds/gko-crds.yaml`"
    );
}

#[test]
fn crds_have_the_names_gko_users_know() {
    let yaml = gko::crd::crds_yaml().expect("CRDs serialise");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).expect("valid YAML");
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d.pointer("/metadata/name")?.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "managementcontexts.gravitee.io",
            "apidefinitions.gravitee.io",
            "apiresources.gravitee.io",
            "apiv4definitions.gravitee.io"
        ]
    );
    for d in &docs {
        assert_eq!(
            d.pointer("/spec/scope").and_then(|v| v.as_str()),
            Some("Namespaced")
        );
        assert_eq!(
            d.pointer("/spec/versions/0/name").and_then(|v| v.as_str()),
            Some("v1alpha1")
        );
        assert!(
            d.pointer("/spec/versions/0/subresources/status").is_some(),
            "status subresource"
        );
    }
    let short = |i: usize| {
        docs[i]
            .pointer("/spec/names/shortNames/0")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    assert_eq!(short(0).as_deref(), Some("graviteecontexts"));
    assert_eq!(short(1).as_deref(), Some("graviteeapis"));
    assert_eq!(short(3).as_deref(), Some("graviteev4apis"));
    assert!(!yaml.contains("nullable"), "no nullable in the schemas");
}

/// `gko serve --apply-crds` on a cluster holding an older CRD: that one is applied, the others are
/// left alone, and a second start writes nothing.
#[tokio::test]
async fn apply_crds_brings_an_older_crd_to_this_release() {
    use gko::crd::apply::{apply_crds, is_current, CrdOutcome};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};

    let Some(path) = support::kube::kubeconfig() else {
        println!("skipped: apply_crds_brings_an_older_crd_to_this_release: KUBECONFIG not set");
        return;
    };
    let client = support::kube::client_for(&path).await;
    support::kube::apply_crds(&client).await;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = "apiresources.gravitee.io";
    // What an older release's CRD looks like: another description (harmless to other tests).
    let mut current = api.get(name).await.expect("get");
    if let Some(schema) = current.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
    {
        schema.description = Some("an older release's description".into());
    }
    api.replace(name, &PostParams::default(), &current)
        .await
        .expect("make the CRD older");
    let before = serde_json::to_value(api.get(name).await.expect("get")).expect("json");
    let desired = serde_json::to_value(gko::crd::Kind::ApiResource.crd()).expect("json");
    assert!(!is_current(&before, &desired), "the CRD differs before");

    let outcomes = apply_crds(&client).await.expect("apply");
    let of = |n: &str| {
        outcomes
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, o)| o.clone())
    };
    assert_eq!(of(name), Some(CrdOutcome::Applied), "{outcomes:?}");
    assert_eq!(
        of("apidefinitions.gravitee.io"),
        Some(CrdOutcome::Unchanged),
        "{outcomes:?}"
    );
    let after = serde_json::to_value(api.get(name).await.expect("get")).expect("json");
    assert!(
        is_current(&after, &desired),
        "the CRD is this release's after the apply"
    );

    let again = apply_crds(&client).await.expect("apply again");
    assert!(
        again.iter().all(|(_, o)| *o == CrdOutcome::Unchanged),
        "nothing to write on the next start: {again:?}"
    );
}

/// Every GKO v4 sample (tests/fixtures/apiv4/, copied unchanged) passes the ApiV4Definition schema
/// and survives a trip through the Rust types with nothing lost.
#[test]
fn gko_v4_samples_fit_the_types_and_the_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/apiv4");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures/apiv4") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read sample");
        let sample: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
        let typed: gko::crd::ApiV4Definition =
            serde_json::from_value(sample.clone()).expect("the sample fits the types");
        let back = serde_json::to_value(&typed).expect("serialise");
        assert_eq!(
            back,
            sample,
            "{}: nothing lost in the types",
            path.display()
        );
        let mut verdict = gko::admission::Verdict::default();
        gko::admission::schema::check_value(gko::crd::Kind::ApiV4Definition, &sample, &mut verdict);
        assert!(
            verdict.violations.is_empty(),
            "{}: {:?}",
            path.display(),
            verdict.violations
        );
        seen += 1;
    }
    assert_eq!(seen, 8, "the eight GKO v4 samples");
}
