//! Deadlines against a real API server (`KUBECONFIG`, the project's envtest) behind a faulty proxy
//! (tests/support/proxy.rs): gko's kube client bounds its retries and its requests (watches
//! excepted), and a leader whose API server stalls or answers 503 steps down before its Lease can be
//! taken over, while the other replica takes over.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gko::kube_client::{self, ClientSettings};
use gko::reconcile::leader::run_while_leader;
use gko::reconcile::LeaseSettings;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use support::kube::{client_for, kubeconfig};
use support::proxy::{Mode, Proxy};
use tokio_util::sync::CancellationToken;

fn settings(timeout: Duration) -> ClientSettings {
    ClientSettings {
        request_timeout: timeout,
        retries: 3,
    }
}

#[tokio::test]
async fn the_client_bounds_retries_and_requests_but_not_watches() {
    let Some(path) = kubeconfig() else {
        println!("skipped: KUBECONFIG not set");
        return;
    };
    let upstream = client_for(&path).await;
    let proxy = Proxy::start(upstream.clone()).await;
    let client =
        kube_client::build(proxy.config(), settings(Duration::from_secs(1))).expect("client");
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // 503 for every request: 1 attempt + 3 retries, then the error, in about a second.
    proxy.set(Mode::Unavailable);
    let started = Instant::now();
    let result = maps.get_opt("anything").await;
    let took = started.elapsed();
    let attempts = proxy
        .counts
        .unavailable
        .load(std::sync::atomic::Ordering::SeqCst);
    println!("503: gave up after {attempts} attempts in {took:?}");
    assert!(result.is_err());
    assert_eq!(attempts, 4);
    assert!(took < Duration::from_secs(2), "{took:?}");

    // A stalled API server: the request fails at its deadline.
    proxy.set(Mode::Stall);
    let started = Instant::now();
    let result = maps.get_opt("anything").await;
    let took = started.elapsed();
    println!("stall: failed after {took:?} (request timeout 1s)");
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("did not answer within 1000ms"),
        "{message}"
    );
    assert!(took < Duration::from_millis(1500), "{took:?}");

    // A watch silent for longer than the request timeout is not cut.
    proxy.set(Mode::Pass);
    let name = format!("deadline-{}", support::cluster::run_id());
    let watch = kube::runtime::watcher(
        maps.clone(),
        kube::runtime::watcher::Config::default().fields(&format!("metadata.name={name}")),
    );
    let seen = tokio::spawn(async move {
        use futures::StreamExt;
        let mut watch = std::pin::pin!(watch);
        while let Some(event) = watch.next().await {
            if let Ok(kube::runtime::watcher::Event::Apply(cm)) = event {
                return cm.metadata.name;
            }
        }
        None
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let direct: Api<ConfigMap> = Api::namespaced(upstream, "default");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    direct
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let got = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .expect("event in time")
        .expect("join");
    let _ = direct.delete(&name, &DeleteParams::default()).await;
    assert_eq!(got.as_deref(), Some(name.as_str()));
    assert_eq!(
        proxy
            .counts
            .watches
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the watch was never cut and re-opened"
    );
}

/// What the replicas did, in order.
#[derive(Clone, Debug)]
struct Event {
    replica: &'static str,
    started: bool,
    at: Instant,
    wall: SystemTime,
}

type Log = Arc<Mutex<Vec<Event>>>;

fn record(log: &Log, replica: &'static str, started: bool) {
    if let Ok(mut l) = log.lock() {
        l.push(Event {
            replica,
            started,
            at: Instant::now(),
            wall: SystemTime::now(),
        });
    }
}

/// One replica running `run_while_leader`; its work records when its terms start and end.
fn replica(
    client: kube::Client,
    lease: LeaseSettings,
    replica: &'static str,
    log: Log,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_while_leader(client, lease, stop.clone(), move |term| {
        let log = log.clone();
        async move {
            record(&log, replica, true);
            term.cancelled().await;
            record(&log, replica, false);
        }
    }));
    (stop, task)
}

async fn wait_for_term(log: &Log, replica: &'static str, nth: usize, within: Duration) -> Event {
    let started = Instant::now();
    loop {
        let found = log.lock().ok().and_then(|l| {
            l.iter()
                .filter(|e| e.replica == replica && e.started)
                .nth(nth - 1)
                .cloned()
        });
        if let Some(e) = found {
            return e;
        }
        assert!(
            started.elapsed() < within,
            "{replica} did not lead (term {nth}) within {within:?}: {:?}",
            log.lock().map(|l| l.clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Terms never overlap: every term ends before the next one (of any replica) starts.
fn assert_one_holder_at_a_time(log: &Log) {
    let events = log.lock().map(|l| l.clone()).unwrap_or_default();
    let mut holder: Option<&'static str> = None;
    for e in &events {
        if e.started {
            assert!(
                holder.is_none(),
                "{} started while {holder:?} held a term: {events:?}",
                e.replica
            );
            holder = Some(e.replica);
        } else {
            assert_eq!(holder, Some(e.replica), "{events:?}");
            holder = None;
        }
    }
}

async fn renew_time(leases: &Api<Lease>, name: &str) -> (Option<String>, SystemTime) {
    let lease = leases.get(name).await.expect("lease");
    let spec = lease.spec.unwrap_or_default();
    let renewed = spec
        .renew_time
        .map(|t| SystemTime::from(t.0))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    (spec.holder_identity, renewed)
}

/// The API server of the leader fails (`mode`); the leader must step down before its Lease can be
/// taken, and the other replica takes over. Returns (step-down, takeover) times after the fault.
struct Scene<'a> {
    proxy: &'a Proxy,
    leases: &'a Api<Lease>,
    lease: LeaseSettings,
    log: &'a Log,
}

async fn fault(
    scene: &Scene<'_>,
    mode: Mode,
    (leader, leader_term): (&'static str, usize),
    (follower, follower_term): (&'static str, usize),
) -> (Duration, Duration) {
    let Scene {
        proxy,
        leases,
        lease,
        log,
    } = scene;
    let (holder, renewed) = renew_time(leases, &lease.name).await;
    assert_eq!(holder.as_deref(), Some(leader));
    let faulted = Instant::now();
    proxy.set(mode);
    // The last renewal that can have landed: read once the fault is in place.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, last_renewal) = renew_time(leases, &lease.name).await;
    let last_renewal = last_renewal.max(renewed);
    let taken = wait_for_term(log, follower, follower_term, Duration::from_secs(15)).await;
    let ended = log
        .lock()
        .ok()
        .and_then(|l| {
            l.iter()
                .filter(|e| e.replica == leader && !e.started)
                .nth(leader_term - 1)
                .cloned()
        })
        .expect("the leader's term ended");
    let expiry = last_renewal + lease.duration;
    assert!(
        ended.wall < expiry,
        "{leader} stopped at {:?}, after its Lease could be taken ({expiry:?})",
        ended.wall
    );
    assert!(ended.at < taken.at);
    assert_one_holder_at_a_time(log);
    (ended.at - faulted, taken.at - faulted)
}

#[tokio::test]
async fn a_leader_whose_api_server_fails_steps_down_before_its_lease_can_be_taken() {
    let Some(path) = kubeconfig() else {
        println!("skipped: KUBECONFIG not set");
        return;
    };
    let upstream = client_for(&path).await;
    let proxy = Proxy::start(upstream.clone()).await;
    let name = format!("gko-deadlines-{}", support::cluster::run_id());
    let lease = |holder: &str| LeaseSettings {
        name: name.clone(),
        namespace: "default".into(),
        holder: holder.into(),
        duration: Duration::from_secs(3),
    };
    let through_proxy =
        kube_client::build(proxy.config(), settings(Duration::from_secs(1))).expect("client");
    let direct = kube_client::build(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&path).expect("kubeconfig"),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("config"),
        settings(Duration::from_secs(1)),
    )
    .expect("client");
    let leases: Api<Lease> = Api::namespaced(upstream, "default");
    let log: Log = Arc::default();
    let scene = Scene {
        proxy: &proxy,
        leases: &leases,
        lease: lease("a"),
        log: &log,
    };

    // a leads (through the proxy); b waits.
    let (stop_a, task_a) = replica(through_proxy, lease("a"), "a", log.clone());
    wait_for_term(&log, "a", 1, Duration::from_secs(10)).await;
    let (stop_b, task_b) = replica(direct.clone(), lease("b"), "b", log.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_one_holder_at_a_time(&log);

    // a's API server stalls: a steps down, b takes over.
    let (down, over) = fault(&scene, Mode::Stall, ("a", 1), ("b", 1)).await;
    println!("stall: the leader stepped down {down:?} after the fault, the other took over after {over:?} (Lease 3s)");

    // Back to normal, b gives the Lease up: a re-acquires.
    proxy.set(Mode::Pass);
    stop_b.cancel();
    task_b.await.expect("join b");
    wait_for_term(&log, "a", 2, Duration::from_secs(10)).await;

    // a's API server answers 503: a steps down, a new b takes over.
    let (stop_b, task_b) = replica(direct, lease("b"), "b", log.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (down, over) = fault(&scene, Mode::Unavailable, ("a", 2), ("b", 2)).await;
    println!("503: the leader stepped down {down:?} after the fault, the other took over after {over:?} (Lease 3s)");

    proxy.set(Mode::Pass);
    stop_b.cancel();
    stop_a.cancel();
    let _ = task_b.await;
    let _ = task_a.await;
    assert_one_holder_at_a_time(&log);
    let _ = leases.delete(&name, &DeleteParams::default()).await;
}
