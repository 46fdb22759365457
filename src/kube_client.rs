//! The one Kubernetes client gko builds (`gko serve`, `--manage-certs`): explicit timeouts and a
//! bounded retry policy instead of kube's defaults.
//!
//! kube 5's default client retries 429/503/504 up to 15 times with delays doubling to 1000 s and has
//! no read timeout: a review waiting on a live read under a 503 storm was answered after minutes. Here:
//!
//! - connect timeout, and write timeout on the socket;
//! - every request that is not a watch must have its response headers within the request timeout
//!   (a tower layer, because a socket read timeout would also cut idle watches: the connection
//!   pool hands the same connections to both). Watches are excepted: kube-runtime's watcher asks the
//!   API server to end each watch after 290 s and drops a watch silent for 295 s itself; the socket
//!   read timeout here (300 s) is only the last resort for a dead connection of any kind;
//! - retries of 429/503/504 only, at most [`ClientSettings::retries`] times, with jittered delays from
//!   50 ms capped at 500 ms (under one second in all), ignoring `Retry-After`: the caller (a review,
//!   a Lease renewal) has a deadline of its own and decides what a failure means.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use kube::client::retry::RetryPolicy;
use kube::client::{Body, ClientBuilder};
use kube::{Client, Config};
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;
use tower::{BoxError, Layer, Service};

/// Socket read timeout: above the watcher's own idle bound (290 s server-side end + 5 s).
pub const SOCKET_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// First retry delay; each next one doubles, with jitter, up to [`RETRY_MAX_DELAY`].
pub const RETRY_MIN_DELAY: Duration = Duration::from_millis(50);
pub const RETRY_MAX_DELAY: Duration = Duration::from_millis(500);

/// Timeouts and retries of the client (from `--kube-timeout`, `--kube-retries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Time for the response headers of one request (not a watch); also the connect and write timeout
    /// when shorter than 5 s.
    pub request_timeout: Duration,
    /// Retries of a 429/503/504 answer.
    pub retries: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            request_timeout: Duration::from_secs(10),
            retries: 3,
        }
    }
}

impl ClientSettings {
    pub fn connect_timeout(&self) -> Duration {
        self.request_timeout.min(Duration::from_secs(5))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    #[error("{0}")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("{0}")]
    Build(#[from] kube::Error),
    #[error("invalid retry settings: {0}")]
    Retry(String),
}

/// The client for the cluster gko runs against (`KUBECONFIG`, else in-cluster), with `settings`.
pub async fn infer(settings: ClientSettings) -> Result<Client, KubeClientError> {
    let config = Config::infer().await?;
    build(config, settings)
}

/// A client for `config`, its timeouts and retries replaced by `settings`.
pub fn build(mut config: Config, settings: ClientSettings) -> Result<Client, KubeClientError> {
    config.connect_timeout = Some(settings.connect_timeout());
    config.write_timeout = Some(settings.request_timeout);
    config.read_timeout = Some(SOCKET_READ_TIMEOUT);
    // A pooled connection's idle time must not count against the read timeout of its next request.
    config.reset_reader_on_write = true;
    // kube's own retry layer (15 attempts, up to 1000 s apart) is replaced by the bounded one below.
    config.default_retry = false;
    let retry = RetryPolicy::new(RETRY_MIN_DELAY, RETRY_MAX_DELAY, settings.retries, false)
        .map_err(|e| KubeClientError::Retry(e.to_string()))?;
    // The retry wraps the deadline, so each attempt has its own deadline. Retrying needs a service it
    // can clone: kube's stack is boxed, so a buffer (a channel to one task, as in kube's own Client)
    // sits between.
    Ok(ClientBuilder::try_from(config)?
        .with_layer(&RequestDeadlineLayer(settings.request_timeout))
        .with_layer(&BufferLayer::new(1024))
        .with_layer(&RetryLayer::new(retry))
        .build())
}

/// Whether a request is a watch (`?watch=true`, or `watch=1`): those stream for minutes.
pub fn is_watch(uri: &http::Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair, "watch=true" | "watch=1"))
    })
}

/// A request got no response headers within the deadline.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {}ms", .0.as_millis())]
pub struct DeadlineExceeded(pub Duration);

/// Bounds the time to the response headers of every request that is not a watch.
#[derive(Clone, Copy, Debug)]
pub struct RequestDeadlineLayer(pub Duration);

impl<S> Layer<S> for RequestDeadlineLayer {
    type Service = RequestDeadline<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestDeadline {
            inner,
            deadline: self.0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RequestDeadline<S> {
    inner: S,
    deadline: Duration,
}

type BoxFut<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S> Service<http::Request<Body>> for RequestDeadline<S>
where
    S: Service<http::Request<Body>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFut<S::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let bounded = !is_watch(req.uri());
        let deadline = self.deadline;
        let fut = self.inner.call(req);
        Box::pin(async move {
            if !bounded {
                return fut.await.map_err(Into::into);
            }
            match tokio::time::timeout(deadline, fut).await {
                Ok(result) => result.map_err(Into::into),
                Err(_) => Err(Box::new(DeadlineExceeded(deadline)) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_are_recognised_by_their_query() {
        let watch: http::Uri = "/api/v1/secrets?watch=true&timeoutSeconds=290&resourceVersion=1"
            .parse()
            .unwrap_or_default();
        let list: http::Uri = "/api/v1/secrets?limit=500".parse().unwrap_or_default();
        let named: http::Uri = "/api/v1/namespaces/watch/secrets/watch=true"
            .parse()
            .unwrap_or_default();
        assert!(is_watch(&watch));
        assert!(!is_watch(&list));
        assert!(!is_watch(&named));
    }

    #[test]
    fn the_connect_timeout_is_at_most_five_seconds() {
        let s = ClientSettings::default();
        assert_eq!(s.connect_timeout(), Duration::from_secs(5));
        let short = ClientSettings {
            request_timeout: Duration::from_secs(2),
            retries: 0,
        };
        assert_eq!(short.connect_timeout(), Duration::from_secs(2));
    }
}
