//! Capped exponential backoff with jitter, and a retry loop for transient APIM errors.

use std::future::Future;
use std::time::Duration;

use super::error::ApimError;

/// Delay before retry number `attempt` (0 for the first retry).
///
/// The ceiling doubles from `base` on each attempt and is capped at `cap`; the delay is drawn in
/// `[ceiling / 2, ceiling]` ("equal jitter": never zero, never above `cap`) using `jitter_source`, which yields
/// a number in `[0, 1]` (out-of-range or non-finite values are clamped to that range, NaN counts as 0).
pub fn delay(
    attempt: u32,
    base: Duration,
    cap: Duration,
    mut jitter_source: impl FnMut() -> f64,
) -> Duration {
    let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
    let ceiling = base.checked_mul(factor).unwrap_or(cap).min(cap);
    let unit = jitter_source();
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    let half = ceiling / 2;
    half + (ceiling - half).mul_f64(unit)
}

/// A uniformly random jitter source for [`delay`].
pub fn random_jitter() -> f64 {
    rand::random::<f64>()
}

/// How [`retry`] spaces and bounds its attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, first one included (0 is treated as 1).
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(5),
        }
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or `policy.max_attempts` attempts were made;
/// returns the last result. Only [`ApimError::is_retryable`] errors are retried, after [`delay`].
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, ApimError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApimError>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 0u32;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(err) if err.is_retryable() && attempt + 1 < max_attempts => {
                let wait = delay(attempt, policy.base, policy.cap, random_jitter);
                tracing::warn!(
                    attempt = attempt + 1,
                    max_attempts,
                    delay_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    error = %err,
                    "transient Management API error, retrying"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_exponentially_within_jitter_bounds() {
        let base = 100 * MS;
        let cap = 10_000 * MS;
        assert_eq!(delay(0, base, cap, || 1.0), 100 * MS);
        assert_eq!(delay(0, base, cap, || 0.0), 50 * MS);
        assert_eq!(delay(1, base, cap, || 1.0), 200 * MS);
        assert_eq!(delay(3, base, cap, || 1.0), 800 * MS);
        assert_eq!(delay(3, base, cap, || 0.5), 600 * MS);
    }

    #[test]
    fn is_capped_and_never_overflows() {
        let base = 100 * MS;
        let cap = 5_000 * MS;
        assert_eq!(delay(6, base, cap, || 1.0), cap);
        assert_eq!(delay(40, base, cap, || 1.0), cap);
        assert_eq!(delay(u32::MAX, Duration::MAX, cap, || 1.0), cap);
        assert_eq!(delay(u32::MAX, base, cap, || 0.0), cap / 2);
    }

    #[test]
    fn bad_jitter_values_are_clamped() {
        let (base, cap) = (100 * MS, 1_000 * MS);
        assert_eq!(delay(0, base, cap, || f64::NAN), 50 * MS);
        assert_eq!(delay(0, base, cap, || -3.0), 50 * MS);
        assert_eq!(delay(0, base, cap, || 7.0), 100 * MS);
        assert_eq!(delay(0, base, cap, || f64::INFINITY), 100 * MS);
    }

    #[test]
    fn random_jitter_stays_in_bounds() {
        for attempt in 0..10 {
            let d = delay(attempt, 10 * MS, 1_000 * MS, random_jitter);
            let ceiling = (10 * MS * 2u32.pow(attempt)).min(1_000 * MS);
            assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} for {attempt}");
        }
    }

    fn transient() -> ApimError {
        ApimError::Transient {
            call: "GET /x".into(),
            status: Some(503),
            reason: "HTTP 503".into(),
        }
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base: MS,
            cap: 2 * MS,
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_until_success() {
        let calls = AtomicU32::new(0);
        let out = retry(&fast(5), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(42)
            }
        })
        .await;
        assert!(matches!(out, Ok(42)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(&fast(3), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert!(matches!(out, Err(ApimError::Transient { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry(&fast(5), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ApimError::Unauthorized {
                call: "GET /x".into(),
                status: 401,
            })
        })
        .await;
        assert!(matches!(out, Err(ApimError::Unauthorized { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
