//! The APIM dry run of an ApiV4Definition: the bodies the reconciler would push, sent with `dryRun=true`
//! (Automation API, else `_import/crd`, as the target serves them).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Runner;
use crate::admission::dry_run::DryRunFindings;
use crate::admission::Lookup;
use crate::apim::{ApimError, V4Push};
use crate::crd::ApiV4Definition;
use crate::model::ObjectKey;
use crate::reconcile::api_v4_definition::{body, context_of, ids};
use crate::reconcile::payload::{self, Stamp};

impl Runner {
    pub(super) async fn run_v4(
        &self,
        namespace: &str,
        object: &Value,
        lookup: &dyn Lookup,
    ) -> DryRunFindings {
        let mut findings = DryRunFindings::default();
        let Ok(mut api) = serde_json::from_value::<ApiV4Definition>(object.clone()) else {
            return findings;
        };
        if api.metadata.namespace.is_none() {
            api.metadata.namespace = Some(namespace.to_owned());
        }
        let Some(context_key) = context_of(&api) else {
            return findings;
        };
        let Some(context) = lookup.management_context(&context_key.namespace, &context_key.name)
        else {
            return findings;
        };
        let resolved = match crate::reconcile::context::resolve(&self.client, &context).await {
            Ok(r) => r,
            Err(e) => {
                findings
                    .warnings
                    .push(format!("skipped: context {context_key}: {e}"));
                return findings;
            }
        };
        let mut resources = BTreeMap::new();
        for r in api
            .spec
            .resources
            .iter()
            .flatten()
            .filter_map(|r| r.reference.as_ref())
        {
            let ns = r.namespace_or(namespace).to_owned();
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
        let stamp = Stamp {
            cluster_id: self.cluster_id.clone(),
            owner: format!(
                "{namespace}/{}",
                api.metadata.name.as_deref().unwrap_or_default()
            ),
        };
        let identity = ids::identity(&api);
        let inputs = body::BodyInputs {
            identity: &identity,
            resources: &resources,
            templates: &templates,
            stamp: Some(&stamp),
        };
        let target = &resolved.target;
        let bodies = body::automation_body(&api, &inputs).and_then(|auto| {
            body::import_crd_body(
                &api,
                &inputs,
                target.organization_id(),
                target.environment_id(),
            )
            .map(|crd| (auto, crd))
        });
        let (automation, import_crd) = match bodies {
            Ok(b) => b,
            Err(e) => {
                findings.warnings.push(format!("skipped: {e}"));
                return findings;
            }
        };
        let push = V4Push {
            identity: &identity,
            automation: &automation,
            import_crd: &import_crd,
        };
        let call = self.apim.push_v4(target, push, true);
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
        let secrets = crate::reconcile::payload::secret_values(&templates);
        for list in [&mut findings.denials, &mut findings.warnings] {
            for message in list.iter_mut() {
                *message =
                    crate::reconcile::api_definition::redact(std::mem::take(message), &secrets);
            }
        }
        findings
    }
}
