//! The rest of a v4 API: analytics, failover, flow execution, documentation pages, services,
//! console notification, portal navigation and definition context.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::endpoints::Service;
use crate::crd::schema::open_object;

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    pub logging: Option<Logging>,
    pub sampling: Option<Sampling>,
    pub tracing: Option<Tracing>,
    pub otel_logs: Option<Toggle>,
    pub reporter_metrics_enabled: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Logging {
    pub condition: Option<String>,
    pub message_condition: Option<String>,
    pub content: Option<LoggingContent>,
    pub mode: Option<LoggingMode>,
    pub phase: Option<LoggingPhase>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggingContent {
    pub headers: Option<bool>,
    pub message_headers: Option<bool>,
    pub message_metadata: Option<bool>,
    pub message_payload: Option<bool>,
    pub payload: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LoggingMode {
    pub endpoint: Option<bool>,
    pub entrypoint: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LoggingPhase {
    pub request: Option<bool>,
    pub response: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Sampling {
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<SamplingType>,
    #[schemars(required)]
    pub value: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SamplingType {
    #[serde(rename = "PROBABILITY")]
    Probability,
    #[serde(rename = "TEMPORAL")]
    Temporal,
    #[serde(rename = "COUNT")]
    Count,
    #[serde(rename = "WINDOWED_COUNT")]
    WindowedCount,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Tracing {
    pub enabled: Option<bool>,
    pub verbose: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Toggle {
    pub enabled: Option<bool>,
}

/// Circuit breaker in front of the endpoints.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failover {
    #[schemars(extend("default" = false))]
    pub enabled: Option<bool>,
    #[schemars(extend("default" = 5))]
    pub max_failures: Option<i32>,
    #[schemars(extend("default" = 2))]
    pub max_retries: Option<i32>,
    #[schemars(extend("default" = 10000))]
    pub open_state_duration: Option<i64>,
    #[schemars(extend("default" = true))]
    pub per_subscription: Option<bool>,
    #[schemars(extend("default" = 2000))]
    pub slow_call_duration: Option<i64>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowExecution {
    /// DEFAULT or BEST_MATCH.
    pub mode: Option<String>,
    #[schemars(required)]
    pub match_required: Option<bool>,
}

/// A documentation page, keyed by name in `spec.pages`.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub id: Option<String>,
    pub cross_id: Option<String>,
    pub hrid: Option<String>,
    #[schemars(required)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<PageType>,
    pub content: Option<String>,
    pub order: Option<i64>,
    #[schemars(extend("default" = false))]
    pub published: Option<bool>,
    #[schemars(extend("default" = "PUBLIC"))]
    pub visibility: Option<crate::crd::api_definition::Visibility>,
    #[schemars(extend("default" = false))]
    pub homepage: Option<bool>,
    /// Key (in `spec.pages`) of the folder this page is in.
    pub parent: Option<String>,
    pub parent_id: Option<String>,
    pub parent_hrid: Option<String>,
    pub api: Option<String>,
    pub configuration: Option<BTreeMap<String, String>>,
    pub source: Option<PageSource>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PageType {
    #[serde(rename = "MARKDOWN")]
    Markdown,
    #[serde(rename = "SWAGGER")]
    Swagger,
    #[serde(rename = "ASYNCAPI")]
    AsyncApi,
    #[serde(rename = "ASCIIDOC")]
    AsciiDoc,
    #[serde(rename = "FOLDER")]
    Folder,
    #[serde(rename = "SYSTEM_FOLDER")]
    SystemFolder,
    #[serde(rename = "ROOT")]
    Root,
}

/// Where APIM fetches a page's content from (a fetcher plugin and its configuration).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PageSource {
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<String>,
    #[serde(default)]
    #[schemars(required, schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiServices {
    pub dynamic_property: Option<Service>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConsoleNotification {
    pub events: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalNavigation {
    #[schemars(required, regex(pattern = "^/"))]
    pub path: Option<String>,
    pub display_name: Option<String>,
    pub order: Option<i32>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionContext {
    #[schemars(extend("default" = "KUBERNETES"))]
    pub origin: Option<Origin>,
    /// MANAGEMENT: APIM deploys the API; KUBERNETES: gko also writes the gateway ConfigMap.
    #[schemars(extend("default" = "MANAGEMENT"))]
    pub sync_from: Option<SyncFrom>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Origin {
    #[default]
    #[serde(rename = "KUBERNETES")]
    Kubernetes,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SyncFrom {
    #[serde(rename = "KUBERNETES")]
    Kubernetes,
    #[default]
    #[serde(rename = "MANAGEMENT")]
    Management,
}
