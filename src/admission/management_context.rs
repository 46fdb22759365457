//! Rules for `ManagementContext`.

use super::rules::{
    CONTEXT_AUTH_EMPTY, CONTEXT_AUTH_IGNORED_WITH_CLOUD, CONTEXT_AUTH_MISSING,
    CONTEXT_AUTH_SEVERAL, CONTEXT_BASE_URL_INVALID, CONTEXT_BASE_URL_MISSING,
    CONTEXT_CLOUD_SECRET_KEY_MISSING, CONTEXT_CLOUD_SECRET_NOT_FOUND,
    CONTEXT_CLOUD_TOKEN_AND_SECRET, CONTEXT_CLOUD_TOKEN_MISSING, CONTEXT_ENVIRONMENT_ID_MISSING,
    CONTEXT_IN_USE, CONTEXT_ORGANIZATION_ID_MISSING, CONTEXT_PASSWORD_MISSING,
    CONTEXT_SECRET_KEYS_MISSING, CONTEXT_SECRET_NOT_FOUND, CONTEXT_SECRET_REF_NAME_EMPTY,
    CONTEXT_SPEC_MISSING, CONTEXT_USERNAME_MISSING,
};
use super::{describe_referrers, Ctx, Doc, Verdict};
use crate::crd::management_context::{ContextAuth, ManagementContextSpec};
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
    let Ok(spec) = <ManagementContextSpec as serde::Deserialize>::deserialize(spec_value) else {
        return;
    };
    if spec.cloud.is_some() {
        cloud(ctx, &spec, verdict);
    } else {
        base_url(&spec, verdict);
        organization_id(&spec, verdict);
        environment_id(&spec, verdict);
        auth_exactly_one(&spec, verdict);
        secret_ref_resolves(ctx, &spec, verdict);
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

/// Rules `context-cloud-*` and `context-auth-ignored-with-cloud` (Gravitee Cloud contexts): exactly
/// one of `cloud.token` and `cloud.secretRef`, and the Secret holds `cloudToken`; `auth` is not used
/// with `cloud`.
fn cloud(ctx: &Ctx<'_>, spec: &ManagementContextSpec, verdict: &mut Verdict) {
    let Some(cloud) = &spec.cloud else { return };
    let token = cloud.token.as_deref().is_some_and(|t| !t.is_empty());
    match (token, &cloud.secret_ref) {
        (true, Some(_)) => verdict.raise(
            &CONTEXT_CLOUD_TOKEN_AND_SECRET,
            "spec.cloud",
            "sets both token and secretRef; keep one",
        ),
        (false, None) => verdict.raise(
            &CONTEXT_CLOUD_TOKEN_MISSING,
            "spec.cloud",
            "needs a token or a secretRef to a Secret with key cloudToken",
        ),
        (false, Some(r)) => {
            let ns = r.namespace_or(ctx.namespace);
            match ctx.lookup.secret_keys(ns, &r.name) {
                None => verdict.raise(
                    &CONTEXT_CLOUD_SECRET_NOT_FOUND,
                    "spec.cloud.secretRef",
                    format!(
                        "Secret {ns}/{} does not exist; create it with key cloudToken",
                        r.name
                    ),
                ),
                Some(keys) if !keys.contains("cloudToken") => verdict.raise(
                    &CONTEXT_CLOUD_SECRET_KEY_MISSING,
                    "spec.cloud.secretRef",
                    format!("Secret {ns}/{} has no key cloudToken; add it", r.name),
                ),
                Some(_) => {}
            }
        }
        (true, None) => {}
    }
    if spec.auth.is_some() {
        verdict.raise(
            &CONTEXT_AUTH_IGNORED_WITH_CLOUD,
            "spec.auth",
            "is ignored when spec.cloud is set; remove it",
        );
    }
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
