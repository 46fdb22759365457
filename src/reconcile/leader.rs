//! Leader election on a `coordination.k8s.io/v1` Lease, written with resourceVersion-guarded updates.
//!
//! Every replica serves the webhook; only the holder of the Lease reconciles. The holder renews every
//! `duration / 3`; a replica takes over when it has seen the same holder and renew time unchanged for a whole
//! `duration` (measured on its own clock, so clock skew between nodes does not matter), or at once when the
//! Lease was released.
//!
//! Every Lease call runs under a timeout shorter than the renew interval (half of it), so a stalled or
//! 503-answering API server never holds the elector past its deadlines. The leader counts its term from the
//! moment it *sent* its last successful renewal (the write cannot have landed before): another replica may
//! take over no earlier than that plus `duration`. At `2/3 duration` without a renewal the leader cancels its
//! term (the controllers stop at a safe point) — the last third is for in-flight reconciles to stop — then
//! tries to re-acquire. On shutdown the holder releases the Lease.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use tokio_util::sync::CancellationToken;

/// Where the Lease lives and who we are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    pub holder: String,
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
}

impl LeaseSettings {
    fn renew_every(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(100))
    }
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
    fn retry_every(&self) -> Duration {
        (self.duration / 4).max(Duration::from_millis(100))
    }
    /// Bound of one Lease attempt (a GET and a create or replace).
    pub fn call_timeout(&self) -> Duration {
        self.renew_every() / 2
    }
    /// Pause before retrying a failed renewal: short, so that two attempts fit before the step-down.
    fn renew_retry_every(&self) -> Duration {
        (self.duration / 15).max(Duration::from_millis(50))
    }
    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// Holder and renew time of a Lease, as last seen.
type Record = (Option<String>, Option<String>);

/// One replica's view of the Lease.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// (holder, renewTime) last seen for another holder, and when it was first seen locally.
    observed: Option<(Record, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl Elector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Elector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// One attempt to become or stay the holder. `Ok(true)`: we hold the Lease now.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let me = self.settings.holder.clone();
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(self.settings.duration_seconds()),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(me.as_str()) {
            let mut renewed = spec;
            renewed.renew_time = Some(now());
            renewed.lease_duration_seconds = Some(self.settings.duration_seconds());
            lease.spec = Some(renewed);
            return self.replace(&lease).await;
        }
        let record = (
            holder.clone(),
            spec.renew_time.as_ref().map(|t| t.0.to_string()),
        );
        let first_seen = match &self.observed {
            Some((seen, at)) if *seen == record => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((record, at));
                at
            }
        };
        let valid_for = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.settings.duration);
        if holder.is_some() && first_seen.elapsed() < valid_for {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0).saturating_add(1);
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(me),
            lease_duration_seconds: Some(self.settings.duration_seconds()),
            acquire_time: Some(now()),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..spec
        });
        let won = self.replace(&lease).await?;
        if won {
            tracing::info!(previous = ?holder, lease = %self.settings.name, "took over the Lease");
        }
        Ok(won)
    }

    /// Replace guarded by the resourceVersion we read: 409 means someone else wrote first.
    async fn replace(&self, lease: &Lease) -> Result<bool, kube::Error> {
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`Elector::try_acquire_or_renew`] within [`LeaseSettings::call_timeout`].
    async fn attempt(&mut self) -> Result<bool, LeaseError> {
        let bound = self.settings.call_timeout();
        match tokio::time::timeout(bound, self.try_acquire_or_renew()).await {
            Ok(result) => result.map_err(LeaseError::Api),
            Err(_) => Err(LeaseError::Timeout(bound)),
        }
    }

    /// Gives the Lease up (if we hold it) so another replica takes over at once.
    pub async fn release(&self) {
        let bound = self.settings.call_timeout();
        if tokio::time::timeout(bound, self.release_unbounded())
            .await
            .is_err()
        {
            tracing::warn!(
                ?bound,
                "could not release the Lease in time: it expires on its own"
            );
        }
    }

    async fn release_unbounded(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.settings.name).await else {
            return;
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.holder.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        lease.spec = Some(spec);
        match self.replace(&lease).await {
            Ok(true) => tracing::info!(lease = %self.settings.name, "released the Lease"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not release the Lease"),
        }
    }

    /// Waits until we hold the Lease; `None` when `stop` fired first, else when the winning attempt was
    /// sent (the term counts from then).
    pub async fn acquire(&mut self, stop: &CancellationToken) -> Option<Instant> {
        loop {
            let sent = Instant::now();
            match self.attempt().await {
                Ok(true) => return Some(sent),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "Lease acquisition failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = tokio::time::sleep(self.settings.retry_every()) => {}
            }
        }
    }

    /// Renews until the Lease is lost or could not be renewed by `renewed + 2/3 duration` (returns
    /// `false`: the term must end), or `stop` fires (returns `true`). `renewed`: when the acquisition was
    /// sent. Never returns later than that deadline, whatever the API server does.
    pub async fn hold(&mut self, renewed: Instant, stop: &CancellationToken) -> bool {
        let mut renewed = renewed;
        let mut wait = self.settings.renew_every();
        loop {
            let step_down =
                tokio::time::Instant::from_std(renewed + self.settings.renew_deadline());
            tokio::select! {
                _ = stop.cancelled() => return true,
                _ = tokio::time::sleep_until(step_down) => return self.stepping_down(renewed),
                _ = tokio::time::sleep(wait) => {}
            }
            let sent = Instant::now();
            let outcome = tokio::select! {
                outcome = self.attempt() => outcome,
                _ = tokio::time::sleep_until(step_down) => return self.stepping_down(renewed),
            };
            match outcome {
                Ok(true) => {
                    renewed = sent;
                    wait = self.settings.renew_every();
                }
                Ok(false) => {
                    tracing::warn!(lease = %self.settings.name, "the Lease was taken by another replica");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Lease renewal failed");
                    wait = self.settings.renew_retry_every();
                }
            }
        }
    }

    fn stepping_down(&self, renewed: Instant) -> bool {
        tracing::warn!(
            lease = %self.settings.name,
            since_renewal_ms = u64::try_from(renewed.elapsed().as_millis()).unwrap_or(u64::MAX),
            "could not renew the Lease in time: stepping down before another replica may take it"
        );
        false
    }
}

/// A Lease attempt that failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Api(kube::Error),
    #[error("the API server did not answer within {}ms", .0.as_millis())]
    Timeout(Duration),
}

/// Runs `work` while this replica holds the Lease, again after each re-acquisition, until `stop` fires; then
/// stops the work and releases the Lease. `work` gets a token cancelled when leadership ends.
pub async fn run_while_leader<F, Fut>(
    client: Client,
    settings: LeaseSettings,
    stop: CancellationToken,
    mut work: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut elector = Elector::new(client, settings);
    loop {
        let Some(renewed) = elector.acquire(&stop).await else {
            return;
        };
        tracing::info!(holder = %elector.settings().holder, lease = %elector.settings().name, "became the leader: reconciling");
        let term = stop.child_token();
        let mut task = tokio::spawn(work(term.clone()));
        let stopped = tokio::select! {
            stopped = elector.hold(renewed, &stop) => stopped,
            ended = &mut task => {
                if stop.is_cancelled() {
                    // Shutting down: the work ended because `stop` fired.
                    elector.release().await;
                    return;
                }
                if let Err(e) = ended {
                    tracing::error!(error = %e, "the reconciler task failed");
                } else {
                    tracing::error!("the reconciler ended on its own; giving up the Lease");
                }
                elector.release().await;
                if stop.is_cancelled() {
                    return;
                }
                tokio::time::sleep(elector.settings().duration).await;
                continue;
            }
        };
        term.cancel();
        if let Err(e) = task.await {
            tracing::error!(error = %e, "the reconciler task failed");
        }
        if stopped {
            elector.release().await;
            return;
        }
        tracing::warn!("lost leadership: reconciling stopped");
    }
}
