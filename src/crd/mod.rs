//! The `gravitee.io/v1alpha1` custom resources and their CRDs.

pub mod api_definition;
pub mod api_resource;
pub mod api_v4_definition;
pub mod apply;
pub mod common;
pub mod management_context;
pub mod schema;

pub use api_definition::{ApiDefinition, ApiDefinitionSpec, ApiDefinitionStatus};
pub use api_resource::{ApiResource, ApiResourceSpec, ApiResourceStatus};
pub use api_v4_definition::{ApiV4Definition, ApiV4DefinitionSpec, ApiV4DefinitionStatus};
pub use common::{Condition, NamespacedRef};
pub use management_context::{ManagementContext, ManagementContextSpec, ManagementContextStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

pub const GROUP: &str = "gravitee.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "gravitee.io/v1alpha1";

/// The kinds gko handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    ManagementContext,
    ApiDefinition,
    ApiResource,
    ApiV4Definition,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::ManagementContext,
        Kind::ApiDefinition,
        Kind::ApiResource,
        Kind::ApiV4Definition,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ManagementContext => "ManagementContext",
            Kind::ApiDefinition => "ApiDefinition",
            Kind::ApiResource => "ApiResource",
            Kind::ApiV4Definition => "ApiV4Definition",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::ManagementContext => "managementcontexts",
            Kind::ApiDefinition => "apidefinitions",
            Kind::ApiResource => "apiresources",
            Kind::ApiV4Definition => "apiv4definitions",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    pub fn from_plural(resource: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == resource)
    }

    /// The CRD of this kind, normalised (see [`schema::normalise`]).
    pub fn crd(self) -> CustomResourceDefinition {
        let crd = match self {
            Kind::ManagementContext => ManagementContext::crd(),
            Kind::ApiDefinition => ApiDefinition::crd(),
            Kind::ApiResource => ApiResource::crd(),
            Kind::ApiV4Definition => ApiV4Definition::crd(),
        };
        let mut value = match serde_json::to_value(&crd) {
            Ok(v) => v,
            Err(_) => return crd,
        };
        if let Some(versions) = value
            .pointer_mut("/spec/versions")
            .and_then(Value::as_array_mut)
        {
            for version in versions {
                if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                    schema::normalise(schema);
                    schema::add_envelope(schema);
                }
            }
        }
        serde_json::from_value(value).unwrap_or(crd)
    }

    /// The `openAPIV3Schema` of this kind's CRD.
    pub fn openapi_schema(self) -> Value {
        serde_json::to_value(self.crd())
            .ok()
            .and_then(|v| {
                v.pointer("/spec/versions/0/schema/openAPIV3Schema")
                    .cloned()
            })
            .unwrap_or(Value::Null)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// All CRDs as one multi-document YAML stream (what `gko crds` prints).
pub fn crds_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for kind in Kind::ALL {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&kind.crd())?);
    }
    Ok(out)
}
