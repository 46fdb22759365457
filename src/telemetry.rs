//! Logs (`tracing`, text or JSON) and Prometheus metrics.

use std::borrow::Cow;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Log line format (`--log-format`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global tracing subscriber. Safe to call more than once (later calls do nothing).
pub fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Labels of a review or a reconcile. Values are static strings on the request path (no allocation
/// per request), and never copied from a request: an unknown kind or operation is `unknown`, so no
/// client can grow the label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub webhook: Cow<'static, str>,
    pub kind: Cow<'static, str>,
    pub operation: Cow<'static, str>,
    pub outcome: Cow<'static, str>,
}

/// Labels of a violation counted by the validating webhook: the rule id and the effect (`deny`,
/// `warn`), both static strings from the engine's rule registry, never copied from a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RuleLabels {
    pub rule: Cow<'static, str>,
    pub effect: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabel {
    pub webhook: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// Every metric gko exports, registered in one registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub reviews: Family<ReviewLabels, Counter>,
    pub review_seconds: Family<WebhookLabel, Histogram>,
    pub bad_requests: Family<ReasonLabel, Counter>,
    pub(crate) violations: Family<RuleLabels, Counter>,
    pub cache_objects: Family<KindLabel, Gauge>,
    pub tls_reloads: Counter,
    pub reconciles: Family<ReviewLabels, Counter>,
    pub reconcile_seconds: Family<KindLabel, Histogram>,
    pub apim_calls: Family<ReasonLabel, Counter>,
    pub review_budget_exceeded: Family<StageLabel, Counter>,
    pub webhook_connections_closed: Family<ReasonLabel, Counter>,
    pub webhook_requests_refused: Family<ReasonLabel, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gko");
        let reviews = Family::<ReviewLabels, Counter>::default();
        let review_seconds = Family::<WebhookLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let bad_requests = Family::<ReasonLabel, Counter>::default();
        let violations = Family::<RuleLabels, Counter>::default();
        let cache_objects = Family::<KindLabel, Gauge>::default();
        let tls_reloads = Counter::default();
        let reconciles = Family::<ReviewLabels, Counter>::default();
        let reconcile_seconds = Family::<KindLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let apim_calls = Family::<ReasonLabel, Counter>::default();
        let review_budget_exceeded = Family::<StageLabel, Counter>::default();
        let webhook_connections_closed = Family::<ReasonLabel, Counter>::default();
        let webhook_requests_refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "admission_review_budget_exceeded",
            "Reviews that ran out of their time budget, by stage (resolve, dry_run)",
            review_budget_exceeded.clone(),
        );
        registry.register(
            "webhook_connections_closed",
            "Webhook connections gko closed, by reason (connection_limit, tls_handshake, header_timeout, idle_timeout)",
            webhook_connections_closed.clone(),
        );
        registry.register(
            "webhook_requests_refused",
            "Webhook requests answered at once without a review, by reason (in_flight_limit, request_timeout)",
            webhook_requests_refused.clone(),
        );
        registry.register(
            "admission_reviews",
            "Admission reviews answered, by webhook, kind, operation and outcome",
            reviews.clone(),
        );
        registry.register(
            "admission_review_duration_seconds",
            "Time to answer an admission review",
            review_seconds.clone(),
        );
        registry.register(
            "admission_bad_requests",
            "Requests that were not a readable AdmissionReview",
            bad_requests.clone(),
        );
        registry.register(
            "admission_violations",
            "Violations and warnings raised by the validating webhook, by rule id and effect",
            violations.clone(),
        );
        registry.register(
            "cache_objects",
            "Objects in the watch caches, by kind",
            cache_objects.clone(),
        );
        registry.register(
            "tls_reloads",
            "Serving certificate reloads",
            tls_reloads.clone(),
        );
        registry.register(
            "reconciles",
            "Reconciliations, by kind and outcome",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconciliation",
            reconcile_seconds.clone(),
        );
        registry.register(
            "apim_calls",
            "Management API calls, by result",
            apim_calls.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            reviews,
            review_seconds,
            bad_requests,
            violations,
            cache_objects,
            tls_reloads,
            reconciles,
            reconcile_seconds,
            apim_calls,
            review_budget_exceeded,
            webhook_connections_closed,
            webhook_requests_refused,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            if encode(&mut out, &registry).is_err() {
                out.clear();
            }
        }
        out
    }

    /// Counts one violation (`effect` `deny`) or warning (`warn`) raised by `rule`.
    pub(crate) fn count_violation(&self, rule: &'static str, effect: &'static str) {
        self.violations
            .get_or_create(&RuleLabels {
                rule: Cow::Borrowed(rule),
                effect: Cow::Borrowed(effect),
            })
            .inc();
    }

    pub fn set_cache_size(&self, kind: &str, size: usize) {
        self.cache_objects
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .set(i64::try_from(size).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.reviews
            .get_or_create(&ReviewLabels {
                webhook: "validate".into(),
                kind: "ApiDefinition".into(),
                operation: "CREATE".into(),
                outcome: "denied".into(),
            })
            .inc();
        m.review_seconds
            .get_or_create(&WebhookLabel {
                webhook: "validate".into(),
            })
            .observe(0.002);
        m.set_cache_size("ApiDefinition", 3);
        m.count_violation("api-plans-missing", "deny");
        m.count_violation("api-plans-missing", "deny");
        let text = m.render();
        assert!(
            text.contains(
                "gko_admission_violations_total{rule=\"api-plans-missing\",effect=\"deny\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "gko_admission_reviews_total{webhook=\"validate\",kind=\"ApiDefinition\",operation=\"CREATE\",outcome=\"denied\"} 1"
        ), "{text}");
        assert!(
            text.contains("gko_admission_review_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("gko_cache_objects{kind=\"ApiDefinition\"} 3"),
            "{text}"
        );
    }
}
