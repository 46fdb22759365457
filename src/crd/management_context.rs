//! `ManagementContext` (gravitee.io/v1alpha1): where and how to reach an APIM environment.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::common::{Condition, NamespacedRef};

#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gravitee.io",
    version = "v1alpha1",
    kind = "ManagementContext",
    namespaced,
    doc = "Where and how gko reaches an APIM environment (Management API URL, organization, environment, credentials).",
    status = "ManagementContextStatus",
    shortname = "graviteecontexts",
    printcolumn = r#"{"name":"BaseUrl","type":"string","jsonPath":".spec.baseUrl"}"#,
    printcolumn = r#"{"name":"Org","type":"string","jsonPath":".spec.organizationId"}"#,
    printcolumn = r#"{"name":"Env","type":"string","jsonPath":".spec.environmentId"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ManagementContextSpec {
    /// URL of the Management API, e.g. `https://apim.example.com` (no `/management` suffix).
    pub base_url: Option<String>,
    pub organization_id: Option<String>,
    pub environment_id: Option<String>,
    /// Overrides the `/management` prefix appended to `baseUrl` (GKO 4.x).
    pub path: Option<String>,
    pub auth: Option<ContextAuth>,
    /// Gravitee Cloud (GKO 4.x): a cloud token, inline or from a Secret key `cloudToken`.
    pub cloud: Option<CloudAuth>,
}

/// Exactly one of the three must be set.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextAuth {
    pub bearer_token: Option<String>,
    pub credentials: Option<BasicCredentials>,
    /// A Secret with key `bearerToken`, or keys `username` and `password`.
    pub secret_ref: Option<NamespacedRef>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Default, PartialEq, JsonSchema)]
pub struct BasicCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudAuth {
    pub token: Option<String>,
    pub secret_ref: Option<NamespacedRef>,
}

impl CloudAuth {
    /// GKO's reading: a cloud block is on with a token or a Secret name; `cloud: {}` or an empty
    /// `secretRef.name` is "cloud off", and the context is an ordinary one.
    pub fn is_enabled(&self) -> bool {
        self.token.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self
                .secret_ref
                .as_ref()
                .is_some_and(|r| !r.name.trim().is_empty())
    }
}

impl ManagementContextSpec {
    /// The cloud block when it is on (see [`CloudAuth::is_enabled`]).
    pub fn enabled_cloud(&self) -> Option<&CloudAuth> {
        self.cloud.as_ref().filter(|c| c.is_enabled())
    }
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagementContextStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub observed_generation: Option<i64>,
    /// `4.x` when the v2 REST API answered, `3.x` otherwise.
    pub apim_generation: Option<String>,
    /// Consecutive failed probes (drives the per-context backoff).
    pub consecutive_failures: Option<i64>,
    /// Hash of URL, ids and credentials (never the credentials themselves) last probed.
    pub probed_hash: Option<String>,
}
