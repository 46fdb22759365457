//! The HTTPS webhook server (`/validate`, `/mutate`) and the plain-HTTP probe server (`/healthz`,
//! `/readyz`, `/metrics`).

mod conn;

pub use conn::{serve_tls_bounded, Closed, ServerLimits};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admission::dry_run::ApimDryRun;
use crate::admission::lookup::Resolver;
use crate::admission::review::{self, Reviewed};
use crate::admission::{Engine, Operation};
use crate::crd::Kind;
use crate::telemetry::{Metrics, ReasonLabel, ReviewLabels, StageLabel, WebhookLabel};

/// Largest AdmissionReview accepted (the API server's own limit is 3 MiB per object).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// What the handlers share.
pub struct AppState {
    pub engine: Engine,
    pub resolver: Arc<dyn Resolver>,
    pub metrics: Arc<Metrics>,
    /// Set once a serving certificate is loaded.
    pub tls_ready: AtomicBool,
    /// APIM dry run of admitted ApiDefinitions (`--apim-dry-run`), when enabled.
    pub dry_run: Option<Arc<dyn ApimDryRun>>,
    /// Time budget of one review (live reads and dry run included), from `--webhook-timeout`.
    pub budget: Duration,
}

/// The review budget for the default `--webhook-timeout` (5s).
pub fn default_budget() -> Duration {
    crate::admission::budget::budget_for(Duration::from_secs(5))
}

impl AppState {
    pub fn new(engine: Engine, resolver: Arc<dyn Resolver>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(AppState {
            engine,
            resolver,
            metrics,
            tls_ready: AtomicBool::new(false),
            dry_run: None,
            budget: default_budget(),
        })
    }

    /// Like [`AppState::new`], with an APIM dry run in the validating webhook.
    pub fn with_dry_run(
        engine: Engine,
        resolver: Arc<dyn Resolver>,
        metrics: Arc<Metrics>,
        dry_run: Option<Arc<dyn ApimDryRun>>,
    ) -> Arc<Self> {
        Self::with_budget(engine, resolver, metrics, dry_run, default_budget())
    }

    /// Like [`AppState::with_dry_run`], with the review budget.
    pub fn with_budget(
        engine: Engine,
        resolver: Arc<dyn Resolver>,
        metrics: Arc<Metrics>,
        dry_run: Option<Arc<dyn ApimDryRun>>,
        budget: Duration,
    ) -> Arc<Self> {
        Arc::new(AppState {
            engine,
            resolver,
            metrics,
            tls_ready: AtomicBool::new(false),
            dry_run,
            budget,
        })
    }

    pub fn is_ready(&self) -> bool {
        self.tls_ready.load(Ordering::SeqCst) && self.resolver.is_ready()
    }
}

/// `POST /validate` and `POST /mutate`.
pub fn webhook_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// `GET /healthz`, `/readyz`, `/metrics`.
pub fn probe_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        let tls = state.tls_ready.load(Ordering::SeqCst);
        let caches = state.resolver.is_ready();
        let why = format!("not ready: tls loaded={tls}, caches synced={caches}");
        (StatusCode::SERVICE_UNAVAILABLE, why).into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    for (kind, size) in state.resolver.cache_sizes() {
        state.metrics.set_cache_size(kind, size);
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn bad_request(state: &AppState, webhook: &'static str, e: &review::BadReview) -> Response {
    let reason = match e {
        review::BadReview::NotJson(_) => "not_json",
        review::BadReview::NotAReview(_) => "not_a_review",
    };
    state
        .metrics
        .bad_requests
        .get_or_create(&ReasonLabel {
            reason: reason.into(),
        })
        .inc();
    tracing::warn!(webhook, error = %e, "rejected a request that is not an AdmissionReview");
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

fn answer(state: &AppState, webhook: &'static str, started: Instant, out: Reviewed) -> Response {
    if let Some(stage) = out.out_of_budget {
        state
            .metrics
            .review_budget_exceeded
            .get_or_create(&StageLabel {
                stage: stage.as_str().into(),
            })
            .inc();
        tracing::warn!(webhook, uid = %out.uid, stage = stage.as_str(), budget_ms = u64::try_from(state.budget.as_millis()).unwrap_or(u64::MAX), "review ran out of its budget");
    }
    state
        .metrics
        .reviews
        .get_or_create(&ReviewLabels {
            webhook: webhook.into(),
            kind: Kind::from_kind(&out.kind)
                .map_or("unknown", Kind::as_str)
                .into(),
            operation: Operation::parse(&out.operation)
                .map_or("unknown", Operation::as_str)
                .into(),
            outcome: out.outcome.as_str().into(),
        })
        .inc();
    state
        .metrics
        .review_seconds
        .get_or_create(&WebhookLabel {
            webhook: webhook.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    for (rule, effect) in &out.raised {
        state.metrics.count_violation(rule, effect.as_str());
    }
    match out.outcome {
        review::Outcome::Error => {
            tracing::error!(webhook, uid = %out.uid, kind = %out.kind, operation = %out.operation, response = %out.body, "could not review")
        }
        outcome => {
            tracing::debug!(webhook, uid = %out.uid, kind = %out.kind, operation = %out.operation, outcome = outcome.as_str(), "reviewed")
        }
    }
    Json(out.body).into_response()
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let started = Instant::now();
    let req = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&state, "validate", &e),
    };
    let out = review::validate(
        &req,
        &state.engine,
        state.resolver.as_ref(),
        state.dry_run.as_deref(),
        state.budget,
    )
    .await;
    answer(&state, "validate", started, out)
}

async fn mutate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let started = Instant::now();
    let req = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&state, "mutate", &e),
    };
    let out = review::mutate_with(&req, state.resolver.as_ref(), state.budget).await;
    answer(&state, "mutate", started, out)
}

/// Serves `router` over TLS on `listener` until `stop` is cancelled, then stops accepting, lets
/// in-flight requests finish for at most `drain`, and returns. Default [`ServerLimits`]; see
/// [`serve_tls_bounded`].
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let metrics = Arc::new(Metrics::new());
    serve_tls_bounded(
        listener,
        tls,
        router,
        stop,
        drain,
        ServerLimits::default(),
        metrics,
    )
    .await
}

/// Serves the probe router over plain HTTP until `stop` is cancelled.
pub async fn serve_plain(listener: TcpListener, router: Router, stop: CancellationToken) {
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "probe server failed");
    }
}

/// Binds a TCP listener, with the address in the error.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
