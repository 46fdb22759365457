//! Gravitee Cloud contexts (GKO 4.x `spec.cloud`): the cloud token is a JWT whose claims name the
//! organization (`org`), the environments it may use (`envs`) and the control plane's geography
//! (`cpg`). As GKO, gko reads the claims without verifying the signature (APIM does, on every call):
//! the Management API is `https://<cpg>.cloudgate.gravitee.io` under `/apim/rest`, authenticated with
//! the token as a bearer token. Pure functions; the webhook and the reconciler call them.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The Secret key holding the cloud token (`spec.cloud.secretRef`).
pub const CLOUD_TOKEN_KEY: &str = "cloudToken";
/// The Management API prefix of Gravitee Cloud (instead of `/management`), unless `spec.path` is set.
pub const CLOUD_BASE_PATH: &str = "/apim/rest";

/// What gko reads from a cloud token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudClaims {
    pub org: String,
    pub envs: Vec<String>,
    /// Control plane geography (`cpg`), e.g. `eu`.
    pub geography: String,
}

impl CloudClaims {
    /// The Management API base URL of the token's control plane.
    pub fn base_url(&self) -> String {
        format!("https://{}.cloudgate.gravitee.io", self.geography)
    }
}

/// Why a cloud token or the environment chosen with it is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("the cloud token is not a JWT ({0}); paste the token Gravitee Cloud gave you, as is")]
    NotJwt(&'static str),
    #[error("the cloud token has no {0} claim; is it a Gravitee Cloud token?")]
    ClaimsMissing(String),
    #[error("the cloud token lists {} environments ({}); set spec.environmentId to one of them", .0.len(), .0.join(", "))]
    EnvironmentRequired(Vec<String>),
    #[error("the cloud token does not list environment \"{given}\"; set spec.environmentId to one of: {}", .listed.join(", "))]
    EnvironmentNotInToken { given: String, listed: Vec<String> },
}

/// Decodes the claims of a cloud token (signature not verified, as GKO).
pub fn decode(token: &str) -> Result<CloudClaims, CloudError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(CloudError::NotJwt("it is not three dot-separated parts"));
    };
    if json_object(header).is_none() {
        return Err(CloudError::NotJwt("its header is not base64url JSON"));
    }
    let claims =
        json_object(payload).ok_or(CloudError::NotJwt("its payload is not base64url JSON"))?;
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let envs: Vec<String> = claims
        .get("envs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let (org, geography) = (text("org"), text("cpg"));
    let mut missing = Vec::new();
    if org.is_none() {
        missing.push("`org`");
    }
    if envs.is_empty() {
        missing.push("`envs`");
    }
    if geography.is_none() {
        missing.push("`cpg` (region)");
    }
    match (org, geography) {
        (Some(org), Some(geography)) if missing.is_empty() => Ok(CloudClaims {
            org,
            envs,
            geography,
        }),
        _ => Err(CloudError::ClaimsMissing(missing.join(", "))),
    }
}

fn json_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The environment a cloud context targets: the given one, which the token must list, else the token's
/// only environment.
pub fn environment(claims: &CloudClaims, given: Option<&str>) -> Result<String, CloudError> {
    match given.map(str::trim).filter(|g| !g.is_empty()) {
        Some(g) if claims.envs.iter().any(|e| e == g) => Ok(g.to_owned()),
        Some(g) => Err(CloudError::EnvironmentNotInToken {
            given: g.to_owned(),
            listed: claims.envs.clone(),
        }),
        None => match claims.envs.as_slice() {
            [only] => Ok(only.clone()),
            several => Err(CloudError::EnvironmentRequired(several.to_vec())),
        },
    }
}

/// GKO's defaults of a cloud context `spec` (JSON): `baseUrl` from the token when empty, `organizationId`
/// from the token, `environmentId` as [`environment`] chose it, and `auth` replaced by the cloud token
/// (the same Secret when the token comes from one, else `bearerToken`).
pub fn fill_defaults(spec: &mut Map<String, Value>, claims: &CloudClaims, env: &str) {
    let base_url_empty = spec
        .get("baseUrl")
        .and_then(Value::as_str)
        .is_none_or(|u| u.trim().is_empty());
    if base_url_empty {
        spec.insert("baseUrl".into(), json!(claims.base_url()));
    }
    spec.insert("organizationId".into(), json!(claims.org));
    spec.insert("environmentId".into(), json!(env));
    let cloud = spec.get("cloud").cloned().unwrap_or(Value::Null);
    let secret_ref = cloud.get("secretRef").filter(|r| {
        r.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.trim().is_empty())
    });
    let auth = match (secret_ref, cloud.get("token")) {
        (Some(r), _) => json!({"secretRef": r}),
        (None, Some(token)) => json!({"bearerToken": token}),
        (None, None) => return,
    };
    spec.insert("auth".into(), auth);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    /// A token with these claims (and a signature nobody checks).
    pub(crate) fn token(claims: Value) -> String {
        format!(
            "{}.{}.c2ln",
            part(&json!({"alg": "HS256", "typ": "JWT"})),
            part(&claims)
        )
    }

    #[test]
    fn claims_are_read_without_a_signature_check() {
        let t = token(json!({"org": "o1", "envs": ["e1", "e2"], "cpg": "eu", "sub": "x"}));
        let claims = decode(&t).expect("a cloud token");
        assert_eq!(claims.org, "o1");
        assert_eq!(claims.envs, vec!["e1", "e2"]);
        assert_eq!(claims.base_url(), "https://eu.cloudgate.gravitee.io");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(
            decode("not-a-jwt"),
            Err(CloudError::NotJwt("it is not three dot-separated parts"))
        );
        assert_eq!(
            decode("a.b.c"),
            Err(CloudError::NotJwt("its header is not base64url JSON"))
        );
        assert_eq!(
            decode(&token(json!({"envs": ["e"]}))),
            Err(CloudError::ClaimsMissing("`org`, `cpg` (region)".into()))
        );
        assert_eq!(
            decode(&token(json!({"org": "o", "envs": [], "cpg": "us"}))),
            Err(CloudError::ClaimsMissing("`envs`".into()))
        );
    }

    #[test]
    fn the_environment_is_the_given_one_or_the_only_one() {
        let one = CloudClaims {
            org: "o".into(),
            envs: vec!["e1".into()],
            geography: "eu".into(),
        };
        let two = CloudClaims {
            envs: vec!["e1".into(), "e2".into()],
            ..one.clone()
        };
        assert_eq!(environment(&one, None), Ok("e1".into()));
        assert_eq!(environment(&one, Some(" ")), Ok("e1".into()));
        assert_eq!(environment(&two, Some("e2")), Ok("e2".into()));
        assert_eq!(
            environment(&two, None),
            Err(CloudError::EnvironmentRequired(vec![
                "e1".into(),
                "e2".into()
            ]))
        );
        assert_eq!(
            environment(&one, Some("e9")),
            Err(CloudError::EnvironmentNotInToken {
                given: "e9".into(),
                listed: vec!["e1".into()]
            })
        );
    }

    #[test]
    fn defaults_fill_url_ids_and_auth() {
        let claims = CloudClaims {
            org: "o".into(),
            envs: vec!["e".into()],
            geography: "us".into(),
        };
        let mut spec = json!({"cloud": {"token": "T"}, "auth": {"credentials": {"username": "u"}}});
        let map = spec.as_object_mut().expect("object");
        fill_defaults(map, &claims, "e");
        assert_eq!(
            spec,
            json!({"cloud": {"token": "T"}, "baseUrl": "https://us.cloudgate.gravitee.io",
                   "organizationId": "o", "environmentId": "e", "auth": {"bearerToken": "T"}})
        );
        let mut spec = json!({"baseUrl": "https://own", "cloud": {"secretRef": {"name": "s"}}});
        let map = spec.as_object_mut().expect("object");
        fill_defaults(map, &claims, "e");
        assert_eq!(spec["baseUrl"], "https://own");
        assert_eq!(spec["auth"], json!({"secretRef": {"name": "s"}}));
    }
}
