//! Client for the Gravitee APIM Management API: the calls an operator makes for v2 API definitions.
//!
//! - [`Target`] and [`Credentials`]: where an environment lives and how to authenticate (from a
//!   ManagementContext).
//! - [`ApimClient`]: probe an environment (APIM 3.x or 4.x, remembered per target), find / read / import /
//!   start / stop / delete APIs.
//! - v4 APIs ([`ApimClient::push_v4`], `delete_v4`, `get_v4`): the Automation API where it exists (learned
//!   per target), else `_import/crd` on the Management API v2.
//! - [`Trust`]: system + bundled roots, `--apim-ca-file`, `--apim-insecure-skip-verify`.
//! - [`ApimError`]: every failure classified once (transient or not).
//! - [`backoff`]: capped exponential backoff with jitter and a retry loop for transient errors.
//!
//! Nothing here logs or formats credentials.

pub mod backoff;
mod client;
mod error;
mod target;
mod trust;
mod v4;

use std::collections::BTreeMap;
use std::fmt;

pub use backoff::{retry, RetryPolicy};
pub use client::{ApimClient, ClientOptions};
pub use error::ApimError;
pub use target::{Credentials, Target, AUTOMATION_PATH_PREFIX, DEFAULT_PATH_PREFIX};
pub use trust::{Trust, CA_HINT, INSECURE_WARNING};
pub use v4::{V4Identity, V4Push, V4PushResult, V4Route};

/// Result of a Management API call.
pub type Result<T, E = ApimError> = std::result::Result<T, E>;

/// Which Management API generation answers a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApimGeneration {
    /// APIM 3.x: v1 REST only; import, definition-context and deploy are separate calls.
    V3,
    /// APIM 4.x: v2 REST present; `import-crd` creates, updates and deploys in one call.
    V4,
}

impl ApimGeneration {
    /// `"3.x"` or `"4.x"` (the ManagementContext status `apimGeneration` values).
    pub fn as_str(self) -> &'static str {
        match self {
            ApimGeneration::V3 => "3.x",
            ApimGeneration::V4 => "4.x",
        }
    }
}

impl fmt::Display for ApimGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a successful probe learned.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub generation: ApimGeneration,
    /// The environment as APIM described it, when it answered with JSON.
    pub environment: Option<serde_json::Value>,
}

/// An API as `GET ENV/apis?crossId=` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSummary {
    pub id: String,
    #[serde(default)]
    pub cross_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

/// Problems APIM found in a definition (on 4.x `import-crd`, notably with `dryRun=true`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportErrors {
    /// Would prevent the import.
    pub severe: Vec<String>,
    /// Accepted, but worth telling the user.
    pub warning: Vec<String>,
}

impl ImportErrors {
    pub fn is_empty(&self) -> bool {
        self.severe.is_empty() && self.warning.is_empty()
    }
}

/// Outcome of [`ApimClient::import`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportResult {
    /// APIM id of the API (on a dry run of a new API: the id it would get, possibly empty on 3.x).
    pub id: String,
    pub cross_id: String,
    /// `STARTED` / `STOPPED` as APIM reports it (empty when it did not say).
    pub state: String,
    /// planCrossId → planId.
    pub plans: BTreeMap<String, String>,
    pub errors: ImportErrors,
    pub generation: ApimGeneration,
    pub dry_run: bool,
    /// `false` only for a dry run on APIM 3.x, which has no dry-run import: nothing was validated by APIM
    /// (a warning in `errors` says so too).
    pub validated_by_apim: bool,
}
