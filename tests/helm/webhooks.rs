//! The Service and the webhook configurations: clientConfig agrees, webhooks are those of `webhook-config/`.

use super::*;

#[test]
fn service_and_webhook_client_config_agree() {
    if skip("service_and_webhook_client_config_agree") {
        return;
    }
    let mut sets = strict_value_sets();
    sets.push(("every opt-in value", every_opt_in_value()));
    sets.push((
        "renamed service",
        json!({"service": {"name": "admission", "port": 8443}}),
    ));
    for (what, values) in sets {
        let r = render("gko", "gko", values.clone());
        let svc = r.service();
        let svc_name = svc["metadata"]["name"].as_str().expect("name");
        let svc_port = &svc["spec"]["ports"][0];
        let expected_name = values["service"]["name"].as_str().unwrap_or("gko-webhook");
        assert_eq!(svc_name, expected_name, "{what}");
        assert_eq!(svc["metadata"]["namespace"], "gko", "{what}");
        assert_eq!(
            svc_port["port"],
            values["service"]["port"].as_u64().unwrap_or(443),
            "{what}"
        );
        assert_eq!(
            svc_port["targetPort"], "webhook",
            "{what}: the Service targets the named port"
        );
        // The Service selects the gko pods (and only them, not the certificate Jobs' pods).
        let pod_labels = &r.deployment()["spec"]["template"]["metadata"]["labels"];
        for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
            assert_eq!(&pod_labels[k], v, "{what}: Service selector {k}");
        }
        for job in r.jobs() {
            let labels = &job["spec"]["template"]["metadata"]["labels"];
            let all_match = svc["spec"]["selector"]
                .as_object()
                .expect("selector")
                .iter()
                .all(|(k, v)| &labels[k] == v);
            assert!(!all_match, "{what}: the Service must not select Job pods");
        }
        // The named port is gko's --listen port.
        let args = parse_strict(what, &r);
        assert_eq!(
            u64::from(args.listen.port()),
            r.container_port("webhook"),
            "{what}: --listen"
        );
        assert_eq!(
            u64::from(args.probe_listen.port()),
            r.container_port("probes"),
            "{what}: --probe-listen"
        );
        for (kind, path) in [
            ("ValidatingWebhookConfiguration", "/validate"),
            ("MutatingWebhookConfiguration", "/mutate"),
        ] {
            let config = r.of_kind(kind);
            assert_eq!(config.len(), 1, "{what}: one {kind}");
            for w in config[0]["webhooks"].as_array().expect("webhooks") {
                let s = &w["clientConfig"]["service"];
                assert_eq!(s["name"], svc_name, "{what}: {kind} service name");
                assert_eq!(s["namespace"], "gko", "{what}: {kind} service namespace");
                assert_eq!(s["port"], svc_port["port"], "{what}: {kind} service port");
                assert_eq!(s["path"], path, "{what}: {kind} path");
                assert_eq!(
                    w["timeoutSeconds"].as_u64(),
                    Some(args.webhook_timeout.as_secs()),
                    "{what}: {kind} timeoutSeconds is gko's --webhook-timeout"
                );
                assert!(
                    w["clientConfig"]["caBundle"].is_null(),
                    "{what}: the caBundle is certs-tool's to set, not the chart's"
                );
            }
        }
    }
}

fn webhook_config_file(file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("webhook-config").join(file)).expect("webhook-config");
    serde_saphyr::from_str(&text).expect("webhook-config YAML")
}

fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in keys {
            o.remove(*k);
        }
    }
    v
}

#[test]
fn webhooks_are_those_of_webhook_config() {
    if skip("webhooks_are_those_of_webhook_config") {
        return;
    }
    // `helm install gko charts/gko -n gko` with the defaults: exactly the plain-YAML webhooks.
    let r = render_default();
    for (file, kind) in [
        ("validating.yaml", "ValidatingWebhookConfiguration"),
        ("mutating.yaml", "MutatingWebhookConfiguration"),
    ] {
        let plain = webhook_config_file(file);
        let name = plain["metadata"]["name"].as_str().expect("name");
        let rendered = r.one(kind, name);
        assert_eq!(
            rendered["webhooks"], plain["webhooks"],
            "{kind} {name}: chart and webhook-config/{file} differ"
        );
        assert_eq!(
            rendered["metadata"]["labels"]["app.kubernetes.io/name"],
            plain["metadata"]["labels"]["app.kubernetes.io/name"]
        );
        assert!(
            !is_hook(rendered),
            "{kind} is a release object (deleted on uninstall)"
        );
    }

    // Other values: the same webhooks apart from what the values template.
    let templated = [
        "clientConfig",
        "namespaceSelector",
        "objectSelector",
        "failurePolicy",
        "timeoutSeconds",
    ];
    let mut sets = strict_value_sets();
    sets.push(("every opt-in value", every_opt_in_value()));
    for (what, values) in sets {
        let r = render("other", "tenant-gko", values.clone());
        for (file, kind) in [
            ("validating.yaml", "ValidatingWebhookConfiguration"),
            ("mutating.yaml", "MutatingWebhookConfiguration"),
        ] {
            let plain = webhook_config_file(file);
            let suffix = plain["metadata"]["name"]
                .as_str()
                .and_then(|n| n.strip_prefix("gko"))
                .expect("gko-*");
            let rendered = r.one(kind, &format!("other-gko{suffix}"));
            let ours: Vec<Value> = rendered["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| without(w, &templated))
                .collect();
            let theirs: Vec<Value> = plain["webhooks"]
                .as_array()
                .expect("webhooks")
                .iter()
                .map(|w| without(w, &templated))
                .collect();
            assert_eq!(ours, theirs, "{what}: {kind}");
            for w in rendered["webhooks"].as_array().expect("webhooks") {
                assert_eq!(
                    w["failurePolicy"],
                    values["webhook"]["failurePolicy"]
                        .as_str()
                        .unwrap_or("Fail"),
                    "{what}"
                );
                assert_eq!(
                    w["timeoutSeconds"],
                    values["webhook"]["timeoutSeconds"].as_u64().unwrap_or(5),
                    "{what}"
                );
                let exprs = w["namespaceSelector"]["matchExpressions"]
                    .as_array()
                    .expect("matchExpressions");
                let not_in = exprs
                    .iter()
                    .find(|e| e["operator"] == "NotIn")
                    .expect("a NotIn exclusion");
                assert_eq!(not_in["key"], "kubernetes.io/metadata.name");
                let mut excluded = vec![json!("tenant-gko")];
                excluded.extend(
                    values["webhook"]["excludeNamespaces"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
                assert_eq!(
                    not_in["values"],
                    Value::Array(excluded),
                    "{what}: the release namespace plus the user's list"
                );
                let in_expr = exprs.iter().find(|e| e["operator"] == "In");
                match values["watchNamespaces"].as_array() {
                    Some(watched) => {
                        let e = in_expr.expect("watched namespaces selected");
                        assert_eq!(e["key"], "kubernetes.io/metadata.name");
                        assert_eq!(&e["values"], &Value::Array(watched.clone()), "{what}");
                    }
                    None => assert!(in_expr.is_none(), "{what}: all namespaces"),
                }
            }
        }
    }

    // A user selection is added to the exclusions, not instead of them.
    let r = render(
        "gko",
        "gko",
        json!({"webhook": {
            "namespaceSelector": {"matchLabels": {"gko": "enabled"}},
            "objectSelector": {"matchExpressions": [{"key": "skip-gko", "operator": "DoesNotExist"}]}
        }}),
    );
    let w = &r.one("ValidatingWebhookConfiguration", "gko-validating")["webhooks"][0];
    assert_eq!(
        w["namespaceSelector"]["matchLabels"],
        json!({"gko": "enabled"})
    );
    assert_eq!(
        w["namespaceSelector"]["matchExpressions"][0]["operator"],
        "NotIn"
    );
    assert_eq!(
        w["objectSelector"],
        json!({"matchExpressions": [{"key": "skip-gko", "operator": "DoesNotExist"}]})
    );
}
