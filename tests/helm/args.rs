//! The container's arguments: every flag the chart passes is a `gko serve` flag, mounted files where flags point.

use super::*;

#[test]
fn apim_ca_is_mounted_where_the_flag_points() {
    if skip("apim_ca_is_mounted_where_the_flag_points") {
        return;
    }
    assert_eq!(render_default().arg("--apim-ca-file"), None);
    for (source, values) in [
        (
            "secret",
            json!({"apimCa": {"secretName": "apim-ca", "key": "bundle.pem"}}),
        ),
        ("configMap", json!({"apimCa": {"configMapName": "apim-ca"}})),
    ] {
        let r = render("gko", "gko", values);
        let file = r.arg("--apim-ca-file").expect("--apim-ca-file passed");
        let mount = r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["name"] == "apim-ca")
            .expect("apim-ca mounted")
            .clone();
        assert_eq!(mount["readOnly"], true);
        let volume = r.pod_spec()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == "apim-ca")
            .expect("apim-ca volume")
            .clone();
        let item = &volume[source]["items"][0];
        let expected = format!(
            "{}/{}",
            mount["mountPath"].as_str().expect("mountPath"),
            item["path"].as_str().expect("path")
        );
        assert_eq!(file, expected, "{source}: the flag names the mounted file");
        assert_eq!(item["key"], item["path"]);
    }
}
#[test]
fn container_args_are_gko_serve_flags() {
    if skip("container_args_are_gko_serve_flags") {
        return;
    }
    for (what, values) in strict_value_sets() {
        let r = render("gko", "gko", values.clone());
        let args = parse_strict(what, &r);
        let opt_in: Vec<String> = r
            .args()
            .iter()
            .map(|a| flag_name(a).to_string())
            .filter(|f| OPT_IN_FLAGS.contains(&f.as_str()))
            .collect();
        assert!(
            opt_in.is_empty(),
            "{what}: values left at their defaults must not pass {opt_in:?}"
        );
        // Job mode: the serving certificate is the Secret the hook Job writes, mounted read-only.
        let cert = args.tls_cert.as_ref().expect("--tls-cert in job mode");
        let key = args.tls_key.as_ref().expect("--tls-key in job mode");
        let mount = r.container()["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| cert.starts_with(m["mountPath"].as_str().unwrap_or("-")))
            .expect("--tls-cert is in a mounted volume");
        assert_eq!(mount["readOnly"], true);
        assert_eq!(key.parent(), cert.parent());
        let volume = r.pod_spec()["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("volume");
        let secret = volume["secret"]["secretName"].as_str().expect("a Secret");
        assert_eq!(secret, "gko-webhook-cert", "{what}");
        let keys: BTreeSet<&str> = volume["secret"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["path"].as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from([file_name(cert).as_str(), file_name(key).as_str()]),
            "{what}: only the serving certificate and key are mounted (not ca.key)"
        );
        for job in r.jobs() {
            assert_eq!(
                flag_value(&Rendered::job_args(job), "--secret").as_deref(),
                Some(secret),
                "{what}: the Jobs write the mounted Secret"
            );
        }
        // What the values say reaches gko.
        let watched: Vec<String> = values["watchNamespaces"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        assert_eq!(args.namespaces, watched, "{what}: --namespaces");
        assert_eq!(
            args.cluster_wide_paths,
            values["clusterWidePaths"] == true
                || strings(&values["extraArgs"]).contains(&"--cluster-wide-paths".to_string()),
            "{what}"
        );
    }
    let r = render(
        "gko",
        "gko",
        strict_value_sets()
            .into_iter()
            .find(|(w, _)| *w == "existing flags")
            .map(|(_, v)| v)
            .expect("set"),
    );
    let args = parse_strict("existing flags", &r);
    assert_eq!(args.listen.to_string(), "[::]:9443");
    assert_eq!(args.probe_listen.to_string(), "[::]:9081");
    assert_eq!(
        args.cert_reload_interval,
        std::time::Duration::from_secs(10)
    );
    assert!(args.cluster_wide_paths, "extraArgs are passed");
    assert_eq!(args.shutdown_timeout, std::time::Duration::from_secs(15));
    assert_eq!(r.arg("--log").as_deref(), Some("info,gko=debug"));
    let cli = Cli::try_parse_from(r.argv()).expect("parses");
    assert_eq!(cli.log, "info,gko=debug");
    assert_eq!(cli.log_format, gko::telemetry::LogFormat::Text);
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}
#[test]
fn extra_flags_for_the_reconciler_and_manage_certs() {
    if skip("extra_flags_for_the_reconciler_and_manage_certs") {
        return;
    }
    let r = render("gko", "gko", every_opt_in_value());
    let args = r.args();
    let expected = [
        ("--reconcile", "true"),
        ("--concurrency", "4"),
        ("--cluster-id", "prod-eu"),
        ("--apim-dry-run", "enforce"),
        ("--drift-interval", "5m"),
        ("--drift-policy", "correct"),
        ("--leader-election", "true"),
        ("--lease-name", "gko-lease"),
        ("--lease-namespace", "gko-system"),
        ("--manage-certs", ""),
        ("--webhook-service", "gko-webhook"),
        ("--webhook-namespace", "gko"),
        ("--cert-secret", "gko-webhook-cert"),
        ("--webhook-config", "gko-validating,gko-mutating"),
        ("--cert-dir", "/tmp/gko-certs"),
    ];
    for (flag, value) in expected {
        assert_eq!(
            flag_value(&args, flag).as_deref(),
            Some(value),
            "{flag} in {args:?}"
        );
    }
    // The pod name and namespace come from the downward API, as env (POD_NAME, POD_NAMESPACE).
    assert!(flag_value(&args, "--pod-name").is_none());
    // Each of these alone, too.
    for (values, flag, value) in [
        (
            json!({"reconcile": {"apimDryRun": "enforce"}}),
            "--apim-dry-run",
            "enforce",
        ),
        (
            json!({"reconcile": {"enabled": false}}),
            "--reconcile",
            "false",
        ),
        (
            json!({"leaderElection": {"enabled": false}}),
            "--leader-election",
            "false",
        ),
        (
            json!({"reconcile": {"concurrency": 16}}),
            "--concurrency",
            "16",
        ),
    ] {
        let r = render("gko", "gko", values.clone());
        assert_eq!(r.arg(flag).as_deref(), Some(value), "{values}");
        parse_strict(&values.to_string(), &r);
    }

    parse_strict("every opt-in value", &r);
}
