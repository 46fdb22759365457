//! The CRDs committed under charts/gko/crds/ are exactly what `gko crds` prints.

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
    let docs: Vec<serde_json::Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .collect();
    let names: Vec<&str> = docs
        .iter()
        .filter_map(|d| d.pointer("/metadata/name")?.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "managementcontexts.gravitee.io",
            "apidefinitions.gravitee.io",
            "apiresources.gravitee.io"
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
    assert!(!yaml.contains("nullable"), "no nullable in the schemas");
}
