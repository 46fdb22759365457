//! [`ApimDryRun`] for the webhook: builds the payload the reconciler would push and sends it to APIM with
//! `dryRun=true`, within a short timeout; ApiV4Definitions too ([`v4`]: Automation API or `_import/crd`).
//!
//! - `warn`: APIM's severe errors become warnings; an unreachable APIM is a warning.
//! - `enforce`: severe errors deny the request; an unreachable APIM (or a timeout) denies it too.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::Client;
use serde_json::Value;

use super::payload::{self, Inputs, Stamp, TemplateKey};
use crate::admission::dry_run::{ApimDryRun, DryRunFindings};
use crate::admission::Lookup;
use crate::apim::{ApimClient, ApimError, ClientOptions};
use crate::crd::ApiDefinition;
use crate::model::ObjectKey;

mod v4;

/// `--apim-dry-run`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DryRunMode {
    #[default]
    Off,
    Warn,
    Enforce,
}

/// The webhook's APIM dry run.
pub struct Runner {
    client: Client,
    apim: ApimClient,
    mode: DryRunMode,
    timeout: Duration,
    cluster_id: String,
}

impl Runner {
    /// `None` when the mode is `off`.
    pub fn new(
        client: Client,
        mode: DryRunMode,
        timeout: Duration,
        cluster_id: String,
    ) -> Result<Option<Runner>, ApimError> {
        Self::with_options(client, mode, timeout, cluster_id, ClientOptions::default())
    }

    /// [`Runner::new`] with the client options (trust, user agent) of `base`; the timeouts are `timeout`.
    pub fn with_options(
        client: Client,
        mode: DryRunMode,
        timeout: Duration,
        cluster_id: String,
        base: ClientOptions,
    ) -> Result<Option<Runner>, ApimError> {
        if mode == DryRunMode::Off {
            return Ok(None);
        }
        let apim = ApimClient::new(ClientOptions {
            connect_timeout: timeout,
            request_timeout: timeout,
            ..base
        })?;
        Ok(Some(Runner {
            client,
            apim,
            mode,
            timeout,
            cluster_id,
        }))
    }

    fn problem(&self, findings: &mut DryRunFindings, message: String) {
        match self.mode {
            DryRunMode::Enforce => findings.denials.push(message),
            _ => findings.warnings.push(message),
        }
    }

    async fn template_values(
        &self,
        keys: Vec<TemplateKey>,
    ) -> Result<BTreeMap<TemplateKey, String>, String> {
        let mut values = BTreeMap::new();
        for key in keys {
            let value = if key.secret {
                let api: Api<Secret> = Api::namespaced(self.client.clone(), &key.namespace);
                api.get_opt(&key.name)
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|s| s.data.and_then(|d| d.get(&key.key).cloned()))
                    .and_then(|v| String::from_utf8(v.0).ok())
            } else {
                let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &key.namespace);
                api.get_opt(&key.name)
                    .await
                    .map_err(|e| e.to_string())?
                    .and_then(|c| c.data.and_then(|d| d.get(&key.key).cloned()))
            };
            values.insert(
                key.clone(),
                value.ok_or_else(|| format!("{key} does not exist"))?,
            );
        }
        Ok(values)
    }

    /// The API crossId the reconciler would choose ([`super::ids::pick`]): the candidates looked up at once.
    async fn search(
        &self,
        target: &crate::apim::Target,
        api: &ApiDefinition,
        candidates: &[super::ids::Candidate],
    ) -> Result<String, ApimError> {
        let reads = futures::future::join_all(candidates.iter().map(|c| async move {
            let Some(summary) = self.apim.find_by_cross_id(target, &c.cross_id).await? else {
                return Ok(None);
            };
            let definition = self.apim.get_api(target, &summary.id).await?;
            Ok::<_, ApimError>(Some(super::ids::Found {
                gko_stamped: payload::read_stamp(&definition).0.is_some(),
            }))
        }))
        .await;
        let found = reads.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(super::ids::pick(candidates, &found)
            .and_then(|i| candidates.get(i))
            .map_or_else(|| super::ids::new_api_cross_id(api), |c| c.cross_id.clone()))
    }

    async fn run(&self, namespace: &str, object: &Value, lookup: &dyn Lookup) -> DryRunFindings {
        let mut findings = DryRunFindings::default();
        let Ok(mut api) = serde_json::from_value::<ApiDefinition>(object.clone()) else {
            return findings;
        };
        if api.metadata.namespace.is_none() {
            api.metadata.namespace = Some(namespace.to_owned());
        }
        let Some(context_key) = super::api_definition::context_of(&api) else {
            return findings;
        };
        let Some(context) = lookup.management_context(&context_key.namespace, &context_key.name)
        else {
            return findings;
        };
        let resolved = match super::context::resolve(&self.client, &context).await {
            Ok(r) => r,
            Err(e) => {
                findings
                    .warnings
                    .push(format!("skipped: context {context_key}: {e}"));
                return findings;
            }
        };
        let mut resources = BTreeMap::new();
        for r in super::api_definition::resources_of(&api) {
            let ns = r.namespace.clone().unwrap_or_default();
            if let Some(resource) = lookup.api_resource(&ns, &r.name) {
                resources.insert(ObjectKey::new(ns, r.name.clone()), resource.spec.clone());
            }
        }
        let spec = serde_json::to_value(&api.spec).unwrap_or(Value::Null);
        let Ok(keys) = payload::template_keys(&spec, namespace) else {
            return findings;
        };
        let templates = match self.template_values(keys).await {
            Ok(t) => t,
            Err(e) => {
                findings.warnings.push(format!("skipped: {e}"));
                return findings;
            }
        };
        let cross_id = match super::ids::api_cross_id(&api) {
            super::ids::ApiCrossId::Known(c) => c,
            super::ids::ApiCrossId::Search(candidates) => {
                match self.search(&resolved.target, &api, &candidates).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.problem(
                            &mut findings,
                            format!("could not look the API up in APIM ({}): {e}", resolved.key),
                        );
                        return findings;
                    }
                }
            }
        };
        let stamp = Stamp {
            cluster_id: self.cluster_id.clone(),
            owner: format!(
                "{namespace}/{}",
                api.metadata.name.as_deref().unwrap_or_default()
            ),
        };
        let same_env = api
            .status
            .as_ref()
            .and_then(|s| s.synced_context.as_deref())
            == Some(context_key.to_string().as_str());
        let status = api.status.clone().unwrap_or_default();
        let plan_cross_ids = super::ids::plan_cross_ids(
            &api,
            &super::ids::PlanSources {
                api_cross_id: &cross_id,
                status_id: same_env.then_some(status.id.as_deref()).flatten(),
                spec_id: api.spec.id.as_deref(),
                status_plans: same_env.then_some(status.plans.as_ref()).flatten(),
                remote: None,
            },
        );
        let definition = match payload::build(
            &api,
            &Inputs {
                cross_id: &cross_id,
                api_id: same_env.then_some(status.id.as_deref()).flatten(),
                plan_ids: same_env.then_some(status.plans.as_ref()).flatten(),
                plan_cross_ids: Some(&plan_cross_ids),
                resources: Some(&resources),
                templates: Some(&templates),
                stamp: Some(&stamp),
            },
        ) {
            Ok(d) => d,
            Err(e) => {
                findings.warnings.push(format!("skipped: {e}"));
                return findings;
            }
        };
        let secrets = payload::secret_values(&templates);
        let call = self.apim.import(&resolved.target, &definition, true);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => self.problem(
                &mut findings,
                format!(
                    "APIM ({}) did not answer within {}ms",
                    resolved.key,
                    self.timeout.as_millis()
                ),
            ),
            Ok(Ok(result)) => {
                for severe in result.errors.severe {
                    self.problem(&mut findings, severe);
                }
                findings.warnings.extend(result.errors.warning);
            }
            Ok(Err(ApimError::Invalid { message })) => self.problem(&mut findings, message),
            Ok(Err(e)) => self.problem(
                &mut findings,
                format!("could not validate against APIM ({}): {e}", resolved.key),
            ),
        }
        // APIM may quote the definition back: values from Secrets never reach the kubectl user.
        for list in [&mut findings.denials, &mut findings.warnings] {
            for message in list.iter_mut() {
                *message = super::api_definition::redact(std::mem::take(message), &secrets);
            }
        }
        findings
    }
}

impl ApimDryRun for Runner {
    fn fails_open(&self) -> bool {
        self.mode != DryRunMode::Enforce
    }

    fn check<'a>(
        &'a self,
        namespace: &'a str,
        object: &'a Value,
        lookup: &'a dyn Lookup,
    ) -> BoxFuture<'a, DryRunFindings> {
        Box::pin(async move {
            let started = std::time::Instant::now();
            // Reading the Secret and templates counts too: the whole check is bounded.
            let bound = self.timeout + Duration::from_millis(500);
            let run = async {
                if object.get("kind").and_then(Value::as_str) == Some("ApiV4Definition") {
                    self.run_v4(namespace, object, lookup).await
                } else {
                    self.run(namespace, object, lookup).await
                }
            };
            let findings = match tokio::time::timeout(bound, run).await {
                Ok(f) => f,
                Err(_) => {
                    let mut f = DryRunFindings::default();
                    self.problem(
                        &mut f,
                        format!("did not finish within {}ms", bound.as_millis()),
                    );
                    f
                }
            };
            tracing::debug!(
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                denials = findings.denials.len(),
                warnings = findings.warnings.len(),
                "APIM dry run"
            );
            findings
        })
    }
}
