//! `ApiResource` (gravitee.io/v1alpha1): a resource (cache, OAuth2 server, auth provider...)
//! defined once and referenced by ApiDefinitions through `spec.resources[].ref`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use super::common::Condition;
use super::schema::open_object;

#[skip_serializing_none]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "gravitee.io",
    version = "v1alpha1",
    kind = "ApiResource",
    namespaced,
    doc = "A reusable API resource (cache, OAuth2 server, auth provider...) referenced by ApiDefinitions.",
    status = "ApiResourceStatus",
    printcolumn = r#"{"name":"Resource Name","type":"string","jsonPath":".spec.name"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Enabled","type":"boolean","jsonPath":".spec.enabled"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
pub struct ApiResourceSpec {
    /// The name policies use to find the resource (e.g. `cacheName`, `oauthResource`).
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[schemars(extend("default" = true))]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceStatus {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub observed_generation: Option<i64>,
    /// How many ApiDefinitions reference this resource.
    pub referenced_by: Option<i64>,
}
