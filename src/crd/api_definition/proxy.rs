//! The `proxy` part of an ApiDefinition (entrypoints, endpoint groups and their HTTP options, failover,
//! CORS, logging) and the API's services (discovery, health check, dynamic properties).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_with::skip_serializing_none;

use crate::crd::schema::{int_or_string, open_object};

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Proxy {
    #[serde(rename = "virtual_hosts")]
    pub virtual_hosts: Option<Vec<VirtualHost>>,
    #[serde(rename = "strip_context_path")]
    pub strip_context_path: Option<bool>,
    #[serde(rename = "preserve_host")]
    pub preserve_host: Option<bool>,
    pub groups: Option<Vec<EndpointGroup>>,
    pub failover: Option<Failover>,
    pub cors: Option<Cors>,
    pub logging: Option<Logging>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct VirtualHost {
    pub host: Option<String>,
    pub path: Option<String>,
    #[serde(rename = "override_entrypoint")]
    pub override_entrypoint: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Failover {
    pub max_attempts: Option<i32>,
    pub retry_timeout: Option<i64>,
    pub cases: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    pub enabled: Option<bool>,
    pub allow_origin: Option<Vec<String>>,
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub expose_headers: Option<Vec<String>>,
    pub max_age: Option<i64>,
    pub allow_credentials: Option<bool>,
    pub run_policies: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Logging {
    pub mode: Option<LoggingMode>,
    pub content: Option<LoggingContent>,
    pub scope: Option<LoggingScope>,
    pub condition: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoggingMode {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "CLIENT")]
    Client,
    #[serde(rename = "PROXY")]
    Proxy,
    #[serde(rename = "CLIENT_PROXY")]
    ClientProxy,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoggingContent {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "HEADERS")]
    Headers,
    #[serde(rename = "PAYLOADS")]
    Payloads,
    #[serde(rename = "HEADERS_PAYLOADS")]
    HeadersPayloads,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum LoggingScope {
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "REQUEST")]
    Request,
    #[serde(rename = "RESPONSE")]
    Response,
    #[serde(rename = "REQUEST_RESPONSE")]
    RequestResponse,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointGroup {
    pub name: Option<String>,
    pub endpoints: Option<Vec<Endpoint>>,
    #[serde(rename = "load_balancing")]
    pub load_balancing: Option<LoadBalancing>,
    pub services: Option<Services>,
    pub http: Option<HttpClientOptions>,
    pub ssl: Option<SslOptions>,
    pub proxy: Option<HttpProxy>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LoadBalancing {
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub name: Option<String>,
    pub target: Option<String>,
    pub weight: Option<i32>,
    pub backup: Option<bool>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub inherit: Option<bool>,
    pub tenants: Option<Vec<String>>,
    pub http: Option<HttpClientOptions>,
    pub ssl: Option<SslOptions>,
    pub proxy: Option<HttpProxy>,
    pub headers: Option<Vec<HttpHeader>>,
    pub healthcheck: Option<HealthCheck>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpClientOptions {
    pub connect_timeout: Option<i64>,
    pub idle_timeout: Option<i64>,
    pub keep_alive_timeout: Option<i64>,
    pub keep_alive: Option<bool>,
    pub read_timeout: Option<i64>,
    pub pipelining: Option<bool>,
    pub max_concurrent_connections: Option<i32>,
    pub use_compression: Option<bool>,
    pub propagate_client_accept_encoding: Option<bool>,
    pub follow_redirects: Option<bool>,
    pub clear_text_upgrade: Option<bool>,
    pub version: Option<String>,
    pub max_header_size: Option<i32>,
    pub max_chunk_size: Option<i32>,
    pub max_wait_queue_size: Option<i32>,
    pub max_connection_lifetime: Option<i64>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpProxy {
    pub enabled: Option<bool>,
    pub use_system_proxy: Option<bool>,
    pub host: Option<String>,
    pub port: Option<i32>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslOptions {
    pub trust_all: Option<bool>,
    pub hostname_verifier: Option<bool>,
    pub trust_store: Option<TrustStore>,
    pub key_store: Option<KeyStore>,
    pub headers: Option<Vec<HttpHeader>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TrustStore {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub path: Option<String>,
    pub content: Option<String>,
    pub password: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyStore {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub path: Option<String>,
    pub content: Option<String>,
    pub password: Option<String>,
    pub key_path: Option<String>,
    pub key_content: Option<String>,
    pub cert_path: Option<String>,
    pub cert_content: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HttpHeader {
    pub name: Option<String>,
    pub value: Option<String>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Services {
    pub discovery: Option<ServiceDiscovery>,
    #[serde(rename = "health-check")]
    pub health_check: Option<HealthCheck>,
    #[serde(rename = "dynamic-property")]
    pub dynamic_property: Option<DynamicProperty>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ServiceDiscovery {
    pub enabled: Option<bool>,
    pub name: Option<String>,
    pub provider: Option<String>,
    pub secondary: Option<bool>,
    pub tenants: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HealthCheck {
    pub enabled: Option<bool>,
    pub name: Option<String>,
    /// Endpoint level only: inherit the group or API health check.
    pub inherit: Option<bool>,
    pub schedule: Option<String>,
    pub steps: Option<Vec<HealthCheckStep>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HealthCheckStep {
    pub name: Option<String>,
    pub request: Option<HealthCheckRequest>,
    pub response: Option<HealthCheckResponse>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckRequest {
    pub path: Option<String>,
    pub method: Option<HttpMethod>,
    pub headers: Option<Vec<HttpHeader>>,
    pub body: Option<String>,
    pub from_root: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct HealthCheckResponse {
    pub assertions: Option<Vec<String>>,
}

#[skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct DynamicProperty {
    pub enabled: Option<bool>,
    pub name: Option<String>,
    /// `HTTP` in GKO 4.x; an integer in GKO 0.x.
    #[serde(default)]
    #[schemars(schema_with = "int_or_string")]
    pub provider: Option<Value>,
    pub schedule: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "open_object")]
    pub configuration: Option<Map<String, Value>>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "PATCH")]
    Patch,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "OPTIONS")]
    Options,
    #[serde(rename = "HEAD")]
    Head,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "TRACE")]
    Trace,
    #[serde(rename = "OTHER")]
    Other,
}
