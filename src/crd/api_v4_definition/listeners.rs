//! Listeners (how clients reach a v4 API) and their entrypoints.
//!
//! One struct covers the four listener types (HTTP, TCP, SUBSCRIPTION, KAFKA): each field says which
//! type uses it. As in GKO's CRD a listener keeps fields gko does not model (newer APIM releases add
//! some), both in the schema (`x-kubernetes-preserve-unknown-fields`) and in `extra`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::crd::api_definition::Cors;
use crate::crd::schema::open_object;

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct Listener {
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<ListenerType>,
    /// How the listener serves the API (`http-proxy`, `sse`, `native-kafka`...).
    pub entrypoints: Option<Vec<Entrypoint>>,
    /// Gateway server ids the listener is bound to (all servers when empty).
    pub servers: Option<Vec<String>>,
    /// HTTP: the context paths (with an optional virtual host).
    pub paths: Option<Vec<ListenerPath>>,
    /// HTTP: path mappings for analytics.
    pub path_mappings: Option<Vec<String>>,
    /// HTTP: CORS settings.
    pub cors: Option<Cors>,
    /// TCP: the SNI hosts.
    pub hosts: Option<Vec<String>>,
    /// KAFKA: the host clients connect to.
    pub host: Option<String>,
    /// KAFKA: the port clients connect to.
    pub port: Option<i32>,
    /// Fields of newer APIM releases, kept as written.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ListenerType {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "SUBSCRIPTION")]
    Subscription,
    #[serde(rename = "KAFKA")]
    Kafka,
}

impl ListenerType {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerType::Http => "HTTP",
            ListenerType::Tcp => "TCP",
            ListenerType::Subscription => "SUBSCRIPTION",
            ListenerType::Kafka => "KAFKA",
        }
    }
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerPath {
    /// Virtual host; the path is then only matched for this host.
    pub host: Option<String>,
    pub path: Option<String>,
    /// Whether the gateway exposes this host's URL instead of its default one.
    pub override_access: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entrypoint {
    /// The entrypoint plugin (`http-proxy`, `http-get`, `sse`, `websocket`, `webhook`, `native-kafka`...).
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<String>,
    /// Quality of service of a message entrypoint.
    pub qos: Option<Qos>,
    /// Dead letter queue: the endpoint messages go to when delivery fails.
    pub dlq: Option<Dlq>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Qos {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "AUTO")]
    Auto,
    #[serde(rename = "AT_MOST_ONCE")]
    AtMostOnce,
    #[serde(rename = "AT_LEAST_ONCE")]
    AtLeastOnce,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Dlq {
    pub endpoint: Option<String>,
}
