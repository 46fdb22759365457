//! Optional APIM dry run from the validating webhook (`--apim-dry-run warn|enforce`): the definition the
//! reconciler would push is sent to APIM with `dryRun=true`, and APIM's findings become warnings or denials.
//! The implementation lives with the reconciler (`reconcile::dry_run`, a layer above); the webhook only knows this
//! trait.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::admission::Lookup;

/// What an APIM dry run found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DryRunFindings {
    /// Reasons to deny the request.
    pub denials: Vec<String>,
    /// Reported to the user (`Warning:` lines), never blocking.
    pub warnings: Vec<String>,
}

/// Dry-runs an admitted ApiDefinition against its context's Management API.
pub trait ApimDryRun: Send + Sync {
    /// `object` is the admitted ApiDefinition (CREATE or UPDATE) in `namespace`; `lookup` resolves its
    /// context and resources. Must answer quickly (it runs inside the admission request) and never fail.
    fn check<'a>(
        &'a self,
        namespace: &'a str,
        object: &'a Value,
        lookup: &'a dyn Lookup,
    ) -> BoxFuture<'a, DryRunFindings>;

    /// True when a dry run that cannot finish in time admits the object with a warning (`warn` mode),
    /// false when it denies (`enforce`).
    fn fails_open(&self) -> bool {
        false
    }
}
