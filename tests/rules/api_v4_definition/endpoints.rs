//! ApiV4Definition endpoint groups: each holds an endpoint its listeners can use.

use super::super::*;

fn group(type_: Option<&str>, endpoint_types: &[&str]) -> Value {
    let endpoints: Vec<Value> = endpoint_types
        .iter()
        .map(|t| json!({"name": t, "type": t, "inheritConfiguration": true}))
        .collect();
    let mut g = json!({"name": "backends", "endpoints": endpoints});
    if let Some(t) = type_ {
        g["type"] = json!(t);
    }
    g
}

fn with_group(api: Value, g: Value) -> Value {
    with(api, "/spec/endpointGroups", json!([g]))
}

fn unusable(message: &str) -> Violation {
    rule(
        "apiv4-endpoint-group-unusable",
        "spec.endpointGroups[0]",
        message,
    )
}

#[test]
fn a_proxy_api_needs_an_http_proxy_endpoint() {
    assert_allowed(&create(
        &with_group(api_v4(), group(Some("http-proxy"), &["http-proxy"])),
        &[],
    ));
    assert_allowed(&create(
        &with_group(api_v4(), group(None, &["http-proxy"])),
        &[],
    ));
    assert_denied(
        &create(&with_group(api_v4(), group(Some("kafka"), &["kafka"])), &[]),
        &[unusable("endpoint group \"backends\" of this PROXY API has only endpoints of type kafka, none that its listeners can use; add an endpoint of type http-proxy (and set the group's type, now kafka, to the same)")],
    );
    assert_denied(
        &create(&with_group(api_v4(), group(Some("http-proxy"), &[])), &[]),
        &[unusable("endpoint group \"backends\" of this PROXY API has no endpoint; add an endpoint of the group's type http-proxy")],
    );
}

#[test]
fn endpoints_match_their_group() {
    assert_denied(
        &create(
            &with_group(api_v4(), group(Some("http-proxy"), &["tcp-proxy"])),
            &[],
        ),
        &[unusable("endpoint group \"backends\" of this PROXY API has only endpoints of type tcp-proxy, none that its listeners can use; add an endpoint of the group's type http-proxy")],
    );
}

#[test]
fn service_discovery_fills_a_group() {
    let mut g = group(Some("http-proxy"), &[]);
    g["services"] = json!({"discovery": {"enabled": true, "overrideConfiguration": false, "type": "consul-service-discovery"}});
    assert_allowed(&create(&with_group(api_v4(), g), &[]));
}

fn message_api() -> Value {
    let a = with(api_v4(), "/spec/type", json!("MESSAGE"));
    with(a, "/spec/listeners/0/entrypoints", json!([{"type": "sse"}]))
}

#[test]
fn a_message_api_needs_a_messaging_endpoint() {
    assert_allowed(&create(
        &with_group(message_api(), group(Some("kafka"), &["kafka"])),
        &[],
    ));
    assert_denied(
        &create(
            &with_group(message_api(), group(Some("http-proxy"), &["http-proxy"])),
            &[],
        ),
        &[unusable("endpoint group \"backends\" of this MESSAGE API has only endpoints of type http-proxy, none that its listeners can use; add an endpoint of a messaging type (kafka, mqtt5, rabbitmq, solace, mock...) (and set the group's type, now http-proxy, to the same)")],
    );
}

#[test]
fn a_native_api_needs_a_native_kafka_endpoint() {
    let a = with(api_v4(), "/spec/type", json!("NATIVE"));
    let a = with(
        a,
        "/spec/listeners",
        json!([{"type": "KAFKA", "host": "kafka.local", "port": 9092, "entrypoints": [{"type": "native-kafka"}]}]),
    );
    assert_allowed(&create(
        &with_group(a.clone(), group(Some("native-kafka"), &["native-kafka"])),
        &[],
    ));
    assert_denied(
        &create(&with_group(a, group(None, &["kafka"])), &[]),
        &[unusable("endpoint group \"backends\" of this NATIVE API has only endpoints of type kafka, none that its listeners can use; add an endpoint of type native-kafka")],
    );
}

#[test]
fn a_tcp_proxy_uses_tcp_proxy_endpoints() {
    let a = with(
        api_v4(),
        "/spec/listeners",
        json!([{"type": "TCP", "hosts": ["db.example.com"], "entrypoints": [{"type": "tcp-proxy"}]}]),
    );
    assert_allowed(&create(
        &with_group(a.clone(), group(Some("tcp-proxy"), &["tcp-proxy"])),
        &[],
    ));
    assert_eq!(
        create(
            &with_group(a, group(Some("http-proxy"), &["http-proxy"])),
            &[]
        )
        .violations[0]
            .rule,
        "apiv4-endpoint-group-unusable"
    );
}
