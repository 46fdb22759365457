//! GKO's environment variables (what Gravitee's operator chart sets) read by `gko serve`.
//!
//! clap reads one variable per flag, so GKO's names are translated into gko's before clap parses:
//! [`translate`] is a pure function from the environment to the gko variables to set, and
//! [`apply_to_process`] does it for `gko serve` at start. gko's own variable wins when both are set,
//! and a flag on the command line wins over both (clap's order). README's "GKO settings → gko" table
//! lists [`GKO_VARS`] (tests/readme.rs checks both agree).

use std::collections::BTreeMap;

/// How a GKO value becomes a gko value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// Taken as it is (trimmed); an empty value sets nothing.
    Same,
    /// GKO's switch (`"true"` is on, anything else off) as `true` / `false`.
    Bool,
    /// Whole seconds (`HTTP_CLIENT_TIMEOUT_SECONDS`) as a duration, e.g. `10s`.
    Seconds,
    /// A port as a listen address on every interface, `0.0.0.0:<port>`.
    ListenPort,
    /// GKO's `json` / `console` as gko's `json` / `text` (GKO logs to the console unless `json`).
    LogFormat,
    /// zap's levels as a tracing filter (`dpanic`, `panic`, `fatal` become `error`).
    LogLevel,
    /// `false` turns gko's drift checks off (interval `0`); `true` keeps gko's default interval.
    DriftOff,
    /// One entry of a comma-separated gko list, at this position; the other positions keep gko's
    /// defaults (given here in order).
    ListItem(usize, &'static [&'static str]),
}

/// What GKO's variable becomes in gko.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Equivalent {
    /// The gko variable (and flag) with the same meaning, and the value translation.
    Env {
        var: &'static str,
        flag: &'static str,
        value: Value,
    },
    /// Nothing in gko has that meaning; why, and what to do instead.
    None(&'static str),
}

/// One variable GKO reads, the GKO chart value that sets it, and its gko equivalent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GkoVar {
    pub name: &'static str,
    pub chart_value: &'static str,
    /// The gko chart value with that meaning (`extraArgs` / `extraEnv` when there is none).
    pub gko_chart: &'static str,
    pub gko: Equivalent,
}

const fn env(var: &'static str, flag: &'static str, value: Value) -> Equivalent {
    Equivalent::Env { var, flag, value }
}

const WEBHOOK_CONFIG_DEFAULTS: &[&str] = &["gko-validating", "gko-mutating"];

/// Every variable of GKO's chart (reference: gko-migration.md), in the chart's order.
pub const GKO_VARS: &[GkoVar] = &[
    GkoVar { name: "NAMESPACE", chart_value: "manager.scope.cluster / manager.scope.namespaces", gko_chart: "watchNamespaces", gko: env("GKO_NAMESPACES", "--namespaces", Value::Same) },
    GkoVar { name: "ENABLE_LEADER_ELECTION", chart_value: "(always true)", gko_chart: "leaderElection.enabled", gko: env("GKO_LEADER_ELECTION", "--leader-election", Value::Bool) },
    GkoVar { name: "APPLY_CRDS", chart_value: "manager.applyCRDs", gko_chart: "applyCrds", gko: env("GKO_APPLY_CRDS", "--apply-crds", Value::Bool) },
    GkoVar { name: "ENABLE_METRICS", chart_value: "manager.metrics.enabled", gko_chart: "(none)", gko: Equivalent::None("gko always serves /metrics on its probe port") },
    GkoVar { name: "METRICS_PORT", chart_value: "manager.metrics.port", gko_chart: "probes.port", gko: Equivalent::None("metrics share the probe port (--probe-listen); there is no separate metrics listener") },
    GkoVar { name: "PROBES_PORT", chart_value: "manager.probes.port", gko_chart: "probes.port", gko: env("GKO_PROBE_LISTEN", "--probe-listen", Value::ListenPort) },
    GkoVar { name: "ENABLE_WEBHOOK", chart_value: "manager.webhook.enabled", gko_chart: "certificates.mode", gko: Equivalent::None("gko always serves its webhook; the gko chart's certificates.mode chooses how its certificate is made") },
    GkoVar { name: "WEBHOOK_NAMESPACE", chart_value: "(release namespace)", gko_chart: "(release namespace)", gko: env("GKO_WEBHOOK_NAMESPACE", "--webhook-namespace", Value::Same) },
    GkoVar { name: "WEBHOOK_SERVICE_NAME", chart_value: "manager.webhook.service.name", gko_chart: "service.name", gko: env("GKO_WEBHOOK_SERVICE", "--webhook-service", Value::Same) },
    GkoVar { name: "WEBHOOK_SERVICE_PORT", chart_value: "manager.webhook.service.targetPort", gko_chart: "webhook.port", gko: env("GKO_LISTEN", "--listen", Value::ListenPort) },
    GkoVar { name: "WEBHOOK_CERT_SECRET_NAME", chart_value: "manager.webhook.cert.secret.name", gko_chart: "certificates.secretName", gko: env("GKO_CERT_SECRET", "--cert-secret", Value::Same) },
    GkoVar { name: "WEBHOOK_VALIDATING_CONFIGURATION_NAME", chart_value: "(derived from the release)", gko_chart: "(derived from the release)", gko: env("GKO_WEBHOOK_CONFIGS", "--webhook-config", Value::ListItem(0, WEBHOOK_CONFIG_DEFAULTS)) },
    GkoVar { name: "WEBHOOK_MUTATING_CONFIGURATION_NAME", chart_value: "(derived from the release)", gko_chart: "(derived from the release)", gko: env("GKO_WEBHOOK_CONFIGS", "--webhook-config", Value::ListItem(1, WEBHOOK_CONFIG_DEFAULTS)) },
    GkoVar { name: "HTTP_CLIENT_INSECURE_SKIP_CERT_VERIFY", chart_value: "manager.httpClient.insecureSkipCertVerify", gko_chart: "apimInsecureSkipVerify", gko: env("GKO_APIM_INSECURE_SKIP_VERIFY", "--apim-insecure-skip-verify", Value::Bool) },
    GkoVar { name: "HTTP_CLIENT_TIMEOUT_SECONDS", chart_value: "manager.httpClient.timeoutSeconds", gko_chart: "extraArgs", gko: env("GKO_APIM_TIMEOUT", "--apim-timeout", Value::Seconds) },
    GkoVar { name: "HTTP_CLIENT_PROXY_ENABLED", chart_value: "manager.httpClient.proxy.enabled", gko_chart: "extraEnv", gko: Equivalent::None("no flag: gko's Management API client always uses HTTPS_PROXY / HTTP_PROXY / NO_PROXY; set those") },
    GkoVar { name: "HTTP_CLIENT_PROXY_USE_SYSTEM_PROXY", chart_value: "manager.httpClient.proxy.useSystemProxy", gko_chart: "extraEnv", gko: Equivalent::None("gko's default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY are always used") },
    GkoVar { name: "HTTP_CLIENT_PROXY_URL", chart_value: "manager.httpClient.proxy.url", gko_chart: "extraEnv", gko: Equivalent::None("no flag: set HTTPS_PROXY (extraEnv) to the proxy URL") },
    GkoVar { name: "HTTP_CLIENT_PROXY_USERNAME", chart_value: "manager.httpClient.proxy.username", gko_chart: "extraEnv", gko: Equivalent::None("no flag: put user:password in the HTTPS_PROXY URL") },
    GkoVar { name: "HTTP_CLIENT_PROXY_PASSWORD", chart_value: "manager.httpClient.proxy.password", gko_chart: "extraEnv", gko: Equivalent::None("no flag: put user:password in the HTTPS_PROXY URL") },
    GkoVar { name: "HTTP_CLIENT_TRUSTSTORE_PATH", chart_value: "manager.httpClient.trustStore.path", gko_chart: "apimCa.secretName / apimCa.configMapName", gko: env("GKO_APIM_CA_FILE", "--apim-ca-file", Value::Same) },
    GkoVar { name: "CHECK_API_CONTEXT_PATH_CONFLICT_IN_CLUSTER", chart_value: "manager.webhook.admission.checkApiContextPathConflictInCluster", gko_chart: "clusterWidePaths", gko: env("GKO_CLUSTER_WIDE_PATHS", "--cluster-wide-paths", Value::Bool) },
    GkoVar { name: "LOGS_FORMAT", chart_value: "manager.logs.format", gko_chart: "log.format", gko: env("GKO_LOG_FORMAT", "--log-format", Value::LogFormat) },
    GkoVar { name: "LOGS_LEVEL", chart_value: "manager.logs.level", gko_chart: "log.level", gko: env("GKO_LOG", "--log", Value::LogLevel) },
    GkoVar { name: "ENABLE_TEMPLATING", chart_value: "manager.templating.enabled", gko_chart: "(none)", gko: Equivalent::None("gko always resolves [[ secret ]] / [[ configmap ]] templates") },
    GkoVar { name: "ENABLE_DRIFT_DETECTION", chart_value: "manager.driftDetection.enabled", gko_chart: "reconcile.drift.interval", gko: env("GKO_DRIFT_INTERVAL", "--drift-interval", Value::DriftOff) },
    GkoVar { name: "ENABLE_INGRESS", chart_value: "ingress.controller.enabled", gko_chart: "(none)", gko: Equivalent::None("gko has no Ingress controller") },
    GkoVar { name: "INGRESS_CLASSES", chart_value: "ingress.ingressClasses", gko_chart: "(none)", gko: Equivalent::None("gko has no Ingress controller") },
];

/// What happened to one GKO variable found in the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Translated into `var=value`.
    Used {
        gko_name: &'static str,
        var: &'static str,
        value: String,
    },
    /// Read, but the translation sets nothing (e.g. `ENABLE_DRIFT_DETECTION=true`, an empty NAMESPACE).
    Default { gko_name: &'static str },
    /// gko's own variable is set too and wins.
    Shadowed {
        gko_name: &'static str,
        var: &'static str,
    },
    /// The value cannot be translated (left out, with why).
    Invalid {
        gko_name: &'static str,
        value: String,
        why: String,
    },
    /// gko has no equivalent.
    Unsupported {
        gko_name: &'static str,
        why: &'static str,
    },
}

/// The gko variables to set and what was done with each GKO variable found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Translation {
    pub set: BTreeMap<&'static str, String>,
    pub outcomes: Vec<Outcome>,
}

/// Translates GKO's variables found in `environment` into gko's; gko's own names win.
pub fn translate(environment: &BTreeMap<String, String>) -> Translation {
    let mut out = Translation::default();
    // List items by target variable: position → value.
    let mut lists: BTreeMap<&'static str, (&'static [&'static str], BTreeMap<usize, String>)> =
        BTreeMap::new();
    for gko in GKO_VARS {
        let Some(raw) = environment.get(gko.name) else {
            continue;
        };
        let (var, value) = match gko.gko {
            Equivalent::None(why) => {
                out.outcomes.push(Outcome::Unsupported {
                    gko_name: gko.name,
                    why,
                });
                continue;
            }
            Equivalent::Env { var, value, .. } => (var, value),
        };
        if environment.contains_key(var) {
            out.outcomes.push(Outcome::Shadowed {
                gko_name: gko.name,
                var,
            });
            continue;
        }
        match convert(value, raw) {
            Err(why) => out.outcomes.push(Outcome::Invalid {
                gko_name: gko.name,
                value: raw.clone(),
                why,
            }),
            Ok(None) => out.outcomes.push(Outcome::Default { gko_name: gko.name }),
            Ok(Some(v)) => {
                if let Value::ListItem(at, defaults) = value {
                    lists
                        .entry(var)
                        .or_insert((defaults, BTreeMap::new()))
                        .1
                        .insert(at, v.clone());
                } else {
                    out.set.insert(var, v.clone());
                }
                out.outcomes.push(Outcome::Used {
                    gko_name: gko.name,
                    var,
                    value: v,
                });
            }
        }
    }
    for (var, (defaults, items)) in lists {
        let joined: Vec<String> = defaults
            .iter()
            .enumerate()
            .map(|(i, d)| items.get(&i).cloned().unwrap_or_else(|| (*d).to_owned()))
            .collect();
        out.set.insert(var, joined.join(","));
    }
    out
}

/// One GKO value as gko's: `Ok(None)` when it sets nothing.
fn convert(value: Value, raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    match value {
        Value::Same | Value::ListItem(..) => Ok((!raw.is_empty()).then(|| raw.to_owned())),
        Value::Bool => Ok(Some((raw == "true").to_string())),
        Value::Seconds => raw
            .parse::<u32>()
            .map(|s| Some(format!("{s}s")))
            .map_err(|_| "not a whole number of seconds".to_owned()),
        Value::ListenPort => match raw.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(format!("0.0.0.0:{port}"))),
            _ => Err("not a port number (1-65535)".to_owned()),
        },
        Value::LogFormat => Ok(Some(
            if raw.eq_ignore_ascii_case("json") {
                "json"
            } else {
                "text"
            }
            .to_owned(),
        )),
        Value::LogLevel => match raw.to_ascii_lowercase().as_str() {
            "" => Ok(None),
            l @ ("debug" | "info" | "warn" | "error") => Ok(Some(l.to_owned())),
            "dpanic" | "panic" | "fatal" => Ok(Some("error".to_owned())),
            _ => Err("not a level (debug, info, warn, error)".to_owned()),
        },
        Value::DriftOff => Ok((raw == "false").then(|| "0".to_owned())),
    }
}

/// Translates this process's environment and sets the gko variables, before clap parses. Called by
/// `main` for `gko serve` only, while the process is still single-threaded.
pub fn apply_to_process() -> Translation {
    let environment: BTreeMap<String, String> = std::env::vars().collect();
    let translation = translate(&environment);
    for (var, value) in &translation.set {
        std::env::set_var(var, value);
    }
    translation
}

impl Translation {
    /// Logs which GKO variables were used, shadowed, refused or have no equivalent (once logging is up).
    pub fn log(&self) {
        for outcome in &self.outcomes {
            match outcome {
                Outcome::Used {
                    gko_name,
                    var,
                    value,
                } => {
                    tracing::info!(gko_var = gko_name, gko_setting = var, value = %value, "using GKO's environment variable")
                }
                Outcome::Default { gko_name } => {
                    tracing::info!(
                        gko_var = gko_name,
                        "GKO's environment variable read: gko's default applies"
                    )
                }
                Outcome::Shadowed { gko_name, var } => {
                    tracing::info!(
                        gko_var = gko_name,
                        gko_setting = var,
                        "GKO's environment variable ignored: gko's own is set"
                    )
                }
                Outcome::Invalid {
                    gko_name,
                    value,
                    why,
                } => {
                    tracing::warn!(gko_var = gko_name, value = %value, "GKO's environment variable ignored: {why}")
                }
                Outcome::Unsupported { gko_name, why } => {
                    tracing::info!(
                        gko_var = gko_name,
                        "GKO's environment variable has no gko equivalent: {why}"
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn set(t: &Translation, var: &str) -> Option<String> {
        t.set.get(var).cloned()
    }

    #[test]
    fn values_are_translated() {
        let t = translate(&env(&[
            ("NAMESPACE", "team-a,team-b"),
            ("APPLY_CRDS", "true"),
            ("ENABLE_LEADER_ELECTION", "yes"),
            ("HTTP_CLIENT_TIMEOUT_SECONDS", " 12 "),
            ("PROBES_PORT", "9081"),
            ("WEBHOOK_SERVICE_PORT", "9443"),
            ("LOGS_FORMAT", "console"),
            ("LOGS_LEVEL", "DPANIC"),
            ("ENABLE_DRIFT_DETECTION", "false"),
            ("HTTP_CLIENT_TRUSTSTORE_PATH", "/etc/ca/ca.pem"),
        ]));
        assert_eq!(set(&t, "GKO_NAMESPACES").as_deref(), Some("team-a,team-b"));
        assert_eq!(set(&t, "GKO_APPLY_CRDS").as_deref(), Some("true"));
        // GKO's switches are on only for exactly "true".
        assert_eq!(set(&t, "GKO_LEADER_ELECTION").as_deref(), Some("false"));
        assert_eq!(set(&t, "GKO_APIM_TIMEOUT").as_deref(), Some("12s"));
        assert_eq!(set(&t, "GKO_PROBE_LISTEN").as_deref(), Some("0.0.0.0:9081"));
        assert_eq!(set(&t, "GKO_LISTEN").as_deref(), Some("0.0.0.0:9443"));
        assert_eq!(set(&t, "GKO_LOG_FORMAT").as_deref(), Some("text"));
        assert_eq!(set(&t, "GKO_LOG").as_deref(), Some("error"));
        assert_eq!(set(&t, "GKO_DRIFT_INTERVAL").as_deref(), Some("0"));
        assert_eq!(
            set(&t, "GKO_APIM_CA_FILE").as_deref(),
            Some("/etc/ca/ca.pem")
        );
        assert_eq!(t.outcomes.len(), 10);
    }

    #[test]
    fn gko_own_variable_wins() {
        let t = translate(&env(&[("LOGS_FORMAT", "json"), ("GKO_LOG_FORMAT", "text")]));
        assert_eq!(set(&t, "GKO_LOG_FORMAT"), None);
        assert_eq!(
            t.outcomes,
            vec![Outcome::Shadowed {
                gko_name: "LOGS_FORMAT",
                var: "GKO_LOG_FORMAT"
            }]
        );
    }

    #[test]
    fn bad_values_are_left_out_and_said() {
        let t = translate(&env(&[
            ("HTTP_CLIENT_TIMEOUT_SECONDS", "ten"),
            ("PROBES_PORT", "0"),
            ("LOGS_LEVEL", "verbose"),
        ]));
        assert!(t.set.is_empty());
        assert_eq!(t.outcomes.len(), 3);
        assert!(t
            .outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Invalid { .. })));
    }

    #[test]
    fn defaults_and_unsupported_set_nothing() {
        let t = translate(&env(&[
            ("ENABLE_DRIFT_DETECTION", "true"),
            ("NAMESPACE", ""),
            ("ENABLE_INGRESS", "true"),
            ("SOMETHING_ELSE", "x"),
        ]));
        assert!(t.set.is_empty());
        assert_eq!(
            t.outcomes,
            vec![
                Outcome::Default {
                    gko_name: "NAMESPACE"
                },
                Outcome::Default {
                    gko_name: "ENABLE_DRIFT_DETECTION"
                },
                Outcome::Unsupported {
                    gko_name: "ENABLE_INGRESS",
                    why: "gko has no Ingress controller"
                },
            ]
        );
    }

    #[test]
    fn webhook_configuration_names_fill_one_list() {
        let one = translate(&env(&[("WEBHOOK_MUTATING_CONFIGURATION_NAME", "gko-m")]));
        assert_eq!(
            set(&one, "GKO_WEBHOOK_CONFIGS").as_deref(),
            Some("gko-validating,gko-m")
        );
        let both = translate(&env(&[
            ("WEBHOOK_MUTATING_CONFIGURATION_NAME", "m"),
            ("WEBHOOK_VALIDATING_CONFIGURATION_NAME", "v"),
        ]));
        assert_eq!(set(&both, "GKO_WEBHOOK_CONFIGS").as_deref(), Some("v,m"));
    }

    #[test]
    fn every_target_is_a_serve_flag_with_that_env_var() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let serve = cli.find_subcommand("serve").cloned();
        let args: Vec<clap::Arg> = serve
            .iter()
            .flat_map(|s| s.get_arguments().cloned().collect::<Vec<_>>())
            .chain(cli.get_arguments().cloned())
            .collect();
        for gko in GKO_VARS {
            if let Equivalent::Env { var, flag, .. } = gko.gko {
                let arg = args
                    .iter()
                    .find(|a| a.get_long().map(|l| format!("--{l}")).as_deref() == Some(flag));
                let arg_env = arg
                    .and_then(|a| a.get_env())
                    .map(|e| e.to_string_lossy().into_owned());
                assert_eq!(arg_env.as_deref(), Some(var), "{}: {flag}", gko.name);
            }
        }
    }
}
