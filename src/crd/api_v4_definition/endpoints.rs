//! Endpoint groups of a v4 API: the backends, their shared configuration, HTTP client and SSL options
//! and their services (discovery, health check).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::crd::schema::open_object;

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointGroup {
    #[schemars(required)]
    pub name: Option<String>,
    /// The endpoint plugin of the group (`http-proxy`, `kafka`, `mqtt5`, `native-kafka`...).
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[schemars(extend("default" = []))]
    pub endpoints: Option<Vec<Endpoint>>,
    pub load_balancer: Option<LoadBalancer>,
    /// Configuration every endpoint of the group inherits (`inheritConfiguration: true`).
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub shared_configuration: Option<Map<String, Value>>,
    pub services: Option<EndpointGroupServices>,
    pub http: Option<HttpClientOptions>,
    pub ssl: Option<SslOptions>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[schemars(required)]
    pub type_: Option<String>,
    pub weight: Option<i32>,
    /// Use the group's `sharedConfiguration` (then `sharedConfigurationOverride` amends it).
    #[schemars(required)]
    pub inherit_configuration: Option<bool>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub shared_configuration_override: Option<Map<String, Value>>,
    pub services: Option<EndpointServices>,
    #[schemars(extend("default" = false))]
    pub secondary: Option<bool>,
    #[schemars(extend("default" = []))]
    pub tenants: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LoadBalancer {
    #[serde(rename = "type")]
    #[schemars(extend("default" = "ROUND_ROBIN"))]
    pub type_: Option<LoadBalancerType>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum LoadBalancerType {
    #[default]
    #[serde(rename = "ROUND_ROBIN")]
    RoundRobin,
    #[serde(rename = "RANDOM")]
    Random,
    #[serde(rename = "WEIGHTED_ROUND_ROBIN")]
    WeightedRoundRobin,
    #[serde(rename = "WEIGHTED_RANDOM")]
    WeightedRandom,
}

/// A plugin-backed service (discovery, health check, dynamic properties).
#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    pub enabled: Option<bool>,
    pub override_configuration: Option<bool>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointGroupServices {
    pub discovery: Option<Service>,
    pub health_check: Option<Service>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointServices {
    pub health_check: Option<Service>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpClientOptions {
    #[schemars(extend("default" = true))]
    pub clear_text_upgrade: Option<bool>,
    pub connect_timeout: Option<i64>,
    #[schemars(extend("default" = false))]
    pub follow_redirects: Option<bool>,
    pub idle_timeout: Option<i64>,
    #[schemars(extend("default" = true))]
    pub keep_alive: Option<bool>,
    #[schemars(extend("default" = 30000))]
    pub keep_alive_timeout: Option<i64>,
    pub max_chunk_size: Option<i32>,
    pub max_concurrent_connections: Option<i32>,
    #[schemars(range(min = 0))]
    pub max_connection_lifetime: Option<i64>,
    pub max_header_size: Option<i32>,
    #[schemars(range(min = -1))]
    pub max_wait_queue_size: Option<i32>,
    #[schemars(extend("default" = false))]
    pub pipelining: Option<bool>,
    #[schemars(extend("default" = false))]
    pub propagate_client_accept_encoding: Option<bool>,
    pub read_timeout: Option<i64>,
    #[schemars(extend("default" = false))]
    pub use_compression: Option<bool>,
    #[schemars(extend("default" = "HTTP_1_1"))]
    pub version: Option<HttpVersion>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HttpVersion {
    #[default]
    #[serde(rename = "HTTP_1_1")]
    Http11,
    #[serde(rename = "HTTP_2")]
    Http2,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslOptions {
    #[schemars(extend("default" = true))]
    pub hostname_verifier: Option<bool>,
    #[schemars(extend("default" = false))]
    pub trust_all: Option<bool>,
    pub trust_store: Option<TrustStore>,
    pub key_store: Option<KeyStore>,
    pub headers: Option<Vec<Header>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StoreType {
    #[serde(rename = "PEM")]
    Pem,
    #[serde(rename = "PKCS12")]
    Pkcs12,
    #[serde(rename = "JKS")]
    Jks,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TrustStore {
    #[serde(rename = "type")]
    pub type_: Option<StoreType>,
    pub content: Option<String>,
    pub path: Option<String>,
    pub password: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyStore {
    #[serde(rename = "type")]
    pub type_: Option<StoreType>,
    pub content: Option<String>,
    pub path: Option<String>,
    pub password: Option<String>,
    pub cert_content: Option<String>,
    pub cert_path: Option<String>,
    pub key_content: Option<String>,
    pub key_path: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Header {
    pub name: Option<String>,
    pub value: Option<String>,
}
