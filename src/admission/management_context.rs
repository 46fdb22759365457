//! Rules for `ManagementContext`.

use super::rules::{
    CONTEXT_AUTH_EMPTY, CONTEXT_AUTH_IGNORED_WITH_CLOUD, CONTEXT_AUTH_MISSING,
    CONTEXT_AUTH_SEVERAL, CONTEXT_BASE_URL_INVALID, CONTEXT_BASE_URL_MISSING,
    CONTEXT_CLOUD_ENVIRONMENT_NOT_IN_TOKEN, CONTEXT_CLOUD_ENVIRONMENT_REQUIRED,
    CONTEXT_CLOUD_SECRET_KEY_MISSING, CONTEXT_CLOUD_SECRET_NOT_FOUND,
    CONTEXT_CLOUD_TOKEN_AND_SECRET, CONTEXT_CLOUD_TOKEN_CLAIMS_MISSING,
    CONTEXT_CLOUD_TOKEN_MISSING, CONTEXT_CLOUD_TOKEN_NOT_JWT, CONTEXT_ENVIRONMENT_ID_MISSING,
    CONTEXT_IN_USE, CONTEXT_ORGANIZATION_ID_MISSING, CONTEXT_PASSWORD_MISSING,
    CONTEXT_SECRET_KEYS_MISSING, CONTEXT_SECRET_NOT_FOUND, CONTEXT_SECRET_REF_NAME_EMPTY,
    CONTEXT_SPEC_MISSING, CONTEXT_USERNAME_MISSING,
};
use super::templating::is_template;
use super::{describe_referrers, Ctx, Doc, Lookup, Settings, Verdict};
use crate::crd::management_context::{CloudAuth, ContextAuth, ManagementContextSpec};
use crate::model::cloud::{self, CloudClaims, CloudError, CLOUD_TOKEN_KEY};
use crate::model::ObjectKey;

/// Runs every ManagementContext rule on `object`.
pub(crate) fn validate(ctx: &Ctx<'_>, object: &Doc<'_>, verdict: &mut Verdict) {
    let Some(spec_value) = object.get("spec") else {
        verdict.deny_missing_spec(
            &CONTEXT_SPEC_MISSING,
            "is required; a ManagementContext needs baseUrl, organizationId, environmentId and auth",
        );
        return;
    };
    // Templates whose value is known are resolved first (as GKO does): a baseUrl from a ConfigMap is
    // checked as the URL it is.
    let mut resolved = spec_value.to_value();
    super::templating::resolve_known(ctx, &mut resolved);
    let Ok(spec) = serde_json::from_value::<ManagementContextSpec>(resolved) else {
        return;
    };
    match spec.enabled_cloud() {
        Some(cloud_block) => {
            if spec.base_url.is_some() {
                base_url(&spec, verdict);
            }
            cloud(ctx, &spec, cloud_block, verdict);
        }
        None => {
            cloud_off(&spec, verdict);
            base_url(&spec, verdict);
            organization_id(&spec, verdict);
            environment_id(&spec, verdict);
            auth_exactly_one(&spec, verdict);
            secret_ref_resolves(ctx, &spec, verdict);
        }
    }
    super::templating::check_references(ctx, spec_value, "spec", verdict);
}

/// Rules `context-base-url-missing`, `context-base-url-invalid`: `spec.baseUrl` is an absolute
/// http(s) URL.
fn base_url(spec: &ManagementContextSpec, verdict: &mut Verdict) {
    match spec.base_url.as_deref().map(str::trim) {
        None | Some("") => verdict.raise(
            &CONTEXT_BASE_URL_MISSING,
            "spec.baseUrl",
            "is required; give the Management API URL, e.g. https://apim.example.com",
        ),
        Some(url) if is_template(url) => {}
        Some(url) => {
            let ok = url::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if !ok {
                verdict.raise(
                    &CONTEXT_BASE_URL_INVALID,
                    "spec.baseUrl",
                    format!("\"{url}\" is not an absolute http(s) URL; write it like https://apim.example.com"),
                );
            }
        }
    }
}

/// Rule `context-organization-id-missing`: `spec.organizationId` is not empty.
fn organization_id(spec: &ManagementContextSpec, verdict: &mut Verdict) {
    if spec
        .organization_id
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        verdict.raise(
            &CONTEXT_ORGANIZATION_ID_MISSING,
            "spec.organizationId",
            "is required; give the APIM organization id, e.g. DEFAULT",
        );
    }
}

/// Rule `context-environment-id-missing`: `spec.environmentId` is not empty.
fn environment_id(spec: &ManagementContextSpec, verdict: &mut Verdict) {
    if spec
        .environment_id
        .as_deref()
        .is_none_or(|s| s.trim().is_empty())
    {
        verdict.raise(
            &CONTEXT_ENVIRONMENT_ID_MISSING,
            "spec.environmentId",
            "is required; give the APIM environment id, e.g. DEFAULT",
        );
    }
}

/// Rules `context-auth-missing`, `context-auth-empty`, `context-auth-several`,
/// `context-username-missing`, `context-password-missing`: exactly one of `auth.bearerToken`,
/// `auth.credentials` (username and password) and `auth.secretRef`.
fn auth_exactly_one(spec: &ManagementContextSpec, verdict: &mut Verdict) {
    let Some(auth) = &spec.auth else {
        verdict.raise(
            &CONTEXT_AUTH_MISSING,
            "spec.auth",
            "is required; set exactly one of bearerToken, credentials (username and password) or secretRef",
        );
        return;
    };
    let set = configured_methods(auth);
    match set.len() {
        0 => verdict.raise(
            &CONTEXT_AUTH_EMPTY,
            "spec.auth",
            "is empty; set exactly one of bearerToken, credentials (username and password) or secretRef",
        ),
        1 => {}
        _ => verdict.raise(
            &CONTEXT_AUTH_SEVERAL,
            "spec.auth",
            format!("sets {}; keep exactly one of them", set.join(" and ")),
        ),
    }
    if let Some(c) = &auth.credentials {
        let user = c.username.as_deref().is_some_and(|s| !s.is_empty());
        let pass = c.password.as_deref().is_some_and(|s| !s.is_empty());
        if !user {
            verdict.raise(
                &CONTEXT_USERNAME_MISSING,
                "spec.auth.credentials.username",
                "is required with credentials; set both username and password",
            );
        }
        if !pass {
            verdict.raise(
                &CONTEXT_PASSWORD_MISSING,
                "spec.auth.credentials.password",
                "is required with credentials; set both username and password",
            );
        }
    }
}

fn configured_methods(auth: &ContextAuth) -> Vec<&'static str> {
    let mut set = Vec::new();
    if auth.bearer_token.as_deref().is_some_and(|t| !t.is_empty()) {
        set.push("bearerToken");
    }
    if auth.credentials.is_some() {
        set.push("credentials");
    }
    if auth.secret_ref.is_some() {
        set.push("secretRef");
    }
    set
}

/// Rules `context-secret-ref-name-empty`, `context-secret-not-found`, `context-secret-keys-missing`:
/// `auth.secretRef` names an existing Secret holding `bearerToken`, or `username` and `password`.
fn secret_ref_resolves(ctx: &Ctx<'_>, spec: &ManagementContextSpec, verdict: &mut Verdict) {
    let Some(r) = spec.auth.as_ref().and_then(|a| a.secret_ref.as_ref()) else {
        return;
    };
    if r.name.trim().is_empty() {
        verdict.raise(
            &CONTEXT_SECRET_REF_NAME_EMPTY,
            "spec.auth.secretRef.name",
            "is empty; name the Secret holding the credentials",
        );
        return;
    }
    let ns = r.namespace_or(ctx.namespace);
    match ctx.lookup.secret_keys(ns, &r.name) {
        None => verdict.raise(
            &CONTEXT_SECRET_NOT_FOUND,
            "spec.auth.secretRef",
            format!("Secret {ns}/{} does not exist; create it with key bearerToken, or keys username and password", r.name),
        ),
        Some(keys) => {
            let token = keys.contains("bearerToken");
            let basic = keys.contains("username") && keys.contains("password");
            if !token && !basic {
                let have: Vec<&str> = keys.iter().map(String::as_str).collect();
                verdict.raise(
                    &CONTEXT_SECRET_KEYS_MISSING,
                    "spec.auth.secretRef",
                    format!(
                        "Secret {ns}/{} has neither key bearerToken nor keys username and password (it has: {}); add them",
                        r.name,
                        if have.is_empty() { "no keys".to_string() } else { have.join(", ") }
                    ),
                );
            }
        }
    }
}

/// Rule `context-cloud-token-missing` (warning): a `cloud` block with neither a token nor a Secret name
/// is "cloud off", as in GKO: the context is checked as an ordinary one.
fn cloud_off(spec: &ManagementContextSpec, verdict: &mut Verdict) {
    if spec.cloud.is_some() {
        verdict.raise(
            &CONTEXT_CLOUD_TOKEN_MISSING,
            "spec.cloud",
            "has neither a token nor a secretRef name, so this is not a Gravitee Cloud context (as in GKO) and it is checked as an ordinary one; remove spec.cloud, or set cloud.token or cloud.secretRef to a Secret with key cloudToken",
        );
    }
}

/// Rules `context-cloud-*` and `context-auth-ignored-with-cloud` (Gravitee Cloud contexts): one of
/// `cloud.token` and `cloud.secretRef`, the Secret holds `cloudToken`, the token is a Gravitee Cloud
/// JWT and `environmentId` is one it lists; `auth`, if set by hand, is replaced by the token.
fn cloud(ctx: &Ctx<'_>, spec: &ManagementContextSpec, cloud: &CloudAuth, verdict: &mut Verdict) {
    if let Some((token, _)) = cloud_token(ctx, cloud, verdict) {
        cloud_claims(&token, spec.environment_id.as_deref(), verdict);
    }
    if spec
        .auth
        .as_ref()
        .is_some_and(|a| !auth_is_cloud_token(a, cloud, ctx.namespace))
    {
        verdict.raise(
            &CONTEXT_AUTH_IGNORED_WITH_CLOUD,
            "spec.auth",
            "is replaced by the cloud token when spec.cloud is set; remove it",
        );
    }
}

/// The cloud token (inline, or read from its Secret) and whether it came from the Secret; `None` when it
/// cannot be known (the Secret is missing, or its values are not read here: `gko validate`).
/// Rules `context-cloud-token-and-secret`, `context-cloud-secret-not-found`,
/// `context-cloud-secret-key-missing`.
pub(crate) fn cloud_token(
    ctx: &Ctx<'_>,
    cloud: &CloudAuth,
    verdict: &mut Verdict,
) -> Option<(String, bool)> {
    let token = cloud.token.as_deref().filter(|t| !t.trim().is_empty());
    let secret = cloud
        .secret_ref
        .as_ref()
        .filter(|r| !r.name.trim().is_empty());
    match (token, secret) {
        (Some(_), Some(_)) => {
            verdict.raise(
                &CONTEXT_CLOUD_TOKEN_AND_SECRET,
                "spec.cloud",
                "sets both token and secretRef; keep one",
            );
            None
        }
        (Some(t), None) => Some((t.trim().to_owned(), false)),
        (None, Some(r)) => {
            let ns = r.namespace_or(ctx.namespace);
            match ctx.lookup.secret_keys(ns, &r.name) {
                None => verdict.raise(
                    &CONTEXT_CLOUD_SECRET_NOT_FOUND,
                    "spec.cloud.secretRef",
                    format!(
                        "Secret {ns}/{} does not exist; create it with key {CLOUD_TOKEN_KEY}",
                        r.name
                    ),
                ),
                Some(keys) if !keys.contains(CLOUD_TOKEN_KEY) => verdict.raise(
                    &CONTEXT_CLOUD_SECRET_KEY_MISSING,
                    "spec.cloud.secretRef",
                    format!(
                        "Secret {ns}/{} has no key {CLOUD_TOKEN_KEY}; add it",
                        r.name
                    ),
                ),
                Some(_) => {}
            }
            let value = ctx.lookup.secret_value(ns, &r.name, CLOUD_TOKEN_KEY)?;
            Some((value.trim().to_owned(), true))
        }
        (None, None) => None,
    }
}

/// Rules `context-cloud-token-not-jwt`, `context-cloud-token-claims-missing`,
/// `context-cloud-environment-required`, `context-cloud-environment-not-in-token` (GKO's defaulting
/// webhook denies the same): the claims and the environment, when the token is usable.
pub(crate) fn cloud_claims(
    token: &str,
    environment_id: Option<&str>,
    verdict: &mut Verdict,
) -> Option<(CloudClaims, String)> {
    let claims = match cloud::decode(token) {
        Ok(c) => c,
        Err(e) => {
            let rule = match e {
                CloudError::NotJwt(_) => &CONTEXT_CLOUD_TOKEN_NOT_JWT,
                _ => &CONTEXT_CLOUD_TOKEN_CLAIMS_MISSING,
            };
            verdict.raise(rule, "spec.cloud", e.to_string());
            return None;
        }
    };
    match cloud::environment(&claims, environment_id) {
        Ok(env) => Some((claims, env)),
        Err(e) => {
            let rule = match e {
                CloudError::EnvironmentRequired(_) => &CONTEXT_CLOUD_ENVIRONMENT_REQUIRED,
                _ => &CONTEXT_CLOUD_ENVIRONMENT_NOT_IN_TOKEN,
            };
            verdict.raise(rule, "spec.environmentId", e.to_string());
            None
        }
    }
}

/// `auth` as the cloud defaults set it: the token as bearer token, or the cloud Secret.
fn auth_is_cloud_token(auth: &ContextAuth, cloud: &CloudAuth, namespace: &str) -> bool {
    let only_token = auth.credentials.is_none() && auth.secret_ref.is_none();
    let only_secret = auth.credentials.is_none() && auth.bearer_token.is_none();
    match (&cloud.secret_ref, &auth.secret_ref) {
        (Some(c), Some(a)) if only_secret => {
            c.name == a.name && c.namespace_or(namespace) == a.namespace_or(namespace)
        }
        _ => only_token && auth.bearer_token.is_some() && auth.bearer_token == cloud.token,
    }
}

/// GKO's defaulting of a cloud context (the mutating webhook): `spec` with `baseUrl`, `organizationId`,
/// `environmentId` and `auth` filled from the token. Nothing changes when the cloud block is off or the
/// token cannot be read here; `Err` with the denial when the token or the environment is refused.
pub(crate) fn cloud_defaults(
    namespace: &str,
    lookup: &dyn Lookup,
    spec: &mut serde_json::Value,
) -> Result<(), Verdict> {
    let Ok(typed) = serde_json::from_value::<ManagementContextSpec>(spec.clone()) else {
        return Ok(());
    };
    let Some(cloud_block) = typed.enabled_cloud() else {
        return Ok(());
    };
    let settings = Settings::default();
    let ctx = Ctx {
        namespace,
        name: "",
        lookup,
        settings: &settings,
    };
    let mut verdict = Verdict::default();
    let claims = cloud_token(&ctx, cloud_block, &mut verdict)
        .and_then(|(token, _)| cloud_claims(&token, typed.environment_id.as_deref(), &mut verdict));
    if !verdict.violations.is_empty() {
        return Err(verdict);
    }
    if let (Some((claims, env)), Some(map)) = (claims, spec.as_object_mut()) {
        cloud::fill_defaults(map, &claims, &env);
    }
    Ok(())
}

/// Rule `context-in-use` (DELETE): a context still referenced by APIs (v2 or v4) cannot be deleted.
pub(crate) fn validate_delete(ctx: &Ctx<'_>, verdict: &mut Verdict) {
    let referrers = ctx
        .lookup
        .context_users(&ObjectKey::new(ctx.namespace, ctx.name));
    if !referrers.is_empty() {
        let (users, noun) = describe_referrers(referrers);
        verdict.raise(
            &CONTEXT_IN_USE,
            "metadata.name",
            format!(
                "the context is still used by {users}; delete those {noun} or point their spec.contextRef to another context first"
            ),
        );
    }
}
