//! Reconciler end to end for what GKO manifests bring: a Gravitee Cloud context (token in a Secret) is
//! reached under the cloud prefix with the token (its baseUrl from a ConfigMap template), and an ingress
//! template is never pushed. A real API server
//! (envtest, `KUBECONFIG`), the in-process APIM stand-in and the controllers in-process; skipped (with a
//! message) when `KUBECONFIG` is not set.

mod support;

use std::time::Duration;

use base64::Engine as _;
use gko::crd::{ApiDefinition, ManagementContext};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{json, Value};
use support::apim::{ApimStandIn, AuthKind, StandInConfig};
use support::fixtures::api_json;
use support::kube::*;

const T: Duration = Duration::from_secs(20);

fn cloud_token(claims: Value) -> String {
    let part = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(claims)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cloud_context_syncs_under_the_cloud_prefix_and_templates_are_never_pushed() {
    let Some(path) = kubeconfig() else {
        println!("skipped: KUBECONFIG not set");
        return;
    };
    gko::telemetry::init_logging(
        gko::telemetry::LogFormat::Text,
        &std::env::var("GKO_TEST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    let client = client_for(&path).await;
    apply_crds(&client).await;
    let ns = namespace(&client, "e2e-cloud").await;

    // The stand-in plays the cloud gate: /apim/rest, the token's organization and environment, and only the
    // cloud token as bearer token. (baseUrl is set: the real gate https://<cpg>.cloudgate.gravitee.io is not
    // reachable from a test.)
    let token = cloud_token(json!({"org": "org-cloud", "envs": ["env-cloud"], "cpg": "eu"}));
    let apim = ApimStandIn::start(
        StandInConfig::v4()
            .path_prefix("/apim/rest")
            .environment("org-cloud", "env-cloud")
            .bearer(Some(&token)),
    )
    .await;
    create::<Secret>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloud-token", "namespace": ns},
               "stringData": {"cloudToken": token}}),
    )
    .await;
    create::<ConfigMap>(
        &client,
        &ns,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cloud-gate", "namespace": ns},
               "data": {"url": apim.base_url()}}),
    )
    .await;
    // As GKO users write it: no organizationId, environmentId nor auth; baseUrl from a ConfigMap template.
    create::<ManagementContext>(
        &client,
        &ns,
        json!({"apiVersion": "gravitee.io/v1alpha1", "kind": "ManagementContext",
               "metadata": {"name": "cloud", "namespace": ns},
               "spec": {"baseUrl": "[[ configmap `cloud-gate/url` ]]",
                        "cloud": {"secretRef": {"name": "cloud-token"}}}}),
    )
    .await;
    create::<ApiDefinition>(
        &client,
        &ns,
        api_json(&ns, "orders", Some("cloud"), &format!("/{ns}/orders")),
    )
    .await;
    let mut template = api_json(
        &ns,
        "ingress-template",
        Some("cloud"),
        &format!("/{ns}/tpl"),
    );
    template["metadata"]["annotations"] = json!({"gravitee.io/template": "true"});
    create::<ApiDefinition>(&client, &ns, template).await;

    let rec = Reconciler::start(client.clone(), settings(&[&ns], "cluster-cloud"));
    let st = wait_condition(&client, &ns, "orders", "Synced", "True", "Synced", T).await;
    assert_eq!(st["environmentId"], "env-cloud");
    assert_eq!(st["organizationId"], "org-cloud");
    let cross_id = st["crossId"].as_str().unwrap_or_default().to_owned();
    assert!(
        apim.api("org-cloud", "env-cloud", &cross_id).is_some(),
        "API stored in the token's environment"
    );
    wait_for(T, "cloud context Ready (Reachable)", || async {
        let ctx: Option<ManagementContext> = get(&client, &ns, "cloud").await;
        let st = ctx
            .and_then(|c| c.status)
            .and_then(|s| serde_json::to_value(s).ok());
        condition(st.as_ref(), "Ready") == Some(("True".into(), "Reachable".into()))
    })
    .await;
    let calls = apim.calls();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|c| c.path.starts_with("/apim/rest/") && c.auth == AuthKind::Bearer),
        "every call under /apim/rest with the token: {:?}",
        calls
            .iter()
            .map(|c| (&c.method, &c.path, &c.auth))
            .collect::<Vec<_>>()
    );
    assert!(
        calls.iter().all(|c| !c.body.contains(&token)),
        "the token never appears in a body"
    );

    let tpl = wait_condition(
        &client,
        &ns,
        "ingress-template",
        "Synced",
        "False",
        "IngressTemplate",
        T,
    )
    .await;
    assert!(tpl.get("id").is_none_or(Value::is_null), "{tpl}");
    // Not even looked up: no call names any crossId it could have (GKO 4.x's or 0.x's derivation).
    let seed = format!("{ns}/ingress-template");
    let candidates = [
        gko::model::gko_ids::xxh3_uuid(&seed),
        gko::model::gko_ids::v3_uuid(&seed),
    ];
    let template_calls = apim
        .calls()
        .iter()
        .filter(|c| {
            candidates.iter().any(|id| {
                c.query_param("crossId").as_deref() == Some(id.as_str()) || c.body.contains(id)
            }) || c.body.contains("/tpl")
        })
        .count();
    assert_eq!(
        template_calls, 0,
        "an ingress template is never sent to APIM"
    );
    rec.stop().await;
}
