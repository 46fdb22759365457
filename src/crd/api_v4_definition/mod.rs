//! `ApiV4Definition` (gravitee.io/v1alpha1): a Gravitee v4 API definition (HTTP proxy, message and
//! native Kafka APIs), with the fields of GKO 4.x's CRD.
//!
//! Kind, plural, short name, printer columns, defaults and required fields are GKO's, so that GKO
//! manifests apply unchanged and nothing a user wrote is pruned. Where v2 has the same shape the
//! v2 types are reused (references, properties, members, metadata, resources, response templates).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

mod endpoints;
mod extras;
mod listeners;
mod plans;

pub use endpoints::*;
pub use extras::*;
pub use listeners::*;
pub use plans::*;

use super::api_definition::{
    ApiErrors, ApiMetadata, ApiState, Member, Property, ResourceOrRef, ResponseTemplate, Visibility,
};
use super::common::{Condition, NamespacedRef};

#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gravitee.io",
    version = "v1alpha1",
    kind = "ApiV4Definition",
    namespaced,
    doc = "An API (Gravitee v4 definition: HTTP proxy, message or native Kafka) managed from Kubernetes.",
    status = "ApiV4DefinitionStatus",
    shortname = "graviteev4apis",
    printcolumn = r#"{"name":"State","type":"string","description":"State","jsonPath":".spec.state"}"#,
    printcolumn = r#"{"name":"Lifecycle State","type":"string","description":"Lifecycle State","jsonPath":".spec.lifecycleState"}"#,
    printcolumn = r#"{"name":"Version","type":"string","description":"API version.","jsonPath":".spec.version"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApiV4DefinitionSpec {
    /// The ManagementContext this API is pushed to. Without it, the API is only deployed to the
    /// gateway (`definitionContext.syncFrom: KUBERNETES`).
    pub context_ref: Option<NamespacedRef>,
    pub id: Option<String>,
    /// Stable identity of the API across environments.
    pub cross_id: Option<String>,
    /// Human-readable id (APIM 4.12+); GKO uses `<namespace>-<name>`.
    pub hrid: Option<String>,
    #[schemars(required)]
    pub name: Option<String>,
    #[schemars(required)]
    pub version: Option<String>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<ApiType>,
    #[schemars(extend("default" = "V4"))]
    pub definition_version: Option<DefinitionVersion>,
    pub definition_context: Option<DefinitionContext>,
    #[schemars(extend("default" = "STARTED"))]
    pub state: Option<ApiState>,
    #[schemars(extend("default" = "UNPUBLISHED"))]
    pub lifecycle_state: Option<LifecycleState>,
    #[schemars(extend("default" = "PRIVATE"))]
    pub visibility: Option<Visibility>,

    #[schemars(required, length(min = 1))]
    pub listeners: Option<Vec<Listener>>,
    #[schemars(required, length(min = 1))]
    pub endpoint_groups: Option<Vec<EndpointGroup>>,
    /// Plans keyed by name (the key becomes the plan's hrid).
    pub plans: Option<BTreeMap<String, Plan>>,
    #[schemars(extend("default" = []))]
    pub flows: Option<Vec<Flow>>,
    pub flow_execution: Option<FlowExecution>,
    pub analytics: Option<Analytics>,
    pub failover: Option<Failover>,
    #[schemars(extend("default" = []))]
    pub properties: Option<Vec<Property>>,
    /// Resources inline, or by `ref` to an ApiResource (as for v2 APIs).
    #[schemars(extend("default" = []))]
    pub resources: Option<Vec<ResourceOrRef>>,
    pub response_templates: Option<BTreeMap<String, BTreeMap<String, ResponseTemplate>>>,
    pub services: Option<ApiServices>,
    /// Documentation pages keyed by name; `parent` names another key.
    pub pages: Option<BTreeMap<String, Page>>,

    #[schemars(extend("default" = []))]
    pub groups: Option<Vec<String>>,
    /// Group objects (gko does not model the kind: passed to APIM unchecked).
    #[schemars(extend("default" = []))]
    pub group_refs: Option<Vec<NamespacedRef>>,
    pub members: Option<Vec<Member>>,
    #[schemars(extend("default" = true))]
    pub notify_members: Option<bool>,
    #[schemars(extend("default" = []))]
    pub categories: Option<Vec<String>>,
    #[schemars(extend("default" = []))]
    pub labels: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    #[schemars(extend("default" = []))]
    pub metadata: Option<Vec<ApiMetadata>>,
    /// Notification objects (gko does not model the kind: passed to APIM unchecked).
    #[schemars(extend("default" = []))]
    pub notifications_refs: Option<Vec<NamespacedRef>>,
    pub console_notification: Option<ConsoleNotification>,
    pub portal_navigation: Option<Vec<PortalNavigation>>,
    pub allowed_in_api_products: Option<bool>,
    pub allow_multi_jwt_oauth2_subscriptions: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ApiType {
    #[default]
    #[serde(rename = "PROXY")]
    Proxy,
    #[serde(rename = "MESSAGE")]
    Message,
    #[serde(rename = "NATIVE")]
    Native,
    #[serde(rename = "LLM_PROXY")]
    LlmProxy,
    #[serde(rename = "MCP_PROXY")]
    McpProxy,
    #[serde(rename = "A2A_PROXY")]
    A2aProxy,
}

impl ApiType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Proxy => "PROXY",
            ApiType::Message => "MESSAGE",
            ApiType::Native => "NATIVE",
            ApiType::LlmProxy => "LLM_PROXY",
            ApiType::McpProxy => "MCP_PROXY",
            ApiType::A2aProxy => "A2A_PROXY",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DefinitionVersion {
    #[default]
    V4,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LifecycleState {
    #[serde(rename = "PUBLISHED")]
    Published,
    #[default]
    #[serde(rename = "UNPUBLISHED")]
    Unpublished,
    #[serde(rename = "DEPRECATED")]
    Deprecated,
    #[serde(rename = "ARCHIVED")]
    Archived,
}

/// Observed state: GKO's fields (so GKO tooling keeps working) and gko's own, as for v2.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiV4DefinitionStatus {
    /// APIM id of the API.
    pub id: Option<String>,
    pub cross_id: Option<String>,
    pub environment_id: Option<String>,
    pub organization_id: Option<String>,
    /// STARTED or STOPPED, as last pushed.
    pub state: Option<ApiState>,
    /// `Completed` or `Failed` (GKO, deprecated).
    pub processing_status: Option<String>,
    /// Plan key (hrid) to APIM plan id.
    pub plans: Option<BTreeMap<String, String>>,
    pub errors: Option<ApiErrors>,
    /// Subscriptions to the API's plans (GKO's Subscription controller).
    pub subscriptions: Option<i64>,
    pub observed_generation: Option<i64>,
    /// `Accepted`, `ResolvedRefs` and, once pushed through the Automation API, `AutomationAPIManaged`.
    #[serde(default)]
    #[schemars(extend("default" = []))]
    pub conditions: Vec<Condition>,
    /// SHA-256 of the last payload APIM accepted; an equal payload is not pushed again.
    pub synced_hash: Option<String>,
    /// The context the API was last pushed to (`namespace/name`), to clean up on promotion.
    pub synced_context: Option<String>,
    /// The cluster identity stamped on what gko pushed.
    pub cluster_id: Option<String>,
    /// Hash of the last payload APIM refused as invalid: it is not sent again until it changes.
    pub failed_hash: Option<String>,
    /// The ConfigMap gko wrote for the gateway (`syncFrom: KUBERNETES`), until it is removed.
    pub local_config_map: Option<String>,
}

/// Condition type GKO 4.12+ sets once the API is managed through the Automation API (HRID mode).
pub const AUTOMATION_API_MANAGED: &str = "AutomationAPIManaged";

impl ApiV4DefinitionSpec {
    /// Every listener of `type_`.
    pub fn listeners_of(&self, type_: ListenerType) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .flatten()
            .filter(move |l| l.type_ == Some(type_))
    }
}
