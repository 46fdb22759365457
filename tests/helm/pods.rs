//! Pod hardening and spreading.

use super::*;

#[test]
fn pods_are_hardened_and_spread() {
    if skip("pods_are_hardened_and_spread") {
        return;
    }
    let r = render_default();
    let d = r.deployment();
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = r.pod_spec();
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    let pdb = &r.of_kind("PodDisruptionBudget")[0];
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    for (k, v) in pdb["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("pdb selector")
    {
        assert_eq!(&labels[k], v);
    }
    let anti = &pod["affinity"]["podAntiAffinity"]
        ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    for (k, v) in anti["labelSelector"]["matchLabels"]
        .as_object()
        .expect("anti-affinity selector")
    {
        assert_eq!(&labels[k], v);
    }
    let c = r.container();
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "probes");
    assert_eq!(r.container_port("probes"), 8081);
    assert_eq!(r.container_port("webhook"), 8443);
    let ann = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true");
    assert_eq!(ann["prometheus.io/port"], "8081");
    assert_eq!(ann["prometheus.io/path"], "/metrics");
    for (name, field) in [
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_NAME", "metadata.name"),
    ] {
        let env = c["env"]
            .as_array()
            .expect("env")
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("env {name}"));
        assert_eq!(env["valueFrom"]["fieldRef"]["fieldPath"], field);
    }
    let tmp = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["emptyDir"].is_object())
        .expect("an emptyDir");
    assert!(c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .any(|m| m["name"] == tmp["name"] && m["mountPath"] == "/tmp"));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());

    // The gko pods and the certificate Jobs' pods meet the "restricted" Pod Security Standard.
    let mut pods: Vec<(String, &Value)> = vec![("Deployment".into(), pod)];
    for j in r.jobs() {
        pods.push((
            format!("Job {}", j["metadata"]["name"]),
            &j["spec"]["template"]["spec"],
        ));
    }
    for cj in r.of_kind("CronJob") {
        pods.push((
            "CronJob".into(),
            &cj["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        ));
    }
    for (what, p) in pods {
        assert_eq!(p["securityContext"]["runAsNonRoot"], true, "{what}");
        assert_eq!(
            p["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{what}"
        );
        for c in p["containers"].as_array().expect("containers") {
            let sc = &c["securityContext"];
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["runAsNonRoot"], true, "{what}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{what}");
            assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{what}");
            assert!(c["resources"]["limits"].is_object(), "{what}: limits");
        }
    }

    // Scheduling values reach the pod; one replica has no PDB.
    let r = render(
        "gko",
        "gko",
        json!({
            "replicaCount": 1,
            "podAntiAffinity": "hard",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "extraEnv": [{"name": "GKO_CLUSTER_WIDE_PATHS", "value": "true"}],
            "image": {"repository": "registry.example.com/gko", "tag": "1.2.3"}
        }),
    );
    assert!(r.of_kind("PodDisruptionBudget").is_empty());
    let pod = r.pod_spec();
    assert!(
        pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            .is_array()
    );
    assert_eq!(pod["nodeSelector"]["kubernetes.io/os"], "linux");
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(r.container()["image"], "registry.example.com/gko:1.2.3");
    assert!(r.container()["env"]
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e["name"] == "GKO_CLUSTER_WIDE_PATHS"));
    for j in r.jobs() {
        assert_eq!(
            j["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example.com/gko:1.2.3"
        );
    }
}
