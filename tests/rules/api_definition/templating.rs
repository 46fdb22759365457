//! ApiDefinition rules: GKO templates in an ApiDefinition.

use super::*;

fn templated_target(template: &str) -> Value {
    with(
        api(),
        "/spec/proxy/groups/0/endpoints/0/target",
        json!(template),
    )
}

const FIELD: &str = "spec.proxy.groups[0].endpoints[0].target";

#[test]
fn a_secret_template_resolves() {
    let a = templated_target("[[ secret `backends/orders` ]]");
    assert_allowed(&create(&a, &[secret("backends", &["orders"])]));
}

#[test]
fn a_missing_secret_is_a_reference_violation() {
    let a = templated_target("[[ secret `backends/orders` ]]");
    assert_denied(
        &create(&a, &[]),
        &[reference("template-source-not-found", 
            FIELD,
            "the template refers to Secret default/backends, which does not exist; create it with key `orders` or fix the template",
        )],
    );
}

#[test]
fn a_missing_key_is_a_reference_violation() {
    let a = templated_target("[[ secret `backends/orders` ]]");
    assert_denied(
        &create(&a, &[secret("backends", &["billing"])]),
        &[reference("template-key-missing", 
            FIELD,
            "the template refers to key `orders` of Secret default/backends, which has no such key; add the key or fix the template",
        )],
    );
}

#[test]
fn a_configmap_template_resolves() {
    let a = templated_target("https://[[ configmap `hosts/orders` ]]/v1");
    assert_allowed(&create(&a, &[config_map("hosts", &["orders"])]));
    // A Secret of that name does not do.
    assert_denied(
        &create(&a, &[secret("hosts", &["orders"])]),
        &[reference("template-source-not-found", 
            FIELD,
            "the template refers to ConfigMap default/hosts, which does not exist; create it with key `orders` or fix the template",
        )],
    );
}

#[test]
fn a_template_may_name_the_namespace() {
    let a = templated_target("[[ secret `shared/backends/orders` ]]");
    let shared = in_namespace(secret("backends", &["orders"]), "shared");
    assert_allowed(&create(&a, &[shared]));
    assert_denied(
        &create(&a, &[secret("backends", &["orders"])]),
        &[reference("template-source-not-found", 
            FIELD,
            "the template refers to Secret shared/backends, which does not exist; create it with key `orders` or fix the template",
        )],
    );
}

#[test]
fn a_template_that_is_not_understood_is_denied() {
    let a = templated_target("[[ env `ORDERS_URL` ]]");
    assert_denied(
        &create(&a, &[]),
        &[rule("template-not-understood", 
            FIELD,
            "template `[[ env `ORDERS_URL` ]]` is not understood; write [[ secret `name/key` ]] or [[ configmap `name/key` ]]",
        )],
    );
}

#[test]
fn templates_in_free_form_configuration_are_checked() {
    let a = with(
        api(),
        "/spec/resources",
        json!([{"name": "idp", "type": "oauth2", "configuration": {"clientSecret": "[[ secret `idp/secret` ]]"}}]),
    );
    assert_allowed(&create(&a, &[secret("idp", &["secret"])]));
    assert_denied(
        &create(&a, &[]),
        &[reference("template-source-not-found", 
            "spec.resources[0].configuration.clientSecret",
            "the template refers to Secret default/idp, which does not exist; create it with key `secret` or fix the template",
        )],
    );
}
