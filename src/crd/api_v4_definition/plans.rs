//! Plans (keyed by name in `spec.plans`) and flows of a v4 API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::crd::api_definition::{PlanStatus, PlanType, PlanValidation};
use crate::crd::common::NamespacedRef;
use crate::crd::schema::open_object;

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: Option<String>,
    pub cross_id: Option<String>,
    /// Human-readable id (APIM 4.12+); GKO derives it from the plan's key.
    pub hrid: Option<String>,
    #[schemars(required)]
    pub name: Option<String>,
    pub description: Option<String>,
    pub security: Option<PlanSecurity>,
    pub characteristics: Option<Vec<String>>,
    #[schemars(extend("default" = []))]
    pub excluded_groups: Option<Vec<String>>,
    /// Key of the page (in `spec.pages`) holding the general conditions.
    pub general_conditions: Option<String>,
    pub general_conditions_hrid: Option<String>,
    pub selection_rule: Option<String>,
    #[serde(rename = "comment_required")]
    pub comment_required: Option<bool>,
    #[schemars(extend("default" = []))]
    pub tags: Option<Vec<String>>,
    #[schemars(extend("default" = "PUBLISHED"))]
    pub status: Option<PlanStatus>,
    #[serde(rename = "type")]
    #[schemars(extend("default" = "API"))]
    pub type_: Option<PlanType>,
    #[schemars(extend("default" = "AUTO"))]
    pub validation: Option<PlanValidation>,
    /// STANDARD, or PUSH for plans of push entrypoints (webhook).
    #[schemars(extend("default" = "STANDARD"))]
    pub mode: Option<String>,
    pub order: Option<i32>,
    #[schemars(extend("default" = []))]
    pub flows: Option<Vec<Flow>>,
    #[schemars(extend("default" = "V4"))]
    pub definition_version: Option<String>,
    /// NATIVE (Kafka) plans: the bootstrap port and the broker port range.
    pub bootstrap_port: Option<i32>,
    pub broker_range_start: Option<i32>,
    pub broker_range_end: Option<i32>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PlanSecurity {
    /// KEY_LESS, API_KEY, JWT, OAUTH2 or MTLS.
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Flow {
    pub id: Option<String>,
    pub name: Option<String>,
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    pub selectors: Option<Vec<Selector>>,
    pub request: Option<Vec<FlowStep>>,
    pub response: Option<Vec<FlowStep>>,
    pub subscribe: Option<Vec<FlowStep>>,
    pub publish: Option<Vec<FlowStep>>,
    pub connect: Option<Vec<FlowStep>>,
    pub interact: Option<Vec<FlowStep>>,
    pub tags: Option<Vec<String>>,
}

impl Flow {
    /// Every phase with its steps: (phase name as in the spec, steps).
    pub fn phases(&self) -> [(&'static str, &[FlowStep]); 6] {
        fn steps(s: &Option<Vec<FlowStep>>) -> &[FlowStep] {
            s.as_deref().unwrap_or_default()
        }
        [
            ("request", steps(&self.request)),
            ("response", steps(&self.response)),
            ("subscribe", steps(&self.subscribe)),
            ("publish", steps(&self.publish)),
            ("connect", steps(&self.connect)),
            ("interact", steps(&self.interact)),
        ]
    }
}

/// A flow selector (HTTP, CHANNEL, CONDITION...); kept open as in GKO's CRD.
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct Selector {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// HTTP selector.
    pub path: Option<String>,
    pub path_operator: Option<String>,
    pub methods: Option<Vec<String>>,
    /// CHANNEL selector.
    pub channel: Option<String>,
    pub channel_operator: Option<String>,
    pub operations: Option<Vec<String>>,
    pub entrypoints: Option<Vec<String>>,
    /// CONDITION selector.
    pub condition: Option<String>,
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlowStep {
    pub name: Option<String>,
    pub description: Option<String>,
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    pub policy: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
    pub condition: Option<String>,
    pub message_condition: Option<String>,
    /// A SharedPolicyGroup object; gko does not model the kind, APIM resolves it.
    pub shared_policy_group_ref: Option<NamespacedRef>,
}
