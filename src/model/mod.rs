//! The nouns every part of gko shares, below admission, the cluster cache and the reconciler:
//! object keys, entrypoints and APIM's clash rule, template references, the JSON tree of an admitted
//! object, and the reference graph (what an object refers to). Nothing here does I/O.

pub mod cloud;
pub mod doc;
pub mod entrypoint;
pub mod gko_ids;
pub mod gko_meta;
pub mod key;
pub mod refs;
pub mod template;

pub use doc::Doc;
pub use entrypoint::{v4_entrypoints, ApiEntrypoint, Entrypoint, ListenerPathAt};
pub use key::ObjectKey;
pub use refs::{ApiLinks, References};

/// GKO's annotation of an ingress template ApiDefinition (value `"true"`): admitted without checks and
/// never pushed to APIM.
pub const INGRESS_TEMPLATE_ANNOTATION: &str = "gravitee.io/template";
