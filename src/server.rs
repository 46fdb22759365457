//! The HTTPS webhook server (`/validate`, `/mutate`) and the plain-HTTP probe server (`/healthz`,
//! `/readyz`, `/metrics`).

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
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::admission::dry_run::ApimDryRun;
use crate::admission::review::{self, Reviewed};
use crate::admission::{Engine, Operation};
use crate::crd::Kind;
use crate::resolve::Resolver;
use crate::telemetry::{Metrics, ReasonLabel, ReviewLabels, WebhookLabel};

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
}

impl AppState {
    pub fn new(engine: Engine, resolver: Arc<dyn Resolver>, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(AppState {
            engine,
            resolver,
            metrics,
            tls_ready: AtomicBool::new(false),
            dry_run: None,
        })
    }

    /// Like [`AppState::new`], with an APIM dry run in the validating webhook.
    pub fn with_dry_run(
        engine: Engine,
        resolver: Arc<dyn Resolver>,
        metrics: Arc<Metrics>,
        dry_run: Option<Arc<dyn ApimDryRun>>,
    ) -> Arc<Self> {
        Arc::new(AppState {
            engine,
            resolver,
            metrics,
            tls_ready: AtomicBool::new(false),
            dry_run,
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
    if let Some(sizes) = state.resolver.cache_sizes() {
        state
            .metrics
            .set_cache_size("ManagementContext", sizes.contexts);
        state.metrics.set_cache_size("ApiResource", sizes.resources);
        state.metrics.set_cache_size("ApiDefinition", sizes.apis);
        state.metrics.set_cache_size("Secret", sizes.secrets);
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
    let out = review::mutate(&req);
    answer(&state, "mutate", started, out)
}

/// Serves `router` over TLS on `listener` until `stop` is cancelled, then stops accepting, lets
/// in-flight requests finish for at most `drain`, and returns.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls_stream =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    router.clone().oneshot(req)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("in-flight reviews finished"),
        _ = tokio::time::sleep(drain) => tracing::warn!(?drain, "gave up waiting for in-flight reviews"),
    }
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
