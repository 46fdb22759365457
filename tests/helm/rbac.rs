//! RBAC: the chart grants what gko and its hooks do, and no more.

use super::*;

/// One rule of a Role or ClusterRole.
fn rule_allows(rule: &Value, verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    let has = |key: &str, want: &str| {
        rule[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == want || v == "*"))
    };
    let names = strings(&rule["resourceNames"]);
    has("verbs", verb)
        && has("apiGroups", group)
        && has("resources", resource)
        && (names.is_empty() || name.is_some_and(|n| names.iter().any(|x| x == n)))
}

/// A request as RBAC sees it. `namespace: None` is cluster-scoped (or all namespaces).
#[derive(Clone, Debug)]
pub(crate) struct Access {
    verb: String,
    group: String,
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

pub(crate) fn access(
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> Access {
    Access {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        namespace: namespace.map(str::to_string),
        name: name.map(str::to_string),
    }
}

impl Rendered {
    fn subject_matches(binding: &Value, sa: &str, sa_ns: &str) -> bool {
        binding["subjects"].as_array().is_some_and(|s| {
            s.iter().any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == sa_ns
            })
        })
    }

    /// Would Kubernetes RBAC let ServiceAccount `sa` (in the release namespace) do `a`, with the
    /// rendered roles and bindings (hooks included when `hooks`)?
    pub(crate) fn allows(&self, sa: &str, a: &Access, hooks: bool) -> bool {
        let sa_ns = self.namespace.as_str();
        let present = |d: &&Value| hooks || !is_hook(d);
        for b in self
            .of_kind("ClusterRoleBinding")
            .into_iter()
            .filter(present)
        {
            if !Self::subject_matches(b, sa, sa_ns) {
                continue;
            }
            let role = b["roleRef"]["name"].as_str().unwrap_or("");
            if let Some(cr) = self.get("ClusterRole", role).filter(present) {
                if cr["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| rule_allows(r, &a.verb, &a.group, &a.resource, a.name.as_deref()))
                }) {
                    return true;
                }
            }
        }
        let Some(ns) = a.namespace.as_deref() else {
            return false;
        };
        for b in self.of_kind("RoleBinding").into_iter().filter(present) {
            if b["metadata"]["namespace"] != ns || !Self::subject_matches(b, sa, sa_ns) {
                continue;
            }
            let kind = b["roleRef"]["kind"].as_str().unwrap_or("");
            let name = b["roleRef"]["name"].as_str().unwrap_or("");
            let role = self.docs.iter().filter(present).find(|d| {
                d["kind"] == kind
                    && d["metadata"]["name"] == name
                    && (kind == "ClusterRole" || d["metadata"]["namespace"] == ns)
            });
            if let Some(role) = role {
                if role["rules"].as_array().is_some_and(|rules| {
                    rules
                        .iter()
                        .any(|r| rule_allows(r, &a.verb, &a.group, &a.resource, a.name.as_deref()))
                }) {
                    return true;
                }
            }
        }
        false
    }

    fn rbac_rules(&self) -> Vec<(String, &Value)> {
        self.docs
            .iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
            .flat_map(|d| {
                let who = format!(
                    "{} {}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                );
                d["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |r| (who.clone(), r))
            })
            .collect()
    }
}

const CRDS: [&str; 4] = [
    "managementcontexts",
    "apidefinitions",
    "apiresources",
    "apiv4definitions",
];
pub(crate) const WEBHOOK_KINDS: [&str; 2] = [
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
];

/// What the webhook does in a namespace it watches: caches of the four kinds and of Secret
/// metadata (list, watch), live reads on a cache miss and key checks (get).
fn webhook_needs(ns: &str) -> Vec<Access> {
    let mut v = Vec::new();
    for r in CRDS {
        for verb in ["list", "watch"] {
            v.push(access(verb, "gravitee.io", r, Some(ns), None));
        }
        v.push(access("get", "gravitee.io", r, Some(ns), Some("x")));
    }
    v.push(access("list", "", "secrets", Some(ns), None));
    v.push(access("watch", "", "secrets", Some(ns), None));
    v.push(access(
        "get",
        "",
        "secrets",
        Some(ns),
        Some("apim-credentials"),
    ));
    v.push(access("get", "", "configmaps", Some(ns), Some("api-x")));
    v
}

/// What the reconciler does on top, in a namespace it watches.
fn reconciler_needs(ns: &str) -> Vec<Access> {
    let mut v = Vec::new();
    for r in CRDS {
        for verb in ["update", "patch"] {
            v.push(access(verb, "gravitee.io", r, Some(ns), Some("x")));
        }
        for verb in ["get", "update", "patch"] {
            let status = format!("{r}/status");
            v.push(access(verb, "gravitee.io", &status, Some(ns), Some("x")));
        }
        let finalizers = format!("{r}/finalizers");
        v.push(access(
            "update",
            "gravitee.io",
            &finalizers,
            Some(ns),
            Some("x"),
        ));
    }
    for verb in ["list", "watch", "create"] {
        v.push(access(verb, "", "configmaps", Some(ns), None));
    }
    for verb in ["update", "patch", "delete"] {
        v.push(access(verb, "", "configmaps", Some(ns), Some("api-x")));
    }
    for group in ["", "events.k8s.io"] {
        v.push(access("create", group, "events", Some(ns), None));
        v.push(access("patch", group, "events", Some(ns), Some("e")));
    }
    v
}

#[test]
fn rbac_covers_what_gko_does_and_no_more() {
    if skip("rbac_covers_what_gko_does_and_no_more") {
        return;
    }
    for (what, values) in [
        ("defaults", json!({})),
        ("manage", json!({"certificates": {"mode": "manage"}})),
        ("watched", json!({"watchNamespaces": ["team-a", "team-b"]})),
        (
            "cluster id and lease",
            json!({"reconcile": {"clusterId": "c1"}, "leaderElection": {"leaseNamespace": "gko-leases"}}),
        ),
        ("webhook only", json!({"reconcile": {"enabled": false}})),
        ("CRDs left alone", json!({"applyCrds": false})),
    ] {
        let r = render("gko", "gko", values.clone());
        let reconcile = values["reconcile"]["enabled"] != false;
        let manage = values["certificates"]["mode"] == "manage";
        let watched: Vec<String> = strings(&values["watchNamespaces"]);
        let namespaces: Vec<String> = if watched.is_empty() {
            vec!["any-namespace".into(), "gko".into()]
        } else {
            watched.clone()
        };
        let sa = r.pod_spec()["serviceAccountName"]
            .as_str()
            .expect("serviceAccountName");
        assert_eq!(sa, "gko");
        assert!(
            r.get("ServiceAccount", sa).is_some(),
            "{what}: the ServiceAccount is rendered"
        );
        let allow = |a: Access| r.allows(sa, &a, false);

        for ns in &namespaces {
            for a in webhook_needs(ns) {
                assert!(allow(a.clone()), "{what}: gko may {a:?}");
            }
            for a in reconciler_needs(ns) {
                assert_eq!(
                    allow(a.clone()),
                    reconcile,
                    "{what}: the reconciler's {a:?}"
                );
            }
            // Secrets are read-only for gko.
            for verb in ["create", "update", "patch", "delete", "deletecollection"] {
                if manage && verb == "create" && ns == "gko" {
                    continue; // --manage-certs creates its Secret; create has no resourceNames
                }
                assert!(
                    !allow(access(
                        verb,
                        "",
                        "secrets",
                        Some(ns),
                        Some("apim-credentials")
                    )),
                    "{what}: gko must not {verb} Secrets in {ns}"
                );
            }
        }
        if !watched.is_empty() {
            for a in webhook_needs("not-watched")
                .into_iter()
                .chain(reconciler_needs("not-watched"))
            {
                assert!(
                    !allow(a.clone()),
                    "{what}: outside the watched namespaces: {a:?}"
                );
            }
        }
        // Leader election, in the Lease namespace only (not at all without the reconciler).
        let lease_ns = values["leaderElection"]["leaseNamespace"]
            .as_str()
            .unwrap_or("gko");
        let lease = |verb: &str, ns: &str, name: Option<&str>| {
            allow(access(
                verb,
                "coordination.k8s.io",
                "leases",
                Some(ns),
                name,
            ))
        };
        for verb in ["get", "update"] {
            assert_eq!(
                lease(verb, lease_ns, Some("gko-leader")),
                reconcile,
                "{what}: leases {verb}"
            );
        }
        assert_eq!(lease("create", lease_ns, None), reconcile, "{what}");
        assert!(!lease("get", "elsewhere", Some("gko-leader")), "{what}");
        // The cluster id: the kube-system namespace, by name, unless the id is given.
        let needs_kube_system = reconcile && values["reconcile"]["clusterId"].is_null();
        assert_eq!(
            allow(access("get", "", "namespaces", None, Some("kube-system"))),
            needs_kube_system,
            "{what}: get namespaces/kube-system"
        );
        assert!(!allow(access(
            "get",
            "",
            "namespaces",
            None,
            Some("default")
        )));
        assert!(!allow(access("list", "", "namespaces", None, None)));
        // --apply-crds: get and patch the CRDs, by name, nothing else.
        let apply_crds = values["applyCrds"] != false;
        assert_eq!(r.arg("--apply-crds").is_some(), apply_crds, "{what}");
        let crd = |verb: &str, name: Option<&str>| {
            allow(access(
                verb,
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                None,
                name,
            ))
        };
        for plural in CRDS {
            let name = format!("{plural}.gravitee.io");
            for verb in ["get", "patch"] {
                assert_eq!(
                    crd(verb, Some(&name)),
                    apply_crds,
                    "{what}: {verb} CRD {name}"
                );
            }
            for verb in ["update", "delete"] {
                assert!(!crd(verb, Some(&name)), "{what}: {verb} CRD {name}");
            }
        }
        assert!(!crd("patch", Some("gateways.networking.k8s.io")), "{what}");
        assert!(!crd("list", None) && !crd("create", None), "{what}");
        // Certificates: only with --manage-certs, only its own Secret and webhook configurations.
        let cert = Some("gko-webhook-cert");
        for verb in ["get", "update"] {
            assert_eq!(
                allow(access(verb, "", "secrets", Some("gko"), cert)),
                manage || (verb == "get" && namespaces.iter().any(|n| n == "gko")),
                "{what}: {verb} the certificate Secret"
            );
        }
        assert_eq!(
            allow(access("create", "", "secrets", Some("gko"), None)),
            manage,
            "{what}: create the certificate Secret"
        );
        for kind in WEBHOOK_KINDS {
            for name in ["gko-validating", "gko-mutating"] {
                for verb in ["get", "patch"] {
                    assert_eq!(
                        allow(access(
                            verb,
                            "admissionregistration.k8s.io",
                            kind,
                            None,
                            Some(name)
                        )),
                        manage,
                        "{what}: {verb} {kind}/{name}"
                    );
                }
                assert!(!allow(access(
                    "delete",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
            }
            assert!(!allow(access(
                "get",
                "admissionregistration.k8s.io",
                kind,
                None,
                Some("someone-elses")
            )));
            assert!(!allow(access(
                "list",
                "admissionregistration.k8s.io",
                kind,
                None,
                None
            )));
        }

        // In every role of the chart: no wildcards, Secrets written only by name (create aside),
        // webhook configurations only by name.
        for (who, rule) in r.rbac_rules() {
            for key in ["verbs", "apiGroups", "resources", "resourceNames"] {
                assert!(
                    !strings(&rule[key]).iter().any(|s| s == "*"),
                    "{what}: {who} has a wildcard: {rule}"
                );
            }
            let resources = strings(&rule["resources"]);
            let verbs = strings(&rule["verbs"]);
            if resources.iter().any(|r| r == "secrets") {
                let writes: Vec<&String> = verbs
                    .iter()
                    .filter(|v| !["get", "list", "watch"].contains(&v.as_str()))
                    .collect();
                if !writes.is_empty() {
                    assert!(
                        who.starts_with("Role "),
                        "{what}: {who}: Secret writes only in a namespaced Role"
                    );
                    if verbs != ["create"] {
                        assert_eq!(
                            strings(&rule["resourceNames"]),
                            ["gko-webhook-cert"],
                            "{what}: {who}: {rule}"
                        );
                        assert!(
                            writes.iter().all(|v| *v == "update"),
                            "{what}: {who}: {rule}"
                        );
                    }
                }
            }
            if resources
                .iter()
                .any(|r| WEBHOOK_KINDS.contains(&r.as_str()))
            {
                assert_eq!(
                    strings(&rule["resourceNames"]),
                    ["gko-validating", "gko-mutating"],
                    "{what}: {who}: webhook configurations by name only"
                );
                if who.ends_with("gko-cleanup") {
                    // uninstall.cleanup: the pre-delete hook deletes them first, nothing else.
                    assert_eq!(verbs, ["delete"], "{what}: {who}");
                } else {
                    assert_eq!(verbs, ["get", "patch"], "{what}: {who}");
                }
            }
        }
        // gko's ClusterRole reads Secrets and nothing more.
        let cr = r.one("ClusterRole", "gko");
        for rule in cr["rules"].as_array().expect("rules") {
            if strings(&rule["resources"]).iter().any(|r| r == "secrets") {
                assert_eq!(strings(&rule["verbs"]), ["get", "list", "watch"], "{what}");
            }
        }
    }
}

#[test]
fn no_lease_role_without_leader_election() {
    if skip("no_lease_role_without_leader_election") {
        return;
    }
    let r = render("gko", "gko", json!({"leaderElection": {"enabled": false}}));
    assert!(r.get("Role", "gko-leader-election").is_none());
    assert!(!r.allows(
        "gko",
        &access("create", "coordination.k8s.io", "leases", Some("gko"), None),
        false
    ));
    assert_eq!(r.arg("--leader-election").as_deref(), Some("false"));
}
