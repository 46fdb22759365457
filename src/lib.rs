//! gko: admission webhook and operator for Gravitee API Management.

pub mod admission;
pub mod apim;
pub mod cli;
pub mod crd;
pub mod offline;
pub mod reconcile;
pub mod resolve;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod tls;
