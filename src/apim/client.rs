//! [`ApimClient`]: the Management API calls, over one pooled reqwest client.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::trust::Trust;
use super::{
    ApiSummary, ApimError, ApimGeneration, ImportErrors, ImportResult, Probe, Result, Target,
};

/// Warning returned by a dry run against APIM 3.x.
const V3_DRY_RUN_WARNING: &str =
    "APIM 3.x has no dry-run import: the definition was not validated by APIM and nothing was written";

/// Timeouts and identification of an [`ApimClient`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// TCP + TLS connection establishment.
    pub connect_timeout: Duration,
    /// Whole request, from sending to the end of the response body.
    pub request_timeout: Duration,
    pub user_agent: String,
    /// Which certificates the Management API may present.
    pub trust: Trust,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            user_agent: format!("gko/{}", env!("CARGO_PKG_VERSION")),
            trust: Trust::default(),
        }
    }
}

/// Management API client. Cheap to clone: clones share the connection pool and the remembered APIM
/// generation of each target.
#[derive(Clone)]
pub struct ApimClient {
    http: reqwest::Client,
    generations: Arc<Mutex<HashMap<String, ApimGeneration>>>,
    /// Per target: whether it serves the Automation API (APIM 4.8+), learned from the first v4 push.
    pub(super) automation: Arc<Mutex<HashMap<String, bool>>>,
}

impl fmt::Debug for ApimClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApimClient")
            .field("known_targets", &self.generations().len())
            .finish_non_exhaustive()
    }
}

/// An HTTP answer, whatever its status.
pub(super) struct Reply {
    pub(super) call: String,
    pub(super) status: u16,
    pub(super) body: Bytes,
}

impl Reply {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error for a non-success status.
    fn error(&self) -> ApimError {
        ApimError::from_status(&self.call, self.status, &self.body)
    }

    /// Success or the classified error.
    pub(super) fn ok(self) -> Result<Self> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.error())
        }
    }

    pub(super) fn json<T: DeserializeOwned>(self) -> Result<T> {
        let reply = self.ok()?;
        serde_json::from_slice(&reply.body).map_err(|e| ApimError::protocol(&reply.call, e))
    }

    /// JSON body when there is one (probes accept an empty body).
    fn optional_json(&self) -> Result<Option<Value>> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| ApimError::protocol(&self.call, e))
    }
}

/// `PUT ENV/apis/import-crd` answer (APIM 4.x).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportCrdResponse {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    cross_id: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    errors: Option<WireErrors>,
    #[serde(default)]
    plans: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct WireErrors {
    #[serde(default)]
    severe: Option<Vec<String>>,
    #[serde(default)]
    warning: Option<Vec<String>>,
}

/// ApiEntity as `ENV/apis/import` answers it (APIM 3.x); only what gko keeps.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiEntity {
    id: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    plans: Option<Vec<PlanEntity>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanEntity {
    id: String,
    #[serde(default)]
    cross_id: Option<String>,
}

impl ApimClient {
    /// One reqwest client (rustls) with the given timeouts and trust.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let builder = reqwest::Client::builder().use_rustls_tls();
        let http = options
            .trust
            .apply(builder)
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(options.user_agent)
            .build()
            .map_err(|e| {
                ApimError::Config(format!("cannot build HTTP client: {}", e.without_url()))
            })?;
        Ok(ApimClient {
            http,
            generations: Arc::new(Mutex::new(HashMap::new())),
            automation: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    fn generations(&self) -> MutexGuard<'_, HashMap<String, ApimGeneration>> {
        // The map stays consistent even if a holder panicked: every write is a single insert or remove.
        self.generations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the target which APIM generation it runs (`GET ENV2`, then `GET ENV` when ENV2 is 404), checking
    /// credentials and the organization / environment on the way, and remembers the generation.
    pub async fn probe(&self, target: &Target) -> Result<Probe> {
        let v2 = self
            .exchange(target, Method::GET, target.url(true, &[])?, None)
            .await?;
        let probe = match v2.status {
            200..=299 => Probe {
                generation: ApimGeneration::V4,
                environment: v2.optional_json()?,
            },
            401 | 403 => return Err(v2.error()),
            400 => return Err(unknown_environment(target)),
            404 => {
                // No v2 REST API here (3.x) or an unknown org/env on 4.x: the v1 environment tells which.
                let v1 = self
                    .exchange(target, Method::GET, target.url(false, &[])?, None)
                    .await?;
                match v1.status {
                    200..=299 => Probe {
                        generation: ApimGeneration::V3,
                        environment: v1.optional_json()?,
                    },
                    400 | 404 => return Err(unknown_environment(target)),
                    _ => return Err(v1.error()),
                }
            }
            _ => return Err(v2.error()),
        };
        self.generations()
            .insert(target.generation_key(), probe.generation);
        // An upgrade may have brought the Automation API: the next v4 push learns it again.
        self.forget_automation(target);
        tracing::info!(apim_target = %target, generation = %probe.generation, "Management API probed");
        Ok(probe)
    }

    /// The remembered generation of `target`, probing it the first time.
    pub async fn generation(&self, target: &Target) -> Result<ApimGeneration> {
        match self.cached_generation(target) {
            Some(generation) => Ok(generation),
            None => Ok(self.probe(target).await?.generation),
        }
    }

    /// The remembered generation of `target`, without any call.
    pub fn cached_generation(&self, target: &Target) -> Option<ApimGeneration> {
        self.generations().get(&target.generation_key()).copied()
    }

    /// Forgets what was learned about `target` (its URL, credentials or APIM changed): the next call probes.
    pub fn forget(&self, target: &Target) {
        self.generations().remove(&target.generation_key());
        self.forget_automation(target);
    }

    /// Forgets every target.
    pub fn forget_all(&self) {
        self.generations().clear();
        self.automation_map().clear();
    }

    /// The API with this crossId in the target's environment (`GET ENV/apis?crossId=`), if any.
    pub async fn find_by_cross_id(
        &self,
        target: &Target,
        cross_id: &str,
    ) -> Result<Option<ApiSummary>> {
        let mut url = target.url(false, &["apis"])?;
        url.query_pairs_mut().append_pair("crossId", cross_id);
        let apis: Vec<ApiSummary> = self
            .exchange(target, Method::GET, url, None)
            .await?
            .json()?;
        // Match on crossId when APIM reports it, in case a server ignores the filter.
        let exact = apis
            .iter()
            .find(|a| a.cross_id.as_deref() == Some(cross_id))
            .cloned();
        Ok(exact.or_else(|| match apis.as_slice() {
            [only] if only.cross_id.is_none() => Some(only.clone()),
            _ => None,
        }))
    }

    /// Every API of the target's environment (`GET ENV/apis`), as summaries. Used to find which API holds a
    /// context path when APIM refuses one.
    pub async fn list_apis(&self, target: &Target) -> Result<Vec<ApiSummary>> {
        let url = target.url(false, &["apis"])?;
        self.exchange(target, Method::GET, url, None).await?.json()
    }

    /// The API as APIM holds it now (`GET ENV/apis/{id}`), for drift checks. `NotFound` when it is gone.
    pub async fn get_api(&self, target: &Target, id: &str) -> Result<Value> {
        let url = target.url(false, &["apis", id])?;
        self.exchange(target, Method::GET, url, None).await?.json()
    }

    /// Creates or updates the API described by `definition` (found again by its `crossId`) and deploys it.
    ///
    /// APIM 4.x: one `PUT ENV/apis/import-crd?dryRun=`. APIM 3.x: find by crossId, `POST` (create) or `PUT`
    /// (update) `ENV/apis/import?definitionVersion=2.0.0`, then mark it Kubernetes-managed and deploy it. A dry
    /// run on 3.x only reads (APIM 3.x cannot validate without writing) and says so in the result.
    pub async fn import(
        &self,
        target: &Target,
        definition: &Value,
        dry_run: bool,
    ) -> Result<ImportResult> {
        match self.generation(target).await? {
            ApimGeneration::V4 => self.import_v4(target, definition, dry_run).await,
            ApimGeneration::V3 => self.import_v3(target, definition, dry_run).await,
        }
    }

    async fn import_v4(
        &self,
        target: &Target,
        definition: &Value,
        dry_run: bool,
    ) -> Result<ImportResult> {
        let mut url = target.url(false, &["apis", "import-crd"])?;
        url.query_pairs_mut()
            .append_pair("dryRun", if dry_run { "true" } else { "false" });
        let reply = self
            .exchange(target, Method::PUT, url, Some(definition))
            .await?;
        if reply.status == 404 {
            // import-crd vanished: the target is no longer what was probed. Probe again next time.
            self.forget(target);
        }
        let call = reply.call.clone();
        let answer: ImportCrdResponse = reply.json()?;
        let id = answer.id.unwrap_or_default();
        if id.is_empty() && !dry_run {
            return Err(ApimError::protocol(
                &call,
                "import answered without an API id",
            ));
        }
        let errors = answer
            .errors
            .map_or_else(ImportErrors::default, |e| ImportErrors {
                severe: e.severe.unwrap_or_default(),
                warning: e.warning.unwrap_or_default(),
            });
        Ok(ImportResult {
            id,
            cross_id: answer
                .cross_id
                .unwrap_or_else(|| cross_id_of(definition).unwrap_or_default().to_owned()),
            state: answer.state.unwrap_or_default(),
            plans: answer.plans.unwrap_or_default(),
            errors,
            generation: ApimGeneration::V4,
            dry_run,
            validated_by_apim: true,
        })
    }

    async fn import_v3(
        &self,
        target: &Target,
        definition: &Value,
        dry_run: bool,
    ) -> Result<ImportResult> {
        let cross_id = cross_id_of(definition).ok_or_else(|| ApimError::Invalid {
            message: "the API definition has no crossId: gko needs one to find the API again"
                .into(),
        })?;
        let existing = self.find_by_cross_id(target, cross_id).await?;
        if dry_run {
            let id = existing
                .as_ref()
                .map(|a| a.id.clone())
                .or_else(|| {
                    definition
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            let state = existing
                .as_ref()
                .and_then(|a| a.state.clone())
                .or_else(|| {
                    definition
                        .get("state")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            tracing::debug!(apim_target = %target, cross_id, "dry run on APIM 3.x: nothing validated");
            return Ok(ImportResult {
                id,
                cross_id: cross_id.to_owned(),
                state,
                plans: BTreeMap::new(),
                errors: ImportErrors {
                    severe: Vec::new(),
                    warning: vec![V3_DRY_RUN_WARNING.to_owned()],
                },
                generation: ApimGeneration::V3,
                dry_run: true,
                validated_by_apim: false,
            });
        }

        let mut url = target.url(false, &["apis", "import"])?;
        url.query_pairs_mut()
            .append_pair("definitionVersion", "2.0.0");
        let reply = match &existing {
            Some(api) => {
                let mut body = definition.clone();
                if let Some(object) = body.as_object_mut() {
                    object.insert("id".into(), Value::String(api.id.clone()));
                }
                self.exchange(target, Method::PUT, url, Some(&body)).await?
            }
            None => {
                self.exchange(target, Method::POST, url, Some(definition))
                    .await?
            }
        };
        let entity: ApiEntity = reply.json()?;

        let context = json!({ "origin": "kubernetes", "mode": "fully_managed" });
        let url = target.url(false, &["apis", &entity.id, "definition-context"])?;
        self.exchange(target, Method::POST, url, Some(&context))
            .await?
            .ok()?;

        let url = target.url(false, &["apis", &entity.id, "deploy"])?;
        self.exchange(
            target,
            Method::POST,
            url,
            Some(&json!({ "deploymentLabel": "" })),
        )
        .await?
        .ok()?;

        let plans = entity
            .plans
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.cross_id.map(|c| (c, p.id)))
            .collect();
        Ok(ImportResult {
            id: entity.id,
            cross_id: cross_id.to_owned(),
            state: entity.state.unwrap_or_default(),
            plans,
            errors: ImportErrors::default(),
            generation: ApimGeneration::V3,
            dry_run: false,
            validated_by_apim: true,
        })
    }

    /// `POST ENV/apis/{id}?action=START`.
    pub async fn start(&self, target: &Target, id: &str) -> Result<()> {
        self.lifecycle(target, id, "START").await
    }

    /// `POST ENV/apis/{id}?action=STOP`.
    pub async fn stop(&self, target: &Target, id: &str) -> Result<()> {
        self.lifecycle(target, id, "STOP").await
    }

    async fn lifecycle(&self, target: &Target, id: &str, action: &str) -> Result<()> {
        let mut url = target.url(false, &["apis", id])?;
        url.query_pairs_mut().append_pair("action", action);
        self.exchange(target, Method::POST, url, None).await?.ok()?;
        Ok(())
    }

    /// `DELETE ENV/apis/{id}?closePlans=true`. `Ok(false)` when the API was already gone (404).
    pub async fn delete(&self, target: &Target, id: &str) -> Result<bool> {
        let mut url = target.url(false, &["apis", id])?;
        url.query_pairs_mut().append_pair("closePlans", "true");
        let reply = self.exchange(target, Method::DELETE, url, None).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        reply.ok()?;
        Ok(true)
    }

    /// Sends one request and reads the whole answer. Transport failures are classified here; statuses are
    /// left to the caller (some calls give 404 a meaning).
    pub(super) async fn exchange(
        &self,
        target: &Target,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let call = format!("{method} {}", url.path());
        let started = Instant::now();
        let mut request = target
            .auth()
            .apply(self.http.request(method, url))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let outcome = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok((status, body)) => {
                tracing::debug!(apim_target = %target, call, status, elapsed_ms, "Management API call");
                Ok(Reply { call, status, body })
            }
            Err(err) => {
                let err = ApimError::from_transport(&call, err);
                tracing::debug!(apim_target = %target, call, elapsed_ms, error = %err, "Management API call failed");
                Err(err)
            }
        }
    }
}

fn cross_id_of(definition: &Value) -> Option<&str> {
    definition
        .get("crossId")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
}

fn unknown_environment(target: &Target) -> ApimError {
    ApimError::UnknownEnvironment {
        organization_id: target.organization_id().to_owned(),
        environment_id: target.environment_id().to_owned(),
    }
}
