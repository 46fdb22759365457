//! In-process stand-in of the APIM Management API, for tests and benches.
//!
//! ```ignore
//! let apim = ApimStandIn::start(StandInConfig::v4()).await;   // or ::v3(), .environment(org, env), .basic(u, p)
//! let target = apim.target("DEFAULT", "DEFAULT");             // gko Target with the configured credentials
//! apim.fail_next(2, 503);                                     // faults: fail_next, fail_all, drop_next, set_latency
//! apim.api("DEFAULT", "DEFAULT", "cross-id");                 // stored state, edit_api for console edits
//! apim.calls(); apim.count("GET", "/v2/organizations/DEFAULT/environments/DEFAULT");
//! ```
//!
//! Serves HTTP/1.1 on `127.0.0.1:0` until dropped. State is per (organization, environment); ids are stable
//! (derived from crossIds). Order of checks for every call: record it, wait the latency, drop / injected
//! failure, authentication, then the route.
//!
//! Include from a bench with `#[path = "../tests/support/apim.rs"] mod apim;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use gko::apim::{Credentials, Target};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use uuid::Uuid;

#[path = "apim_v4.rs"]
mod v4;
#[allow(unused_imports)] // Each test binary uses a different part.
pub use v4::{listener_paths, v3};

/// Bearer token the default configuration accepts.
pub const TEST_TOKEN: &str = "test-token-5f1c";

/// Which Management API generation the stand-in plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `ENV2` and `import-crd` answer 404; `import`, `definition-context` and `deploy` work.
    V3,
    /// Everything works; `import-crd` deploys by itself.
    V4,
}

/// How the stand-in starts.
#[derive(Clone, Debug)]
pub struct StandInConfig {
    pub mode: Mode,
    pub path_prefix: String,
    /// Known (organization, environment) pairs; others answer 400 / 404.
    pub environments: Vec<(String, String)>,
    /// Accepted bearer token; `None` (with `basic` also `None`) disables authentication.
    pub bearer_token: Option<String>,
    /// Accepted basic (username, password).
    pub basic: Option<(String, String)>,
    /// Serve HTTPS with this configuration (ALPN forced to HTTP/1.1); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Serve the Automation API (APIM 4.8+); `false` plays an older 4.x (every `AUTO` call is 404).
    pub automation: bool,
    /// Prefix of the Automation API (`/automation`).
    pub automation_prefix: String,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            mode: Mode::V4,
            path_prefix: "/management".into(),
            environments: vec![("DEFAULT".into(), "DEFAULT".into())],
            bearer_token: Some(TEST_TOKEN.into()),
            basic: None,
            tls: None,
            automation: true,
            automation_prefix: "/automation".into(),
        }
    }
}

impl StandInConfig {
    pub fn v4() -> Self {
        Self::default()
    }
    pub fn v3() -> Self {
        StandInConfig {
            mode: Mode::V3,
            ..Self::default()
        }
    }
    /// Adds a known (organization, environment).
    pub fn environment(mut self, org: &str, env: &str) -> Self {
        self.environments.push((org.into(), env.into()));
        self
    }
    pub fn bearer(mut self, token: Option<&str>) -> Self {
        self.bearer_token = token.map(str::to_owned);
        self
    }
    pub fn basic(mut self, username: &str, password: &str) -> Self {
        self.basic = Some((username.into(), password.into()));
        self
    }
    /// Serve HTTPS with this server configuration (its certificate decides who trusts the stand-in).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        self.tls = Some(Arc::new(config));
        self
    }
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = prefix.into();
        self
    }
    /// Plays an APIM 4.x older than 4.8: no Automation API, v4 APIs only through `_import/crd`.
    pub fn without_automation(mut self) -> Self {
        self.automation = false;
        self
    }
}

/// How the call was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None,
    Bearer,
    Basic,
    Other,
}

/// One call as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Call {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: String,
    pub auth: AuthKind,
    /// Status answered; `None` while in flight or when the connection was dropped.
    pub status: Option<u16>,
    pub dropped: bool,
}

impl Call {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// An API as the stand-in stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredApi {
    pub id: String,
    pub cross_id: String,
    /// The last definition body imported (or as edited in the "console").
    pub definition: Value,
    /// `STARTED` or `STOPPED`.
    pub state: String,
    /// planCrossId (or plan name when it has none) → planId, for the plans of the last definition.
    pub plans: BTreeMap<String, String>,
    pub deploy_count: u32,
    pub import_count: u32,
    pub definition_context: Option<Value>,
    /// `(host, /path/)` of each virtual host (v2) or HTTP listener path (v4), kept with the definition: the
    /// clash check of every import compares against every API of the environment, as APIM's indexed lookup
    /// would, without re-reading each definition.
    pub paths: Vec<(String, String)>,
    /// A v4 definition (imported through `AUTO` or `ENV2/_import/crd`).
    pub v4: bool,
    /// The hrid of a v4 API imported in HRID mode.
    pub hrid: Option<String>,
}

impl StoredApi {
    fn empty(id: &str, cross_id: &str) -> Self {
        StoredApi {
            id: id.to_owned(),
            cross_id: cross_id.to_owned(),
            definition: Value::Null,
            state: String::new(),
            plans: BTreeMap::new(),
            deploy_count: 0,
            import_count: 0,
            definition_context: None,
            paths: Vec::new(),
            v4: false,
            hrid: None,
        }
    }
}

/// `(host, /path/)` pairs of a stored definition, v2 or v4.
fn stored_paths(definition: &Value) -> Vec<(String, String)> {
    if definition.get("listeners").is_some() {
        listener_paths(definition)
    } else {
        virtual_paths(definition)
    }
}

#[derive(Default)]
struct Faults {
    latency: Duration,
    fail_next: u32,
    fail_next_status: u16,
    fail_all: Option<u16>,
    drop_next: u32,
}

enum Fault {
    Drop,
    Status(u16),
}

struct State {
    mode: Mode,
    path_prefix: String,
    environments: BTreeSet<(String, String)>,
    bearer_token: Option<String>,
    basic: Option<(String, String)>,
    automation: bool,
    automation_prefix: String,
    /// Categories of every environment; `None`: any category is accepted.
    categories: Option<BTreeSet<String>>,
    apis: HashMap<(String, String), BTreeMap<String, StoredApi>>,
    faults: Faults,
    calls: Vec<Call>,
    next_seq: u64,
    total_calls: u64,
    write_calls: u64,
    dropped_calls: u64,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running stand-in. Stops serving when dropped.
pub struct ApimStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    https: bool,
}

impl Drop for ApimStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for ApimStandIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApimStandIn")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct DroppedConnection;

impl fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DroppedConnection {}

impl ApimStandIn {
    /// Binds `127.0.0.1:0` and serves until dropped. Must run inside a tokio runtime.
    pub async fn start(config: StandInConfig) -> ApimStandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let tls = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                mode: config.mode,
                path_prefix: normalise_prefix(&config.path_prefix),
                environments: config.environments.into_iter().collect(),
                bearer_token: config.bearer_token,
                basic: config.basic,
                automation: config.automation,
                automation_prefix: normalise_prefix(&config.automation_prefix),
                categories: None,
                apis: HashMap::new(),
                faults: Faults::default(),
                calls: Vec::new(),
                next_seq: 0,
                total_calls: 0,
                write_calls: 0,
                dropped_calls: 0,
            }),
        });
        let server = shared.clone();
        let task = tokio::spawn(async move {
            // Connections live in the set, so aborting this task closes them all.
            let mut connections = JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                while connections.try_join_next().is_some() {}
                let shared = server.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    // A service error (dropped-connection fault) closes the connection without an answer.
                    match tls {
                        None => {
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                        Some(acceptor) => {
                            // A refused handshake (the client does not trust us) ends here.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                    }
                });
            }
        });
        ApimStandIn {
            addr,
            shared,
            task,
            https: config.tls.is_some(),
        }
    }

    pub async fn start_v4() -> ApimStandIn {
        Self::start(StandInConfig::v4()).await
    }

    pub async fn start_v3() -> ApimStandIn {
        Self::start(StandInConfig::v3()).await
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS; no prefix: that is the Target's business).
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A Target for (org, env) with the configured credentials (bearer if configured, else basic).
    pub fn target(&self, org: &str, env: &str) -> Target {
        let credentials = {
            let st = self.shared.lock();
            Credentials::from_parts(
                st.bearer_token.clone(),
                st.basic.as_ref().map(|b| b.0.clone()),
                st.basic.as_ref().map(|b| b.1.clone()),
            )
            .unwrap_or_else(|_| Credentials::Bearer("anonymous".into()))
        };
        self.target_with(org, env, credentials)
    }

    /// A Target for (org, env) with explicit credentials.
    pub fn target_with(&self, org: &str, env: &str, credentials: Credentials) -> Target {
        let prefix = self.shared.lock().path_prefix.clone();
        Target::new(&self.base_url(), org, env, credentials)
            .expect("stand-in target")
            .with_path_prefix(Some(&prefix))
    }

    /// `target("DEFAULT", "DEFAULT")`.
    pub fn default_target(&self) -> Target {
        self.target("DEFAULT", "DEFAULT")
    }

    // ----- configuration at runtime -----

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().mode = mode;
    }
    pub fn add_environment(&self, org: &str, env: &str) {
        self.shared
            .lock()
            .environments
            .insert((org.into(), env.into()));
    }
    pub fn set_bearer_token(&self, token: Option<&str>) {
        self.shared.lock().bearer_token = token.map(str::to_owned);
    }
    /// Turns the Automation API on or off (an upgrade to, or a downgrade from, APIM 4.8+).
    pub fn set_automation(&self, on: bool) {
        self.shared.lock().automation = on;
    }
    /// The categories every environment knows; v4 imports drop others with a warning.
    pub fn set_categories(&self, categories: &[&str]) {
        self.shared.lock().categories = Some(categories.iter().map(|c| (*c).to_owned()).collect());
    }
    /// The v4 API with this hrid in (org, env).
    pub fn api_by_hrid(&self, org: &str, env: &str, hrid: &str) -> Option<StoredApi> {
        self.apis(org, env)
            .into_iter()
            .find(|a| a.hrid.as_deref() == Some(hrid))
    }
    pub fn set_basic(&self, basic: Option<(&str, &str)>) {
        self.shared.lock().basic = basic.map(|(u, p)| (u.to_owned(), p.to_owned()));
    }

    // ----- fault injection -----

    /// Every call waits this long before being handled (zero to stop).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().faults.latency = latency;
    }
    /// The next `n` calls answer `status` with a JSON error body.
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut st = self.shared.lock();
        st.faults.fail_next = n;
        st.faults.fail_next_status = status;
    }
    /// Every call answers `status` until [`Self::stop_failing`].
    pub fn fail_all(&self, status: u16) {
        self.shared.lock().faults.fail_all = Some(status);
    }
    pub fn stop_failing(&self) {
        self.shared.lock().faults.fail_all = None;
    }
    /// The next `n` calls are read, then their connection is closed without any answer.
    pub fn drop_next(&self, n: u32) {
        self.shared.lock().faults.drop_next = n;
    }
    /// Removes latency and every pending fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults = Faults::default();
    }

    // ----- call log -----

    pub fn calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }
    pub fn last_call(&self) -> Option<Call> {
        self.shared.lock().calls.last().cloned()
    }
    /// Calls received, faulted ones included.
    pub fn total_calls(&self) -> u64 {
        self.shared.lock().total_calls
    }
    /// Calls with a method other than GET.
    pub fn write_calls(&self) -> u64 {
        self.shared.lock().write_calls
    }
    pub fn dropped_calls(&self) -> u64 {
        self.shared.lock().dropped_calls
    }
    /// Calls with this method whose path ends with `path_suffix`.
    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.path.ends_with(path_suffix))
            .count()
    }
    /// Empties the log and zeroes the counters.
    pub fn clear_calls(&self) {
        let mut st = self.shared.lock();
        st.calls.clear();
        st.total_calls = 0;
        st.write_calls = 0;
        st.dropped_calls = 0;
    }

    // ----- stored APIs -----

    /// The API with this crossId in (org, env).
    pub fn api(&self, org: &str, env: &str, cross_id: &str) -> Option<StoredApi> {
        self.apis(org, env)
            .into_iter()
            .find(|a| a.cross_id == cross_id)
    }
    pub fn api_by_id(&self, org: &str, env: &str, id: &str) -> Option<StoredApi> {
        self.shared
            .lock()
            .apis
            .get(&(org.to_owned(), env.to_owned()))
            .and_then(|apis| apis.get(id).cloned())
    }
    pub fn apis(&self, org: &str, env: &str) -> Vec<StoredApi> {
        self.shared
            .lock()
            .apis
            .get(&(org.to_owned(), env.to_owned()))
            .map(|apis| apis.values().cloned().collect())
            .unwrap_or_default()
    }
    /// How many APIs of the environment match `pred`, counted under the lock (no copy).
    pub fn count_apis(&self, org: &str, env: &str, pred: impl Fn(&StoredApi) -> bool) -> usize {
        self.shared
            .lock()
            .apis
            .get(&(org.to_owned(), env.to_owned()))
            .map_or(0, |apis| apis.values().filter(|a| pred(a)).count())
    }
    /// Edits an API as a console user would (no call logged). Returns whether it exists.
    pub fn edit_api(
        &self,
        org: &str,
        env: &str,
        cross_id: &str,
        edit: impl FnOnce(&mut StoredApi),
    ) -> bool {
        let mut st = self.shared.lock();
        let api = st
            .apis
            .get_mut(&(org.to_owned(), env.to_owned()))
            .and_then(|apis| apis.values_mut().find(|a| a.cross_id == cross_id));
        match api {
            Some(api) => {
                edit(api);
                api.paths = stored_paths(&api.definition);
                true
            }
            None => false,
        }
    }
}

fn normalise_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

type Reply = (u16, Option<Value>);

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DroppedConnection> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let (seq, latency, fault) = {
        let mut st = shared.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.total_calls += 1;
        if method != Method::GET {
            st.write_calls += 1;
        }
        st.calls.push(Call {
            seq,
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
            auth: auth_kind(authorization.as_deref()),
            status: None,
            dropped: false,
        });
        let faults = &mut st.faults;
        let fault = if faults.drop_next > 0 {
            faults.drop_next -= 1;
            Some(Fault::Drop)
        } else if faults.fail_next > 0 {
            faults.fail_next -= 1;
            Some(Fault::Status(faults.fail_next_status))
        } else {
            faults.fail_all.map(Fault::Status)
        };
        (seq, faults.latency, fault)
    };

    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let (status, reply) = match fault {
        Some(Fault::Drop) => {
            let mut st = shared.lock();
            st.dropped_calls += 1;
            if let Some(call) = st.calls.iter_mut().rev().find(|c| c.seq == seq) {
                call.dropped = true;
            }
            return Err(DroppedConnection);
        }
        Some(Fault::Status(status)) => error(status, "Injected fault", "injected.fault"),
        None => {
            let mut st = shared.lock();
            if !st.authorized(authorization.as_deref()) {
                error(401, "Unauthorized", "unauthorized")
            } else {
                let query: HashMap<String, String> = query
                    .as_deref()
                    .map(|q| {
                        url::form_urlencoded::parse(q.as_bytes())
                            .into_owned()
                            .collect()
                    })
                    .unwrap_or_default();
                st.route(&method, &path, &query, &body)
            }
        }
    };

    {
        let mut st = shared.lock();
        if let Some(call) = st.calls.iter_mut().rev().find(|c| c.seq == seq) {
            call.status = Some(status);
        }
    }
    let mut response = Response::builder().status(status);
    let body = match reply {
        Some(value) => {
            response = response.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(value.to_string())
        }
        None => Bytes::new(),
    };
    Ok(response.body(Full::new(body)).expect("valid response"))
}

fn auth_kind(header: Option<&str>) -> AuthKind {
    match header {
        None => AuthKind::None,
        Some(h) if h.starts_with("Bearer ") => AuthKind::Bearer,
        Some(h) if h.starts_with("Basic ") => AuthKind::Basic,
        Some(_) => AuthKind::Other,
    }
}

fn error(status: u16, message: &str, technical_code: &str) -> Reply {
    (
        status,
        Some(json!({ "message": message, "httpStatus": status, "technicalCode": technical_code })),
    )
}

fn not_found(message: String) -> Reply {
    error(404, &message, "notFound")
}

fn bad_request(message: String) -> Reply {
    error(400, &message, "badRequest")
}

/// Identity and derived data of an import, before it is stored.
struct Prepared {
    id: String,
    cross_id: String,
    state: String,
    plans: BTreeMap<String, String>,
    definition: Value,
    clash: Option<String>,
}

impl State {
    fn authorized(&self, header: Option<&str>) -> bool {
        if self.bearer_token.is_none() && self.basic.is_none() {
            return true;
        }
        let Some(header) = header else { return false };
        if let (Some(token), Some(expected)) = (header.strip_prefix("Bearer "), &self.bearer_token)
        {
            return token == expected;
        }
        if let (Some(encoded), Some((user, password))) =
            (header.strip_prefix("Basic "), &self.basic)
        {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|d| String::from_utf8(d).ok());
            return decoded.as_deref() == Some(format!("{user}:{password}").as_str());
        }
        false
    }

    fn known_env(&self, org: &str, env: &str) -> bool {
        self.environments
            .contains(&(org.to_owned(), env.to_owned()))
    }

    fn known_org(&self, org: &str) -> bool {
        self.environments.iter().any(|(o, _)| o == org)
    }

    fn env_json(org: &str, env: &str) -> Value {
        json!({ "id": env, "name": env, "organizationId": org, "hrids": [env.to_lowercase()] })
    }

    fn route(
        &mut self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        if let Some(reply) = self.route_auto(method, path, query, body) {
            return reply;
        }
        let rest = match path.strip_prefix(self.path_prefix.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => return not_found(format!("No route for {path}")),
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["v2", "organizations", org, "environments", env] if method == Method::GET => {
                if self.mode == Mode::V3 {
                    not_found(format!("No route for {path}"))
                } else if !self.known_org(org) {
                    bad_request(format!("Organization [{org}] can not be found."))
                } else if !self.known_env(org, env) {
                    not_found(format!("Environment [{env}] can not be found."))
                } else {
                    (200, Some(Self::env_json(org, env)))
                }
            }
            ["v2", "organizations", org, "environments", env, rest @ ..]
                if self.mode == Mode::V4 =>
            {
                let (org, env) = ((*org).to_owned(), (*env).to_owned());
                if !self.known_env(&org, &env) {
                    return not_found(format!("Environment [{env}] can not be found."));
                }
                self.route_env2_v4(method.as_str(), &org, &env, rest, query, body)
                    .unwrap_or_else(|| not_found(format!("No route for {path}")))
            }
            ["organizations", org, "environments", env, rest @ ..] => {
                let (org, env) = ((*org).to_owned(), (*env).to_owned());
                if !self.known_env(&org, &env) {
                    return not_found(format!("Environment [{env}] can not be found."));
                }
                self.route_env(method, &org, &env, rest, query, body)
            }
            _ => not_found(format!("No route for {path}")),
        }
    }

    /// `AUTO/...` when the Automation API is on and the path is under its prefix.
    fn route_auto(
        &mut self,
        method: &Method,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Option<Reply> {
        let rest = path.strip_prefix(self.automation_prefix.as_str())?;
        if !rest.starts_with('/') || self.automation_prefix == self.path_prefix {
            return None;
        }
        if !self.automation || self.mode == Mode::V3 {
            return Some(not_found(format!("No route for {path}")));
        }
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        Some(match segments.as_slice() {
            ["organizations", org, "environments", env, rest @ ..] => {
                let (org, env) = ((*org).to_owned(), (*env).to_owned());
                if !self.known_env(&org, &env) {
                    return Some(not_found(format!("Environment [{env}] can not be found.")));
                }
                self.route_automation(method.as_str(), &org, &env, rest, query, body)
            }
            _ => not_found(format!("No route for {path}")),
        })
    }

    fn route_env(
        &mut self,
        method: &Method,
        org: &str,
        env: &str,
        rest: &[&str],
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Reply {
        match (method.as_str(), rest) {
            ("GET", []) => (200, Some(Self::env_json(org, env))),
            ("GET", ["apis"]) => {
                let cross_id = query.get("crossId");
                let list: Vec<Value> = self
                    .env_apis(org, env)
                    .filter(|a| cross_id.is_none_or(|c| *c == a.cross_id))
                    .map(|a| {
                        json!({
                            "id": a.id,
                            "crossId": a.cross_id,
                            "name": a.definition.get("name"),
                            "state": a.state,
                        })
                    })
                    .collect();
                (200, Some(Value::Array(list)))
            }
            ("PUT", ["apis", "import-crd"]) if self.mode == Mode::V4 => {
                let dry_run = query.get("dryRun").is_some_and(|v| v == "true");
                self.import_crd(org, env, body, dry_run)
            }
            ("POST", ["apis", "import"]) => self.import_v3(org, env, body, false),
            ("PUT", ["apis", "import"]) => self.import_v3(org, env, body, true),
            ("GET", ["apis", id]) => match self.stored(org, env, id) {
                Some(api) => (200, Some(api_view(api))),
                None => not_found(format!("Api [{id}] can not be found.")),
            },
            ("POST", ["apis", id]) => {
                let state = match query.get("action").map(String::as_str) {
                    Some("START") => "STARTED",
                    Some("STOP") => "STOPPED",
                    other => return bad_request(format!("Unknown lifecycle action {other:?}")),
                };
                match self.stored_mut(org, env, id) {
                    Some(api) => {
                        api.state = state.to_owned();
                        (204, None)
                    }
                    None => not_found(format!("Api [{id}] can not be found.")),
                }
            }
            ("DELETE", ["apis", id]) => {
                let removed = self
                    .apis
                    .get_mut(&(org.to_owned(), env.to_owned()))
                    .and_then(|apis| apis.remove(*id));
                match removed {
                    Some(_) => (204, None),
                    None => not_found(format!("Api [{id}] can not be found.")),
                }
            }
            ("POST", ["apis", id, "definition-context"]) => {
                let context = serde_json::from_slice::<Value>(body)
                    .ok()
                    .filter(Value::is_object);
                let Some(context) = context else {
                    return bad_request("Definition context must be a JSON object".into());
                };
                match self.stored_mut(org, env, id) {
                    Some(api) => {
                        api.definition_context = Some(context);
                        (204, None)
                    }
                    None => not_found(format!("Api [{id}] can not be found.")),
                }
            }
            ("POST", ["apis", id, "deploy"]) => match self.stored_mut(org, env, id) {
                Some(api) => {
                    api.deploy_count += 1;
                    let view = entity_v3(api);
                    (200, Some(view))
                }
                None => not_found(format!("Api [{id}] can not be found.")),
            },
            _ => not_found(format!("No route for {} {}", method, rest.join("/"))),
        }
    }

    fn env_apis<'a>(&'a self, org: &str, env: &str) -> impl Iterator<Item = &'a StoredApi> + 'a {
        self.apis
            .get(&(org.to_owned(), env.to_owned()))
            .into_iter()
            .flat_map(|apis| apis.values())
    }

    fn stored(&self, org: &str, env: &str, id: &str) -> Option<&StoredApi> {
        self.apis.get(&(org.to_owned(), env.to_owned()))?.get(id)
    }

    fn stored_mut(&mut self, org: &str, env: &str, id: &str) -> Option<&mut StoredApi> {
        self.apis
            .get_mut(&(org.to_owned(), env.to_owned()))?
            .get_mut(id)
    }

    /// Validates a definition and works out its identity; `existing_id` is the API it updates, if any.
    fn prepare(
        &self,
        org: &str,
        env: &str,
        body: &[u8],
        existing_id: Option<&str>,
    ) -> Result<Prepared, Reply> {
        let definition: Value = serde_json::from_slice(body)
            .map_err(|e| bad_request(format!("Invalid API definition: not JSON ({e})")))?;
        let Some(object) = definition.as_object() else {
            return Err(bad_request(
                "Invalid API definition: expected a JSON object".into(),
            ));
        };
        let cross_id = object
            .get("crossId")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| bad_request("Invalid API definition: crossId is required".into()))?
            .to_owned();
        let existing = existing_id.and_then(|id| self.stored(org, env, id));
        let id = match existing {
            Some(api) => api.id.clone(),
            None => object
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty() && self.stored(org, env, id).is_none())
                .map(str::to_owned)
                .unwrap_or_else(|| derived_id(&format!("api:{org}/{env}/{cross_id}"))),
        };
        let mut plans = BTreeMap::new();
        for (index, plan) in object
            .get("plans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let key = plan
                .get("crossId")
                .or_else(|| plan.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("plan-{index}"));
            let plan_id = existing
                .and_then(|api| api.plans.get(&key).cloned())
                .or_else(|| {
                    plan.get("id")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| derived_id(&format!("plan:{id}/{key}")));
            plans.insert(key, plan_id);
        }
        let state = match object.get("state").and_then(Value::as_str) {
            Some(s @ ("STARTED" | "STOPPED")) => s.to_owned(),
            _ => existing.map_or_else(|| "STARTED".to_owned(), |api| api.state.clone()),
        };
        let paths = virtual_paths(&definition);
        let clash = self
            .env_apis(org, env)
            .filter(|other| other.id != id)
            .flat_map(|other| other.paths.iter())
            .find(|taken| paths.contains(taken))
            .map(|(_, path)| format!("The path [{path}] is already covered by an other API."));
        Ok(Prepared {
            id,
            cross_id,
            state,
            plans,
            definition,
            clash,
        })
    }

    fn commit(&mut self, org: &str, env: &str, prepared: Prepared, deploy: bool) -> &StoredApi {
        let apis = self
            .apis
            .entry((org.to_owned(), env.to_owned()))
            .or_default();
        let api = apis
            .entry(prepared.id.clone())
            .or_insert_with(|| StoredApi::empty(&prepared.id, &prepared.cross_id));
        api.cross_id = prepared.cross_id;
        api.paths = virtual_paths(&prepared.definition);
        api.definition = prepared.definition;
        api.state = prepared.state;
        api.plans = prepared.plans;
        api.import_count += 1;
        if deploy {
            api.deploy_count += 1;
        }
        api
    }

    fn find_id(&self, org: &str, env: &str, cross_id: &str) -> Option<String> {
        self.env_apis(org, env)
            .find(|a| a.cross_id == cross_id)
            .map(|a| a.id.clone())
    }

    fn import_crd(&mut self, org: &str, env: &str, body: &[u8], dry_run: bool) -> Reply {
        let cross_id = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("crossId").and_then(Value::as_str).map(str::to_owned));
        let existing = cross_id.and_then(|c| self.find_id(org, env, &c));
        let prepared = match self.prepare(org, env, body, existing.as_deref()) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        let mut severe = Vec::new();
        if let Some(clash) = prepared.clash.clone() {
            if !dry_run {
                return bad_request(clash);
            }
            severe.push(clash);
        }
        let answer = json!({
            "id": prepared.id,
            "crossId": prepared.cross_id,
            "organizationId": org,
            "environmentId": env,
            "state": prepared.state,
            "errors": { "severe": severe, "warning": [] },
            "plans": prepared.plans,
        });
        if !dry_run {
            self.commit(org, env, prepared, true);
        }
        (200, Some(answer))
    }

    fn import_v3(&mut self, org: &str, env: &str, body: &[u8], update: bool) -> Reply {
        let parsed = serde_json::from_slice::<Value>(body).ok();
        let existing = if update {
            let id = parsed
                .as_ref()
                .and_then(|v| v.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if self.stored(org, env, id).is_none() {
                return not_found(format!("Api [{id}] can not be found."));
            }
            Some(id.to_owned())
        } else {
            let cross_id = parsed
                .as_ref()
                .and_then(|v| v.get("crossId"))
                .and_then(Value::as_str);
            if let Some(c) = cross_id.filter(|c| self.find_id(org, env, c).is_some()) {
                return bad_request(format!(
                    "An API with crossId [{c}] already exists in environment [{env}]."
                ));
            }
            None
        };
        let prepared = match self.prepare(org, env, body, existing.as_deref()) {
            Ok(p) => p,
            Err(reply) => return reply,
        };
        if let Some(clash) = prepared.clash.clone() {
            return bad_request(clash);
        }
        let api = self.commit(org, env, prepared, false);
        (if update { 200 } else { 201 }, Some(entity_v3(api)))
    }
}

fn derived_id(seed: &str) -> String {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("apim-stand-in:{seed}").as_bytes(),
    )
    .to_string()
}

/// (host, path) pairs of `proxy.virtual_hosts`, paths normalised to `/x/`.
fn virtual_paths(definition: &Value) -> Vec<(String, String)> {
    definition
        .pointer("/proxy/virtual_hosts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|vh| {
            let path = vh.get("path")?.as_str()?.trim_matches('/');
            let host = vh
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some((
                host,
                if path.is_empty() {
                    "/".to_owned()
                } else {
                    format!("/{path}/")
                },
            ))
        })
        .collect()
}

/// `GET ENV/apis/{id}`: the stored definition with APIM's ids and state filled in.
fn api_view(api: &StoredApi) -> Value {
    let mut view = match &api.definition {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    view.insert("id".into(), json!(api.id));
    view.insert("crossId".into(), json!(api.cross_id));
    view.insert("state".into(), json!(api.state));
    if let Some(Value::Array(plans)) = view.get_mut("plans") {
        for plan in plans.iter_mut() {
            let key = plan
                .get("crossId")
                .or_else(|| plan.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let (Some(id), Some(object)) =
                (key.and_then(|k| api.plans.get(&k)), plan.as_object_mut())
            {
                object.insert("id".into(), json!(id));
            }
        }
    }
    if let Some(context) = &api.definition_context {
        view.insert("definition_context".into(), context.clone());
    }
    Value::Object(view)
}

/// ApiEntity as APIM 3.x answers `import` and `deploy`.
fn entity_v3(api: &StoredApi) -> Value {
    let plan_defs: Vec<Value> = api
        .definition
        .get("plans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let plans: Vec<Value> = api
        .plans
        .iter()
        .map(|(key, id)| {
            let def = plan_defs.iter().find(|p| {
                p.get("crossId")
                    .or_else(|| p.get("name"))
                    .and_then(Value::as_str)
                    == Some(key)
            });
            json!({
                "id": id,
                "crossId": key,
                "name": def.and_then(|p| p.get("name")),
                "security": def.and_then(|p| p.get("security")),
                "status": "PUBLISHED",
            })
        })
        .collect();
    json!({
        "id": api.id,
        "crossId": api.cross_id,
        "name": api.definition.get("name"),
        "state": api.state,
        "visibility": api.definition.get("visibility").cloned().unwrap_or(json!("PRIVATE")),
        "lifecycle_state": "CREATED",
        "plans": plans,
        "definition_context": api.definition_context,
    })
}
