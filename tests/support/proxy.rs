//! A small HTTP proxy in front of a real API server, with fault modes: pass requests through, answer
//! every request 503, or stall (accept the request and never answer). The proxy authenticates to the
//! API server itself (with the kube client it is given); the client under test talks plain HTTP to it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass = 0,
    Unavailable = 1,
    Stall = 2,
}

/// Requests the proxy saw, by what it did with them.
#[derive(Default, Debug)]
pub struct Counts {
    pub passed: AtomicU64,
    pub unavailable: AtomicU64,
    pub stalled: AtomicU64,
    pub watches: AtomicU64,
}

pub struct Proxy {
    pub url: String,
    mode: Arc<AtomicU8>,
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Starts the proxy on a free loopback port, forwarding through `upstream`.
    pub async fn start(upstream: kube::Client) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let counts = Arc::new(Counts::default());
        let (m, c) = (mode.clone(), counts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (upstream, mode, counts) = (upstream.clone(), m.clone(), c.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        forward(upstream.clone(), mode.clone(), counts.clone(), req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Proxy {
            url,
            mode,
            counts,
            task,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// A kube client config pointing at the proxy.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url.parse().expect("proxy url"))
    }
}

type Answer = hyper::Response<axum::body::Body>;

async fn forward(
    upstream: kube::Client,
    mode: Arc<AtomicU8>,
    counts: Arc<Counts>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<Answer, Infallible> {
    let is_watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
    match mode.load(Ordering::SeqCst) {
        1 => {
            counts.unavailable.fetch_add(1, Ordering::SeqCst);
            let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"proxy: unavailable","reason":"ServiceUnavailable","code":503}"#;
            return Ok(hyper::Response::builder()
                .status(503)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(status))
                .unwrap_or_default());
        }
        2 => {
            counts.stalled.fetch_add(1, Ordering::SeqCst);
            futures::future::pending::<()>().await;
        }
        _ => {}
    }
    counts.passed.fetch_add(1, Ordering::SeqCst);
    if is_watch {
        counts.watches.fetch_add(1, Ordering::SeqCst);
    }
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut builder = http::Request::builder()
        .method(parts.method)
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in &parts.headers {
        if name != http::header::HOST && name != http::header::AUTHORIZATION {
            builder = builder.header(name, value);
        }
    }
    let Ok(request) = builder.body(kube::client::Body::from(bytes.to_vec())) else {
        return Ok(bad_gateway("cannot rebuild the request"));
    };
    match upstream.send(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Ok(hyper::Response::from_parts(
                parts,
                axum::body::Body::new(body),
            ))
        }
        Err(e) => Ok(bad_gateway(&e.to_string())),
    }
}

fn bad_gateway(message: &str) -> Answer {
    hyper::Response::builder()
        .status(502)
        .body(axum::body::Body::from(message.to_owned()))
        .unwrap_or_default()
}
