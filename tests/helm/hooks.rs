//! Certificate hooks: order on install and upgrade, certs-tool accepting the Jobs' arguments.

use super::*;
use crate::rbac::{access, Access, WEBHOOK_KINDS};

#[test]
fn certificate_hooks_work_on_install_and_upgrade() {
    if skip("certificate_hooks_work_on_install_and_upgrade") {
        return;
    }
    let r = render_default();
    let jobs = r.jobs();
    assert_eq!(jobs.len(), 2, "two hook Jobs");
    let pre = r.one("Job", "gko-certs");
    let post = r.one("Job", "gko-certs-patch");
    assert_eq!(annotation(pre, "helm.sh/hook"), "pre-install,pre-upgrade");
    assert_eq!(
        annotation(post, "helm.sh/hook"),
        "post-install,post-upgrade"
    );
    for job in [pre, post] {
        assert_eq!(
            annotation(job, "helm.sh/hook-delete-policy"),
            "before-hook-creation,hook-succeeded"
        );
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(spec["containers"][0]["command"], json!(["certs-tool"]));
        assert_eq!(
            spec["containers"][0]["image"],
            r.container()["image"],
            "one image"
        );
        let args = Rendered::job_args(job);
        assert_eq!(args[0], "ensure");
        assert_eq!(
            flag_value(&args, "--service").as_deref(),
            Some("gko-webhook")
        );
        assert_eq!(flag_value(&args, "--namespace").as_deref(), Some("gko"));
        assert_eq!(
            flag_value(&args, "--secret").as_deref(),
            Some("gko-webhook-cert")
        );
        // Its RBAC exists before it runs (lower weight, same hook events) and allows what
        // certs-tool does.
        let sa = spec["serviceAccountName"]
            .as_str()
            .expect("service account");
        let job_weight: i64 = annotation(job, "helm.sh/hook-weight")
            .parse()
            .expect("weight");
        for d in r.docs.iter().filter(|d| {
            d["metadata"]["name"] == sa
                && [
                    "ServiceAccount",
                    "Role",
                    "RoleBinding",
                    "ClusterRole",
                    "ClusterRoleBinding",
                ]
                .contains(&d["kind"].as_str().unwrap_or(""))
        }) {
            let events: BTreeSet<&str> = annotation(d, "helm.sh/hook").split(',').collect();
            for e in annotation(job, "helm.sh/hook").split(',') {
                assert!(events.contains(e), "{} {sa} is a {e} hook", d["kind"]);
            }
            let w: i64 = annotation(d, "helm.sh/hook-weight")
                .parse()
                .expect("weight");
            assert!(w < job_weight, "{} {sa} before the Job", d["kind"]);
        }
        let allow = |a: Access| r.allows(sa, &a, true);
        let cert = Some("gko-webhook-cert");
        assert!(allow(access("get", "", "secrets", Some("gko"), cert)));
        assert!(allow(access("update", "", "secrets", Some("gko"), cert)));
        assert!(allow(access("create", "", "secrets", Some("gko"), None)));
        assert!(!allow(access(
            "get",
            "",
            "secrets",
            Some("gko"),
            Some("other")
        )));
        assert!(!allow(access("get", "", "secrets", Some("default"), cert)));
        for kind in WEBHOOK_KINDS {
            // certs-tool looks every name up as both kinds.
            for name in ["gko-validating", "gko-mutating"] {
                assert!(allow(access(
                    "get",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
                assert!(allow(access(
                    "patch",
                    "admissionregistration.k8s.io",
                    kind,
                    None,
                    Some(name)
                )));
            }
        }
        // The hook RBAC is gone after the hooks: gko itself gets nothing from it.
        assert!(!r.allows(sa, &access("get", "", "secrets", Some("gko"), cert), false));
    }
    // On install the webhook configurations do not exist yet when the pre-install Job runs
    // (certs-tool refuses names it cannot find): it only writes the Secret. The post-install
    // Job, when the configurations exist, patches their caBundle.
    assert!(flag_values(&Rendered::job_args(pre), "--webhook-config").is_empty());
    assert_eq!(
        flag_values(&Rendered::job_args(post), "--webhook-config"),
        ["gko-validating", "gko-mutating"]
    );
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "Deployment",
        "Service",
    ] {
        for d in r.of_kind(kind) {
            assert!(!is_hook(d), "{kind} is a release object");
        }
    }
    // The renewal CronJob: same arguments as the post-install Job, its own (non-hook) RBAC.
    let cron = r.one("CronJob", "gko-certs-renew");
    let spec = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(
        strings(&spec["containers"][0]["args"]),
        Rendered::job_args(post)
    );
    let sa = spec["serviceAccountName"].as_str().expect("sa");
    assert!(r.allows(
        sa,
        &access(
            "patch",
            "admissionregistration.k8s.io",
            WEBHOOK_KINDS[0],
            None,
            Some("gko-validating")
        ),
        false
    ));
    assert!(r.allows(
        sa,
        &access(
            "update",
            "",
            "secrets",
            Some("gko"),
            Some("gko-webhook-cert")
        ),
        false
    ));
    let r = render(
        "gko",
        "gko",
        json!({"certificates": {"job": {"renewal": {"enabled": false}}}}),
    );
    assert!(r.of_kind("CronJob").is_empty());

    // Manage mode: no Jobs, gko does it; no certificate volume, a writable --cert-dir.
    let r = render("gko", "gko", json!({"certificates": {"mode": "manage"}}));
    assert!(r.jobs().is_empty() && r.of_kind("CronJob").is_empty());
    assert!(r.arg("--tls-cert").is_none());
    let cert_dir = r.arg("--cert-dir").expect("--cert-dir");
    assert!(
        r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(
                |m| cert_dir.starts_with(m["mountPath"].as_str().unwrap_or("-"))
                    && m["readOnly"] != true
            ),
        "--cert-dir is on a writable volume"
    );
}

#[test]
fn certs_tool_accepts_the_job_arguments() {
    if skip("certs_tool_accepts_the_job_arguments") {
        return;
    }
    let Some(bin) = crate::support::cluster::certs_tool_bin() else {
        println!("skipped: certs_tool_accepts_the_job_arguments: no certs-tool binary (cargo build -p certs-tool, or set CERTS_TOOL)");
        return;
    };
    let r = render(
        "gko",
        "gko",
        json!({"certificates": {"extraSans": ["gko.example.com", "10.0.0.1"]}}),
    );
    let mut argsets: Vec<Vec<String>> = r.jobs().into_iter().map(Rendered::job_args).collect();
    argsets.push(strings(
        &r.one("CronJob", "gko-certs-renew")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            ["containers"][0]["args"],
    ));
    for args in argsets {
        // No cluster: the arguments parse (else exit 2, usage), then building a client fails (1).
        let out = Command::new(&bin)
            .args(&args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .expect("certs-tool runs");
        assert_eq!(
            out.status.code(),
            Some(1),
            "certs-tool {args:?}:\n{}",
            out_text(&out)
        );
        assert!(
            out_text(&out).contains("Kubernetes client"),
            "{}",
            out_text(&out)
        );
    }
}
