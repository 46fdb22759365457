//! Per-context circuit breaker: one unreachable Management API must not hold the workers that other contexts
//! need.
//!
//! - healthy context: calls go through, any number at once;
//! - after a transient failure the context is *suspect*: one call at a time (others are requeued at once
//!   instead of waiting on a dead endpoint);
//! - after `threshold` consecutive transient failures the breaker *opens*: no call at all for a growing,
//!   jittered interval (capped exponential backoff); then one probe call (half-open) decides.
//!
//! Any success closes it. Answers that prove the API is reachable (401, 400...) count as successes here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::apim::backoff;
use crate::model::ObjectKey;

/// Tuning of the breaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive transient failures that open the breaker.
    pub threshold: u32,
    /// First open interval; doubles per further failure.
    pub base: Duration,
    pub cap: Duration,
    /// How long callers wait while another call probes a suspect context.
    pub busy_retry: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: 3,
            base: Duration::from_secs(2),
            cap: Duration::from_secs(120),
            busy_retry: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    in_flight: bool,
}

/// What the breaker says about one context now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub consecutive_failures: u32,
    /// Set while calls are refused.
    pub retry_in: Option<Duration>,
}

/// The breakers of every context. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Breakers {
    config: BreakerConfig,
    states: Arc<Mutex<HashMap<ObjectKey, State>>>,
}

/// Permission for one call; dropping it without an outcome (cancelled call) frees the single probe slot.
#[derive(Debug)]
pub struct Permit {
    breakers: Breakers,
    key: ObjectKey,
    exclusive: bool,
    done: bool,
}

impl Permit {
    /// The call reached APIM (whatever it answered).
    pub fn success(mut self) {
        self.done = true;
        let mut states = self.breakers.lock();
        states.remove(&self.key);
    }

    /// The call failed in a way that says the Management API is down. Returns true when the breaker opened.
    pub fn failure(mut self) -> bool {
        self.done = true;
        let config = self.breakers.config.clone();
        let mut states = self.breakers.lock();
        let state = states.entry(self.key.clone()).or_default();
        state.failures = state.failures.saturating_add(1);
        if self.exclusive {
            state.in_flight = false;
        }
        if state.failures >= config.threshold.max(1) {
            let wait = backoff::delay(
                state.failures - config.threshold.max(1),
                config.base,
                config.cap,
                backoff::random_jitter,
            );
            state.open_until = Some(Instant::now() + wait);
            true
        } else {
            false
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.exclusive {
            if let Some(state) = self.breakers.lock().get_mut(&self.key) {
                state.in_flight = false;
            }
        }
    }
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Self {
        Breakers {
            config,
            states: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ObjectKey, State>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A permit to call the context, or how long to wait before asking again.
    pub fn admit(&self, key: &ObjectKey) -> Result<Permit, Duration> {
        let mut states = self.lock();
        let Some(state) = states.get_mut(key) else {
            return Ok(Permit {
                breakers: self.clone(),
                key: key.clone(),
                exclusive: false,
                done: false,
            });
        };
        let now = Instant::now();
        if let Some(until) = state.open_until {
            if until > now {
                return Err(until - now);
            }
        }
        if state.in_flight {
            return Err(self.config.busy_retry);
        }
        state.in_flight = true;
        Ok(Permit {
            breakers: self.clone(),
            key: key.clone(),
            exclusive: true,
            done: false,
        })
    }

    pub fn snapshot(&self, key: &ObjectKey) -> Snapshot {
        let states = self.lock();
        match states.get(key) {
            None => Snapshot {
                consecutive_failures: 0,
                retry_in: None,
            },
            Some(state) => Snapshot {
                consecutive_failures: state.failures,
                retry_in: state
                    .open_until
                    .and_then(|u| u.checked_duration_since(Instant::now()))
                    .filter(|d| !d.is_zero()),
            },
        }
    }

    /// Forgets a context (deleted).
    pub fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(BreakerConfig {
            threshold: 2,
            base: Duration::from_millis(40),
            cap: Duration::from_millis(80),
            busy_retry: Duration::from_millis(5),
        })
    }

    #[test]
    fn healthy_contexts_admit_concurrent_calls() {
        let b = breakers();
        let k = ObjectKey::new("ns", "ctx");
        let p1 = b.admit(&k);
        let p2 = b.admit(&k);
        assert!(p1.is_ok() && p2.is_ok());
    }

    #[test]
    fn suspect_context_admits_one_call_then_opens() {
        let b = breakers();
        let k = ObjectKey::new("ns", "ctx");
        let other = ObjectKey::new("ns", "other");
        let Ok(p) = b.admit(&k) else {
            panic!("first call refused")
        };
        assert!(!p.failure());
        assert_eq!(b.snapshot(&k).consecutive_failures, 1);
        let Ok(probe) = b.admit(&k) else {
            panic!("probe refused")
        };
        assert_eq!(b.admit(&k).err(), Some(Duration::from_millis(5)));
        assert!(b.admit(&other).is_ok(), "other contexts are not affected");
        assert!(probe.failure(), "second failure opens");
        let snap = b.snapshot(&k);
        assert_eq!(snap.consecutive_failures, 2);
        assert!(snap
            .retry_in
            .is_some_and(|d| d <= Duration::from_millis(40)));
        assert!(b.admit(&k).is_err());
        std::thread::sleep(Duration::from_millis(45));
        let Ok(half_open) = b.admit(&k) else {
            panic!("half-open probe refused")
        };
        half_open.success();
        assert_eq!(b.snapshot(&k).consecutive_failures, 0);
        assert!(b.admit(&k).is_ok());
    }

    #[test]
    fn dropped_permit_frees_the_probe_slot() {
        let b = breakers();
        let k = ObjectKey::new("ns", "ctx");
        if let Ok(p) = b.admit(&k) {
            p.failure();
        }
        let probe = b.admit(&k);
        assert!(probe.is_ok());
        assert!(b.admit(&k).is_err());
        drop(probe);
        assert!(b.admit(&k).is_ok());
    }
}
