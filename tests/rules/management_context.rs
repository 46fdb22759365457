//! ManagementContext rules, its Gravitee Cloud variant and its DELETE rule.

use super::*;

const ONE_OF: &str =
    "set exactly one of bearerToken, credentials (username and password) or secretRef";

fn credentials_secret() -> Value {
    secret("apim-credentials", &["username", "password"])
}

fn with_auth(auth: Value) -> Value {
    with(context(), "/spec/auth", auth)
}

#[test]
fn the_fixture_is_valid() {
    assert_allowed(&create(&context(), &[credentials_secret()]));
}

#[test]
fn a_bearer_token_is_enough() {
    assert_allowed(&create(&with_auth(json!({"bearerToken": "t0k3n"})), &[]));
}

#[test]
fn credentials_are_enough() {
    let c = with_auth(json!({"credentials": {"username": "admin", "password": "admin"}}));
    assert_allowed(&create(&c, &[]));
}

#[test]
fn base_url_is_required() {
    assert_denied(
        &create(
            &without(context(), "/spec/baseUrl"),
            &[credentials_secret()],
        ),
        &[rule(
            "context-base-url-missing",
            "spec.baseUrl",
            "is required; give the Management API URL, e.g. https://apim.example.com",
        )],
    );
}

#[test]
fn base_url_is_an_absolute_http_url() {
    for ok in ["http://apim:8083", "https://apim.example.com/management"] {
        let c = with(context(), "/spec/baseUrl", json!(ok));
        assert_allowed(&create(&c, &[credentials_secret()]));
    }
    for bad in ["apim.example.com", "ftp://apim.example.com", "/management"] {
        let c = with(context(), "/spec/baseUrl", json!(bad));
        assert_denied(
            &create(&c, &[credentials_secret()]),
            &[rule("context-base-url-invalid", 
                "spec.baseUrl",
                &format!("\"{bad}\" is not an absolute http(s) URL; write it like https://apim.example.com"),
            )],
        );
    }
}

#[test]
fn organization_and_environment_are_required() {
    let c = with(context(), "/spec/organizationId", json!(""));
    let c = without(c, "/spec/environmentId");
    assert_denied(
        &create(&c, &[credentials_secret()]),
        &[
            rule(
                "context-organization-id-missing",
                "spec.organizationId",
                "is required; give the APIM organization id, e.g. DEFAULT",
            ),
            rule(
                "context-environment-id-missing",
                "spec.environmentId",
                "is required; give the APIM environment id, e.g. DEFAULT",
            ),
        ],
    );
}

#[test]
fn auth_is_required() {
    assert_denied(
        &create(&without(context(), "/spec/auth"), &[]),
        &[rule(
            "context-auth-missing",
            "spec.auth",
            &format!("is required; {ONE_OF}"),
        )],
    );
    assert_denied(
        &create(&with_auth(json!({})), &[]),
        &[rule(
            "context-auth-empty",
            "spec.auth",
            &format!("is empty; {ONE_OF}"),
        )],
    );
    assert_denied(
        &create(&with_auth(json!({"bearerToken": ""})), &[]),
        &[rule(
            "context-auth-empty",
            "spec.auth",
            &format!("is empty; {ONE_OF}"),
        )],
    );
}

#[test]
fn exactly_one_auth_method() {
    let c = with_auth(json!({"bearerToken": "t", "secretRef": {"name": "apim-credentials"}}));
    assert_denied(
        &create(&c, &[credentials_secret()]),
        &[rule(
            "context-auth-several",
            "spec.auth",
            "sets bearerToken and secretRef; keep exactly one of them",
        )],
    );
    let c = with_auth(json!({
        "bearerToken": "t",
        "credentials": {"username": "u", "password": "p"},
        "secretRef": {"name": "apim-credentials"}
    }));
    assert_denied(
        &create(&c, &[credentials_secret()]),
        &[rule(
            "context-auth-several",
            "spec.auth",
            "sets bearerToken and credentials and secretRef; keep exactly one of them",
        )],
    );
}

#[test]
fn credentials_need_both_username_and_password() {
    let c = with_auth(json!({"credentials": {"username": "admin"}}));
    assert_denied(
        &create(&c, &[]),
        &[rule(
            "context-password-missing",
            "spec.auth.credentials.password",
            "is required with credentials; set both username and password",
        )],
    );
    let c = with_auth(json!({"credentials": {"password": "admin", "username": ""}}));
    assert_denied(
        &create(&c, &[]),
        &[rule(
            "context-username-missing",
            "spec.auth.credentials.username",
            "is required with credentials; set both username and password",
        )],
    );
}

#[test]
fn the_secret_must_exist() {
    assert_denied(
        &create(&context(), &[]),
        &[reference("context-secret-not-found", 
            "spec.auth.secretRef",
            "Secret default/apim-credentials does not exist; create it with key bearerToken, or keys username and password",
        )],
    );
}

#[test]
fn the_secret_namespace_defaults_to_the_context_namespace() {
    let c = in_namespace(context(), "apim");
    let in_apim = in_namespace(credentials_secret(), "apim");
    assert_allowed(&create(&c, &[in_apim]));
    assert_denied(
        &create(&c, &[credentials_secret()]),
        &[reference("context-secret-not-found", 
            "spec.auth.secretRef",
            "Secret apim/apim-credentials does not exist; create it with key bearerToken, or keys username and password",
        )],
    );
    let c = with_auth(json!({"secretRef": {"name": "apim-credentials", "namespace": "vault"}}));
    let in_vault = in_namespace(credentials_secret(), "vault");
    assert_allowed(&create(&c, &[in_vault]));
}

#[test]
fn the_secret_holds_a_token_or_username_and_password() {
    assert_allowed(&create(
        &context(),
        &[secret("apim-credentials", &["bearerToken"])],
    ));
    assert_denied(
        &create(&context(), &[secret("apim-credentials", &["username", "token"])]),
        &[reference("context-secret-keys-missing", 
            "spec.auth.secretRef",
            "Secret default/apim-credentials has neither key bearerToken nor keys username and password (it has: token, username); add them",
        )],
    );
    assert_denied(
        &create(&context(), &[secret("apim-credentials", &[])]),
        &[reference("context-secret-keys-missing", 
            "spec.auth.secretRef",
            "Secret default/apim-credentials has neither key bearerToken nor keys username and password (it has: no keys); add them",
        )],
    );
}

#[test]
fn the_secret_ref_needs_a_name() {
    let c = with_auth(json!({"secretRef": {"name": ""}}));
    assert_denied(
        &create(&c, &[]),
        &[rule(
            "context-secret-ref-name-empty",
            "spec.auth.secretRef.name",
            "is empty; name the Secret holding the credentials",
        )],
    );
}

#[test]
fn a_templated_base_url_is_checked_as_the_value_it_resolves_to() {
    let cm = |url: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "apim", "namespace": "default"}, "data": {"url": url}})
    };
    let c = with(
        context(),
        "/spec/baseUrl",
        json!("[[ configmap `default/apim/url` ]]"),
    );
    let creds = secret("apim-credentials", &["bearerToken"]);
    assert_allowed(&create(
        &c,
        &[creds.clone(), cm("https://apim.example.com")],
    ));
    assert_denied(
        &create(&c, &[creds.clone(), cm("apim.example.com")]),
        &[rule(
            "context-base-url-invalid",
            "spec.baseUrl",
            "\"apim.example.com\" is not an absolute http(s) URL; write it like https://apim.example.com",
        )],
    );
    // A template whose value is unknown is only checked through its reference.
    let from_secret = with(
        context(),
        "/spec/baseUrl",
        json!("[[ secret `apim-url/url` ]]"),
    );
    assert_allowed(&create(
        &from_secret,
        &[creds, secret("apim-url", &["url"])],
    ));
}

#[test]
fn a_templated_bearer_token_is_checked_through_its_reference() {
    let c = with_auth(json!({"bearerToken": "[[ secret `apim/token` ]]"}));
    assert_allowed(&create(&c, &[secret("apim", &["token"])]));
    assert_denied(
        &create(&c, &[]),
        &[reference("template-source-not-found", 
            "spec.auth.bearerToken",
            "the template refers to Secret default/apim, which does not exist; create it with key `token` or fix the template",
        )],
    );
}

mod cloud {
    use super::*;
    use base64::Engine as _;

    fn cloud(cloud: Value) -> Value {
        let c = without(context(), "/spec/auth");
        let c = without(c, "/spec/baseUrl");
        with(c, "/spec/cloud", cloud)
    }

    /// A Gravitee Cloud token with these claims (its signature is never checked).
    pub(crate) fn token(claims: Value) -> String {
        let part =
            |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            part(json!({"alg": "RS256", "typ": "JWT"})),
            part(claims)
        )
    }

    fn good_token() -> String {
        token(json!({"org": "DEFAULT", "envs": ["DEFAULT", "PROD"], "cpg": "eu"}))
    }

    #[test]
    fn a_token_is_enough() {
        assert_allowed(&create(&cloud(json!({"token": good_token()})), &[]));
    }

    #[test]
    fn gko_4x_cloud_fields_are_in_the_schema() {
        // Every field GKO 4.x's CRD has under spec.cloud (secretRef with kind and namespace, token).
        let c = with(
            cloud(
                json!({"secretRef": {"name": "cloud", "namespace": "default", "kind": "secrets"}}),
            ),
            "/spec/path",
            json!("/apim/rest"),
        );
        assert_allowed(&create(&c, &[secret("cloud", &["cloudToken"])]));
    }

    #[test]
    fn a_secret_with_cloud_token_is_enough() {
        // gko validate never reads Secret values: the token itself is checked by the webhook.
        let c = cloud(json!({"secretRef": {"name": "cloud"}}));
        assert_allowed(&create(&c, &[secret("cloud", &["cloudToken"])]));
    }

    #[test]
    fn token_and_secret_are_exclusive() {
        let c = cloud(json!({"token": good_token(), "secretRef": {"name": "cloud"}}));
        assert_denied(
            &create(&c, &[secret("cloud", &["cloudToken"])]),
            &[rule(
                "context-cloud-token-and-secret",
                "spec.cloud",
                "sets both token and secretRef; keep one",
            )],
        );
    }

    const CLOUD_OFF: &str = "has neither a token nor a secretRef name, so this is not a Gravitee Cloud context (as in GKO) and it is checked as an ordinary one; remove spec.cloud, or set cloud.token or cloud.secretRef to a Secret with key cloudToken";

    #[test]
    fn an_empty_cloud_block_is_cloud_off_as_in_gko() {
        let ok = [secret("apim-credentials", &["bearerToken"])];
        for empty in [
            json!({}),
            json!({"secretRef": {"name": ""}}),
            json!({"token": ""}),
        ] {
            let c = with(context(), "/spec/cloud", empty.clone());
            assert_warned(
                &create(&c, &ok),
                &[rule("context-cloud-token-missing", "spec.cloud", CLOUD_OFF)],
            );
        }
        // Checked as an ordinary context: baseUrl and auth are then required.
        let mut verdict = create(&cloud(json!({})), &[]);
        let ids: Vec<&str> = verdict.violations.drain(..).map(|v| v.rule).collect();
        assert_eq!(
            ids,
            vec!["context-base-url-missing", "context-auth-missing"]
        );
    }

    #[test]
    fn the_secret_exists_and_holds_cloud_token() {
        let c = cloud(json!({"secretRef": {"name": "cloud"}}));
        assert_denied(
            &create(&c, &[]),
            &[reference(
                "context-cloud-secret-not-found",
                "spec.cloud.secretRef",
                "Secret default/cloud does not exist; create it with key cloudToken",
            )],
        );
        assert_denied(
            &create(&c, &[secret("cloud", &["token"])]),
            &[reference(
                "context-cloud-secret-key-missing",
                "spec.cloud.secretRef",
                "Secret default/cloud has no key cloudToken; add it",
            )],
        );
    }

    #[test]
    fn auth_other_than_the_cloud_token_is_replaced() {
        let t = good_token();
        let c = with(
            cloud(json!({"token": t})),
            "/spec/auth",
            json!({"bearerToken": "x"}),
        );
        assert_warned(
            &create(&c, &[]),
            &[rule(
                "context-auth-ignored-with-cloud",
                "spec.auth",
                "is replaced by the cloud token when spec.cloud is set; remove it",
            )],
        );
        // What the mutating webhook writes is no reason to warn.
        let mutated = with(
            cloud(json!({"token": t})),
            "/spec/auth",
            json!({"bearerToken": t}),
        );
        assert_allowed(&create(&mutated, &[]));
        let mutated = with(
            cloud(json!({"secretRef": {"name": "cloud"}})),
            "/spec/auth",
            json!({"secretRef": {"name": "cloud"}}),
        );
        assert_allowed(&create(&mutated, &[secret("cloud", &["cloudToken"])]));
    }

    #[test]
    fn a_token_that_is_not_a_jwt_is_denied() {
        assert_denied(
            &create(&cloud(json!({"token": "cloud-token"})), &[]),
            &[rule(
                "context-cloud-token-not-jwt",
                "spec.cloud",
                "the cloud token is not a JWT (it is not three dot-separated parts); paste the token Gravitee Cloud gave you, as is",
            )],
        );
    }

    #[test]
    fn a_token_without_gravitee_claims_is_denied() {
        let t = token(json!({"sub": "someone", "envs": ["DEFAULT"]}));
        assert_denied(
            &create(&cloud(json!({"token": t})), &[]),
            &[rule(
                "context-cloud-token-claims-missing",
                "spec.cloud",
                "the cloud token has no `org`, `cpg` (region) claim; is it a Gravitee Cloud token?",
            )],
        );
    }

    #[test]
    fn the_environment_must_be_chosen_among_the_tokens() {
        let several = without(cloud(json!({"token": good_token()})), "/spec/environmentId");
        assert_denied(
            &create(&several, &[]),
            &[rule(
                "context-cloud-environment-required",
                "spec.environmentId",
                "the cloud token lists 2 environments (DEFAULT, PROD); set spec.environmentId to one of them",
            )],
        );
        let one = token(json!({"org": "o", "envs": ["only"], "cpg": "us"}));
        let c = without(cloud(json!({"token": one})), "/spec/environmentId");
        assert_allowed(&create(&c, &[]));
        let other = with(
            cloud(json!({"token": good_token()})),
            "/spec/environmentId",
            json!("TEST"),
        );
        assert_denied(
            &create(&other, &[]),
            &[rule(
                "context-cloud-environment-not-in-token",
                "spec.environmentId",
                "the cloud token does not list environment \"TEST\"; set spec.environmentId to one of: DEFAULT, PROD",
            )],
        );
    }
}

mod delete {
    use super::*;

    fn api_using(namespace: &str, name: &str, context_ref: Value) -> Value {
        let a = other_api(namespace, name, &format!("/{name}"));
        with(a, "/spec/contextRef", context_ref)
    }

    #[test]
    fn an_unused_context_can_be_deleted() {
        let others = [
            api(),
            api_using("default", "a", json!({"name": "prod"})),
            api_using("team", "b", json!({"name": "dev"})),
        ];
        assert_allowed(&delete(Kind::ManagementContext, "default", "dev", &others));
    }

    #[test]
    fn a_used_context_cannot_be_deleted() {
        let others = [
            api_using("default", "a", json!({"name": "dev"})),
            api_using("team", "b", json!({"name": "dev", "namespace": "default"})),
        ];
        assert_denied(
            &delete(Kind::ManagementContext, "default", "dev", &others),
            &[rule("context-in-use", 
                "metadata.name",
                "the context is still used by 2 ApiDefinitions (default/a, team/b); delete those ApiDefinitions or point their spec.contextRef to another context first",
            )],
        );
    }

    #[test]
    fn one_referrer_is_singular() {
        let others = [api_using("default", "a", json!({"name": "dev"}))];
        assert_denied(
            &delete(Kind::ManagementContext, "default", "dev", &others),
            &[rule("context-in-use", 
                "metadata.name",
                "the context is still used by 1 ApiDefinition (default/a); delete those ApiDefinitions or point their spec.contextRef to another context first",
            )],
        );
    }

    #[test]
    fn at_most_five_referrers_are_listed() {
        let others: Vec<Value> = (1..=7)
            .map(|i| api_using("default", &format!("api-{i}"), json!({"name": "dev"})))
            .collect();
        assert_denied(
            &delete(Kind::ManagementContext, "default", "dev", &others),
            &[rule("context-in-use", 
                "metadata.name",
                "the context is still used by 7 ApiDefinitions (default/api-1, default/api-2, default/api-3, default/api-4, default/api-5 and 2 more); delete those ApiDefinitions or point their spec.contextRef to another context first",
            )],
        );
    }
}
