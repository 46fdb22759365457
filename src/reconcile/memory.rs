//! What the reconciler remembers per object between reconciles (in memory, for this term only): retry
//! attempts, the ApiDefinition status it wrote last (until the watch shows it), when a resource's user
//! count was last written, and each API's drift clock. Separate from the context the controllers are
//! passed, so that it can be reasoned about (and bounded) on its own.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::apim::backoff;
use crate::crd::{ApiDefinitionStatus, ApiV4DefinitionStatus};

/// A status this process wrote is kept at most this long: the watch delivers it within milliseconds, and an
/// object that is not reconciled again must not keep its copy for ever.
const WRITTEN_TTL: Duration = Duration::from_secs(60);
/// One `referencedBy` write per resource per this interval.
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// Per-object memory, keyed by uid.
pub struct ObjectMemory {
    retry_base: Duration,
    retry_cap: Duration,
    drift_interval: Duration,
    attempts: Mutex<HashMap<String, u32>>,
    /// Kept as JSON text: right after a sync of every API, each one's status is here for a minute, and a
    /// typed status costs several times its text. ApiDefinitions and ApiV4Definitions alike (uids are unique).
    written: Mutex<HashMap<String, (Instant, Box<str>)>>,
    count_written: Mutex<HashMap<String, Instant>>,
    drift_checked: Mutex<HashMap<String, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ObjectMemory {
    /// Backoff between `retry_base` and `retry_cap`; drift checks every `drift_interval` (zero: never).
    pub fn new(retry_base: Duration, retry_cap: Duration, drift_interval: Duration) -> Self {
        ObjectMemory {
            retry_base,
            retry_cap,
            drift_interval,
            attempts: Mutex::default(),
            written: Mutex::default(),
            count_written: Mutex::default(),
            drift_checked: Mutex::default(),
        }
    }

    /// Delay before the next attempt after a transient failure of the object `uid` (and counts it).
    pub fn backoff(&self, uid: &str) -> Duration {
        let mut attempts = lock(&self.attempts);
        let n = attempts.entry(uid.to_owned()).or_insert(0);
        let d = backoff::delay(*n, self.retry_base, self.retry_cap, backoff::random_jitter);
        *n = n.saturating_add(1);
        d
    }

    pub fn reset_backoff(&self, uid: &str) {
        lock(&self.attempts).remove(uid);
    }

    /// The status of an ApiDefinition as last written by this process, when the cached object (`cached`) does
    /// not show it yet. A reconcile queued while the previous one ran may start before the watch delivered the
    /// previous status patch; judging from that stale status would push the same payload twice. Only the
    /// leader writes these statuses, so what it wrote last is the truth.
    pub fn current_status(&self, uid: &str, cached: ApiDefinitionStatus) -> ApiDefinitionStatus {
        self.current(uid, cached)
    }

    /// Records a status written for `uid`; drops copies older than the TTL on the way.
    pub fn status_written(&self, uid: &str, status: &ApiDefinitionStatus) {
        self.written(uid, status)
    }

    /// [`Self::current_status`] for ApiV4Definitions.
    pub fn current_v4_status(
        &self,
        uid: &str,
        cached: ApiV4DefinitionStatus,
    ) -> ApiV4DefinitionStatus {
        self.current(uid, cached)
    }

    /// [`Self::status_written`] for ApiV4Definitions.
    pub fn v4_status_written(&self, uid: &str, status: &ApiV4DefinitionStatus) {
        self.written(uid, status)
    }

    fn current<S: DeserializeOwned + PartialEq>(&self, uid: &str, cached: S) -> S {
        let mut written = lock(&self.written);
        let ours = match written.get(uid) {
            Some((at, text)) if at.elapsed() < WRITTEN_TTL => serde_json::from_str::<S>(text).ok(),
            _ => None,
        };
        match ours {
            Some(ours) if ours != cached => ours,
            _ => {
                // The watch shows what was written (or the copy is too old): the cache is the truth again.
                written.remove(uid);
                cached
            }
        }
    }

    fn written<S: Serialize>(&self, uid: &str, status: &S) {
        let mut written = lock(&self.written);
        written.retain(|_, (at, _)| at.elapsed() < WRITTEN_TTL);
        match serde_json::to_string(status) {
            Ok(text) => {
                written.insert(uid.to_owned(), (Instant::now(), text.into_boxed_str()));
            }
            Err(_) => {
                written.remove(uid);
            }
        }
    }

    /// Whether a resource's user count may be written now; otherwise how long to wait (one write per second
    /// per resource: a thousand APIs applied at once do not make a thousand status writes of their resource).
    pub fn count_write_slot(&self, uid: &str) -> Result<(), Duration> {
        let mut written = lock(&self.count_written);
        match written.get(uid) {
            Some(at) if at.elapsed() < COUNT_EVERY => Err(COUNT_EVERY - at.elapsed()),
            _ => {
                written.insert(uid.to_owned(), Instant::now());
                Ok(())
            }
        }
    }

    /// Whether a drift check of `uid` is due; the first time an object is seen its clock starts (no check
    /// right after a restart).
    pub fn drift_due(&self, uid: &str) -> bool {
        if self.drift_interval.is_zero() {
            return false;
        }
        let mut checked = lock(&self.drift_checked);
        match checked.get(uid) {
            None => {
                checked.insert(uid.to_owned(), Instant::now());
                false
            }
            Some(at) => at.elapsed() >= self.drift_interval.mul_f64(0.9),
        }
    }

    pub fn drift_checked(&self, uid: &str) {
        lock(&self.drift_checked).insert(uid.to_owned(), Instant::now());
    }

    /// The object is gone: forget everything about it.
    pub fn forget(&self, uid: &str) {
        lock(&self.attempts).remove(uid);
        lock(&self.written).remove(uid);
        lock(&self.drift_checked).remove(uid);
        lock(&self.count_written).remove(uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(drift: Duration) -> ObjectMemory {
        ObjectMemory::new(Duration::from_millis(100), Duration::from_secs(10), drift)
    }

    #[test]
    fn backoff_grows_until_reset() {
        let m = memory(Duration::ZERO);
        let first = m.backoff("a");
        let later = (0..6).map(|_| m.backoff("a")).last().unwrap_or_default();
        assert!(later > first, "{later:?} > {first:?}");
        assert!(later <= Duration::from_secs(10));
        m.reset_backoff("a");
        assert!(m.backoff("a") <= Duration::from_millis(100));
    }

    #[test]
    fn a_written_status_wins_until_the_cache_shows_it() {
        let m = memory(Duration::ZERO);
        let ours = ApiDefinitionStatus {
            synced_hash: Some("h2".into()),
            ..Default::default()
        };
        let stale = ApiDefinitionStatus {
            synced_hash: Some("h1".into()),
            ..Default::default()
        };
        m.status_written("a", &ours);
        assert_eq!(m.current_status("a", stale.clone()), ours);
        // The watch delivered it: the copy is dropped, the cache is the truth again.
        assert_eq!(m.current_status("a", ours.clone()), ours);
        assert_eq!(m.current_status("a", stale.clone()), stale);
        m.status_written("b", &ours);
        m.forget("b");
        assert_eq!(m.current_status("b", stale.clone()), stale);
    }

    #[test]
    fn drift_clock_starts_at_first_sight() {
        let m = memory(Duration::from_millis(20));
        assert!(!m.drift_due("a"), "no check right after a restart");
        std::thread::sleep(Duration::from_millis(25));
        assert!(m.drift_due("a"));
        m.drift_checked("a");
        assert!(!m.drift_due("a"));
        assert!(
            !memory(Duration::ZERO).drift_due("x"),
            "zero interval: never"
        );
    }

    #[test]
    fn user_counts_are_written_at_most_once_a_second() {
        let m = memory(Duration::ZERO);
        assert!(m.count_write_slot("r").is_ok());
        assert!(m.count_write_slot("r").is_err());
        assert!(m.count_write_slot("other").is_ok());
    }
}
