//! `ApiDefinition` (gravitee.io/v1alpha1): a Gravitee v2 API definition.
//!
//! The fields are the union of what GKO 0.x and GKO 4.x accept, so that any manifest written for
//! either applies unchanged and nothing a user wrote is pruned by the API server. Where the two
//! generations renamed a field (`selectionRule` → `selection_rule`) both spellings are modelled.
//! Where their defaults differ, the 4.x default is used (see README, "Compatibility").

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

mod proxy;

pub use proxy::*;

use super::common::{Condition, NamespacedRef};
use super::schema::{open_object, open_value};

#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gravitee.io",
    version = "v1alpha1",
    kind = "ApiDefinition",
    namespaced,
    doc = "An API (Gravitee v2 definition) managed from Kubernetes and pushed to APIM or to the gateway.",
    status = "ApiDefinitionStatus",
    shortname = "graviteeapis",
    printcolumn = r#"{"name":"API Name","type":"string","jsonPath":".spec.name"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Context","type":"string","jsonPath":".spec.contextRef.name"}"#,
    printcolumn = r#"{"name":"Entrypoint","type":"string","jsonPath":".spec.proxy.virtual_hosts[*].path"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".spec.state"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApiDefinitionSpec {
    /// The ManagementContext this API is pushed to. Without it, the API is only deployed
    /// locally (`local: true`).
    pub context_ref: Option<NamespacedRef>,
    /// Store the definition in a ConfigMap read by the gateway (GKO 0.x defaulted to true,
    /// 4.x to false; gko follows 4.x).
    #[schemars(extend("default" = false))]
    pub local: Option<bool>,

    pub id: Option<String>,
    /// Stable identity of the API across environments (a UUID).
    pub cross_id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    #[schemars(extend("default" = "STARTED"))]
    pub state: Option<ApiState>,
    #[schemars(extend("default" = "PRIVATE"))]
    pub visibility: Option<Visibility>,
    #[serde(rename = "lifecycle_state")]
    #[schemars(extend("default" = "CREATED"))]
    pub lifecycle_state: Option<LifecycleState>,
    #[schemars(extend("default" = "2.0.0"))]
    pub gravitee: Option<String>,
    #[serde(rename = "flow_mode")]
    #[schemars(extend("default" = "DEFAULT"))]
    pub flow_mode: Option<FlowMode>,
    #[serde(rename = "execution_mode")]
    pub execution_mode: Option<ExecutionMode>,
    #[serde(rename = "definition_context")]
    pub definition_context: Option<DefinitionContext>,
    pub deployed_at: Option<i64>,

    pub proxy: Option<Proxy>,
    pub plans: Option<Vec<Plan>>,
    pub flows: Option<Vec<Flow>>,
    pub resources: Option<Vec<ResourceOrRef>>,
    pub properties: Option<Vec<Property>>,
    pub services: Option<Services>,
    #[serde(rename = "path_mappings")]
    pub path_mappings: Option<Vec<String>>,
    #[serde(rename = "response_templates")]
    pub response_templates: Option<BTreeMap<String, BTreeMap<String, ResponseTemplate>>>,

    pub tags: Option<Vec<String>>,
    pub labels: Option<Vec<String>>,
    pub categories: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub group_refs: Option<Vec<NamespacedRef>>,
    pub notifications_refs: Option<Vec<NamespacedRef>>,
    pub notify_members: Option<bool>,
    pub members: Option<Vec<Member>>,
    pub metadata: Option<Vec<ApiMetadata>>,
    /// GKO 0.x: the primary owner of the API (removed in 4.x, still accepted).
    pub primary_owner: Option<PrimaryOwner>,
    /// Documentation pages: a list in GKO 0.x, a map keyed by page name in 4.x.
    #[serde(default)]
    #[schemars(schema_with = "open_value")]
    pub pages: Option<Value>,
    pub console_notification_configuration: Option<ConsoleNotificationConfiguration>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ApiState {
    #[default]
    #[serde(rename = "STARTED")]
    Started,
    #[serde(rename = "STOPPED")]
    Stopped,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Visibility {
    #[serde(rename = "PUBLIC")]
    Public,
    #[default]
    #[serde(rename = "PRIVATE")]
    Private,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LifecycleState {
    #[default]
    #[serde(rename = "CREATED")]
    Created,
    #[serde(rename = "PUBLISHED")]
    Published,
    #[serde(rename = "UNPUBLISHED")]
    Unpublished,
    #[serde(rename = "DEPRECATED")]
    Deprecated,
    #[serde(rename = "ARCHIVED")]
    Archived,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FlowMode {
    #[default]
    #[serde(rename = "DEFAULT")]
    Default,
    #[serde(rename = "BEST_MATCH")]
    BestMatch,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ExecutionMode {
    #[serde(rename = "v3")]
    V3,
    /// APIM 3.18-3.20 name of the reactive engine.
    #[serde(rename = "jupiter")]
    Jupiter,
    #[serde(rename = "v4-emulation-engine")]
    V4EmulationEngine,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionContext {
    #[schemars(extend("default" = "kubernetes"))]
    pub origin: Option<String>,
    #[schemars(extend("default" = "fully_managed"))]
    pub mode: Option<String>,
    pub sync_from: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: Option<String>,
    pub cross_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// KEY_LESS, API_KEY, OAUTH2 or JWT.
    pub security: Option<String>,
    /// The security policy configuration, a JSON document in a string.
    pub security_definition: Option<String>,
    /// GKO 0.x spelling of `selection_rule`.
    pub selection_rule: Option<String>,
    #[serde(rename = "selection_rule")]
    pub selection_rule_v4: Option<String>,
    pub api: Option<String>,
    pub paths: Option<BTreeMap<String, Vec<PathRule>>>,
    pub flows: Option<Vec<Flow>>,
    #[serde(rename = "excluded_groups")]
    pub excluded_groups: Option<Vec<String>>,
    #[serde(rename = "comment_required")]
    pub comment_required: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub characteristics: Option<Vec<String>>,
    #[schemars(extend("default" = "PUBLISHED"))]
    pub status: Option<PlanStatus>,
    #[serde(rename = "type")]
    #[schemars(extend("default" = "API"))]
    pub type_: Option<PlanType>,
    #[schemars(extend("default" = "AUTO"))]
    pub validation: Option<PlanValidation>,
    pub order: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PlanStatus {
    #[serde(rename = "STAGING")]
    Staging,
    #[default]
    #[serde(rename = "PUBLISHED")]
    Published,
    #[serde(rename = "DEPRECATED")]
    Deprecated,
    /// GKO 0.x only.
    #[serde(rename = "CLOSED")]
    Closed,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PlanType {
    #[default]
    #[serde(rename = "API")]
    Api,
    #[serde(rename = "CATALOG")]
    Catalog,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PlanValidation {
    #[default]
    #[serde(rename = "AUTO")]
    Auto,
    #[serde(rename = "MANUAL")]
    Manual,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PathRule {
    pub enabled: Option<bool>,
    pub methods: Option<Vec<HttpMethod>>,
    pub policy: Option<PathRulePolicy>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PathRulePolicy {
    pub name: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Flow {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "path-operator")]
    pub path_operator: Option<PathOperator>,
    pub condition: Option<String>,
    pub consumers: Option<Vec<Consumer>>,
    pub methods: Option<Vec<HttpMethod>>,
    pub pre: Option<Vec<Step>>,
    pub post: Option<Vec<Step>>,
    pub enabled: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PathOperator {
    pub path: Option<String>,
    #[schemars(extend("default" = "STARTS_WITH"))]
    pub operator: Option<PathOperatorKind>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PathOperatorKind {
    #[serde(rename = "STARTS_WITH")]
    StartsWith,
    #[serde(rename = "EQUALS")]
    Equals,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub consumer_id: Option<String>,
    pub consumer_type: Option<i32>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Step {
    pub name: Option<String>,
    pub policy: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub condition: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

/// An entry of `spec.resources`: either an inline resource or a reference to an ApiResource.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ResourceOrRef {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
    #[serde(rename = "ref")]
    pub reference: Option<NamespacedRef>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Property {
    pub key: Option<String>,
    pub value: Option<String>,
    pub encrypted: Option<bool>,
    pub encryptable: Option<bool>,
    pub dynamic: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiMetadata {
    pub key: Option<String>,
    pub name: Option<String>,
    pub format: Option<MetadataFormat>,
    pub value: Option<String>,
    pub default_value: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum MetadataFormat {
    #[serde(rename = "STRING")]
    String,
    #[serde(rename = "NUMERIC")]
    Numeric,
    #[serde(rename = "BOOLEAN")]
    Boolean,
    #[serde(rename = "DATE")]
    Date,
    #[serde(rename = "MAIL")]
    Mail,
    #[serde(rename = "URL")]
    Url,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub source: Option<String>,
    pub source_id: Option<String>,
    pub role: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryOwner {
    pub id: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConsoleNotificationConfiguration {
    #[serde(rename = "config_type")]
    pub config_type: Option<String>,
    pub groups: Option<Vec<String>>,
    pub hooks: Option<Vec<String>>,
    pub origin: Option<String>,
    #[serde(rename = "referenceId")]
    pub reference_id: Option<String>,
    #[serde(rename = "referenceType")]
    pub reference_type: Option<String>,
    pub user: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResponseTemplate {
    pub status: Option<i32>,
    pub headers: Option<BTreeMap<String, String>>,
    pub body: Option<String>,
    pub propagate_error_key_to_logs: Option<bool>,
}

/// Observed state, with GKO's fields (so GKO tooling keeps working) and gko's own.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiDefinitionStatus {
    /// APIM id of the API.
    pub id: Option<String>,
    pub cross_id: Option<String>,
    pub environment_id: Option<String>,
    pub organization_id: Option<String>,
    /// `Completed` or `Failed` (GKO).
    pub processing_status: Option<String>,
    /// STARTED or STOPPED, as last pushed.
    pub state: Option<String>,
    /// Plan crossId (or name) to APIM plan id.
    pub plans: Option<BTreeMap<String, String>>,
    pub errors: Option<ApiErrors>,
    pub subscriptions: Option<i64>,
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// SHA-256 of the last payload APIM accepted; an equal payload is not pushed again.
    pub synced_hash: Option<String>,
    /// The context the API was last pushed to (`namespace/name`), to clean up on promotion.
    pub synced_context: Option<String>,
    /// The cluster identity stamped on what gko pushed.
    pub cluster_id: Option<String>,
    /// Hash of the last payload APIM refused as invalid: it is not sent again until it changes.
    pub failed_hash: Option<String>,
    /// The ConfigMap gko wrote for the gateway (`local: true`), until it is removed.
    pub local_config_map: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ApiErrors {
    pub severe: Option<Vec<String>>,
    pub warning: Option<Vec<String>>,
}
