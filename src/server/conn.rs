//! The webhook port's connections, bounded: how many are open, how long a client may take to send
//! its request headers, how long a connection may sit idle, how many reviews run at once, and HTTP/2
//! stream and keep-alive limits.
//!
//! The limits are chosen so that the API server's own connection reuse is never hurt: it keeps idle
//! webhook connections for 90 s (Go's `IdleConnTimeout` in the apiserver's transport), so gko's idle
//! timeout is longer and the API server always closes first. The header timeout applies to a new
//! connection (TLS handshake to first request complete) and, on HTTP/1.1, from the first byte of a
//! next request: an idle keep-alive connection is bounded by the idle timeout only.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::telemetry::{Metrics, ReasonLabel};

/// The webhook server's limits (flags `--header-read-timeout`, `--idle-timeout`, `--max-connections`,
/// `--max-in-flight`, `--h2-max-streams`, `--h2-keep-alive`; the request timeout is `--webhook-timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: u32,
    pub max_in_flight: u32,
    pub h2_max_streams: u32,
    pub h2_keep_alive: Duration,
    /// Time to read one request's body and answer it; the API server has given up by then.
    pub request_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            max_in_flight: 256,
            h2_max_streams: 128,
            h2_keep_alive: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Why gko closed a connection (metric label `reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    ConnectionLimit,
    TlsHandshake,
    HeaderTimeout,
    IdleTimeout,
}

impl Closed {
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::ConnectionLimit => "connection_limit",
            Closed::TlsHandshake => "tls_handshake",
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
        }
    }
}

const NONE: u64 = u64::MAX;

/// What one connection is doing, shared by its IO, its service and its watchdog. Times are
/// milliseconds since the connection was accepted.
struct Activity {
    accepted: Instant,
    in_flight: AtomicU32,
    served: AtomicU64,
    idle_since: AtomicU64,
    /// When the bytes of a next request started arriving on an idle HTTP/1.1 connection.
    head_since: AtomicU64,
    changed: Notify,
}

impl Activity {
    fn new(accepted: Instant) -> Self {
        Activity {
            accepted,
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            changed: Notify::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(NONE, Ordering::SeqCst);
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    fn bytes_read(&self) {
        if self.served.load(Ordering::SeqCst) > 0
            && self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_since.load(Ordering::SeqCst) == NONE
        {
            self.head_since.store(self.now(), Ordering::SeqCst);
            self.changed.notify_one();
        }
    }
}

struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let a = &self.0;
        a.served.fetch_add(1, Ordering::SeqCst);
        a.idle_since.store(a.now(), Ordering::SeqCst);
        a.in_flight.fetch_sub(1, Ordering::SeqCst);
        a.changed.notify_one();
    }
}

/// When the connection must be closed, and why: `None` while a request is in flight (it has its
/// own timeout). A pure function of the connection's state.
fn deadline(
    in_flight: u32,
    served: u64,
    idle_since: u64,
    head_since: u64,
    limits: &ServerLimits,
) -> Option<(u64, Closed)> {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE / 2);
    if in_flight > 0 {
        None
    } else if served == 0 {
        Some((ms(limits.header_read_timeout), Closed::HeaderTimeout))
    } else if head_since != NONE {
        Some((
            head_since.saturating_add(ms(limits.header_read_timeout)),
            Closed::HeaderTimeout,
        ))
    } else {
        Some((
            idle_since.saturating_add(ms(limits.idle_timeout)),
            Closed::IdleTimeout,
        ))
    }
}

/// Returns when the connection overstayed: a request too slow to arrive, or idle too long.
async fn watchdog(activity: Arc<Activity>, limits: ServerLimits) -> Closed {
    loop {
        let due = deadline(
            activity.in_flight.load(Ordering::SeqCst),
            activity.served.load(Ordering::SeqCst),
            activity.idle_since.load(Ordering::SeqCst),
            activity.head_since.load(Ordering::SeqCst),
            &limits,
        );
        match due {
            None => activity.changed.notified().await,
            Some((at, why)) => {
                let now = activity.now();
                if now >= at {
                    return why;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(at - now)) => {}
                    _ = activity.changed.notified() => {}
                }
            }
        }
    }
}

/// The TLS stream, telling the activity when bytes arrive (HTTP/1.1 only: on HTTP/2 the API server's
/// keep-alive PINGs arrive on idle connections too).
struct Watched<S> {
    inner: S,
    activity: Option<Arc<Activity>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            if let Some(a) = &self.activity {
                a.bytes_read();
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

fn count(metrics: &Metrics, why: Closed) {
    metrics
        .webhook_connections_closed
        .get_or_create(&ReasonLabel {
            reason: why.as_str().into(),
        })
        .inc();
}

fn refuse(
    metrics: &Metrics,
    status: StatusCode,
    reason: &'static str,
    message: String,
) -> Response {
    metrics
        .webhook_requests_refused
        .get_or_create(&ReasonLabel {
            reason: reason.into(),
        })
        .inc();
    tracing::warn!(reason, "{message}");
    (status, [(header::RETRY_AFTER, "1")], message).into_response()
}

/// Serves `router` over TLS on `listener` within `limits` until `stop` is cancelled, then stops
/// accepting, lets in-flight requests finish for at most `drain`, and returns.
pub async fn serve_tls_bounded(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    stop: CancellationToken,
    drain: Duration,
    limits: ServerLimits,
    metrics: Arc<Metrics>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = Arc::new(Semaphore::new(limits.max_connections as usize));
    let in_flight = Arc::new(Semaphore::new(limits.max_in_flight as usize));
    let tasks = TaskTracker::new();
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
        let accepted = Instant::now();
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Closed at once (not queued): the API server opens another connection or reuses one.
            drop(tcp);
            count(&metrics, Closed::ConnectionLimit);
            tracing::debug!(%peer, max = limits.max_connections, "connection limit reached: closed");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let conn = Connection {
            acceptor: acceptor.clone(),
            router: router.clone(),
            in_flight: in_flight.clone(),
            metrics: metrics.clone(),
            limits,
            stop: stop.clone(),
        };
        tasks.spawn(async move {
            conn.run(tcp, peer, accepted).await;
            drop(permit);
        });
    }
    drop(listener);
    tasks.close();
    tokio::select! {
        _ = tasks.wait() => tracing::info!("in-flight reviews finished"),
        _ = tokio::time::sleep(drain) => tracing::warn!(?drain, "gave up waiting for in-flight reviews"),
    }
}

struct Connection {
    acceptor: TlsAcceptor,
    router: Router,
    in_flight: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    limits: ServerLimits,
    stop: CancellationToken,
}

impl Connection {
    async fn run(self, tcp: tokio::net::TcpStream, peer: std::net::SocketAddr, accepted: Instant) {
        let handshake = self.acceptor.accept(tcp);
        let tls = match tokio::time::timeout(self.limits.header_read_timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                count(&self.metrics, Closed::TlsHandshake);
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let activity = Arc::new(Activity::new(accepted));
        let io = TokioIo::new(Watched {
            inner: tls,
            activity: (!h2).then(|| activity.clone()),
        });
        let Connection {
            router,
            in_flight,
            metrics,
            limits,
            stop,
            ..
        } = self;
        let requests = activity.clone();
        let service_metrics = metrics.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let guard = requests.begin();
                let router = router.clone();
                let permit = in_flight.clone().try_acquire_owned();
                let metrics = service_metrics.clone();
                async move {
                    let _guard = guard;
                    let Ok(_permit) = permit else {
                        return Ok::<_, std::convert::Infallible>(refuse(
                            &metrics,
                            StatusCode::TOO_MANY_REQUESTS,
                            "in_flight_limit",
                            format!(
                                "gko is answering {} reviews already; retry",
                                limits.max_in_flight
                            ),
                        ));
                    };
                    let answer = router.oneshot(req);
                    match tokio::time::timeout(limits.request_timeout, answer).await {
                        Ok(Ok(response)) => Ok(response),
                        Ok(Err(never)) => match never {},
                        Err(_) => Ok(refuse(
                            &metrics,
                            StatusCode::SERVICE_UNAVAILABLE,
                            "request_timeout",
                            format!(
                                "the request was not read and answered within {}ms",
                                limits.request_timeout.as_millis()
                            ),
                        )),
                    }
                }
            });
        let dog = watchdog(activity, limits);
        if h2 {
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder
                .timer(TokioTimer::new())
                .max_concurrent_streams(limits.h2_max_streams)
                .keep_alive_interval(limits.h2_keep_alive)
                .keep_alive_timeout(limits.h2_keep_alive);
            drive(
                builder.serve_connection(io, service),
                dog,
                &stop,
                &metrics,
                peer,
            )
            .await;
        } else {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.keep_alive(true);
            drive(
                builder.serve_connection(io, service),
                dog,
                &stop,
                &metrics,
                peer,
            )
            .await;
        }
    }
}

/// Runs a connection until it ends, its watchdog fires, or `stop` asks for a graceful end.
async fn drive<C>(
    conn: C,
    dog: impl std::future::Future<Output = Closed>,
    stop: &CancellationToken,
    metrics: &Metrics,
    peer: std::net::SocketAddr,
) where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    tokio::pin!(dog);
    let why = tokio::select! {
        ended = conn.as_mut() => {
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            return;
        }
        _ = stop.cancelled() => None,
        why = &mut dog => Some(why),
    };
    if let Some(why) = why {
        count(metrics, why);
        tracing::debug!(%peer, reason = why.as_str(), "closing the connection");
        if why == Closed::HeaderTimeout {
            return;
        }
    }
    // Idle or shutting down: a graceful end (HTTP/2 GOAWAY, in-flight requests finish).
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection closed with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_has_the_header_timeout_to_send_its_first_request() {
        let l = ServerLimits::default();
        assert_eq!(
            deadline(0, 0, 0, NONE, &l),
            Some((10_000, Closed::HeaderTimeout))
        );
        assert_eq!(deadline(1, 0, 0, NONE, &l), None);
    }

    #[test]
    fn an_idle_connection_has_the_idle_timeout_until_bytes_arrive() {
        let l = ServerLimits::default();
        assert_eq!(
            deadline(0, 3, 5_000, NONE, &l),
            Some((125_000, Closed::IdleTimeout))
        );
        assert_eq!(
            deadline(0, 3, 5_000, 60_000, &l),
            Some((70_000, Closed::HeaderTimeout))
        );
        assert_eq!(deadline(2, 3, 5_000, NONE, &l), None);
    }
}
