//! Retry policies: how many times to try an operation and how long to wait
//! between tries.
//!
//! Used by saga steps and compensations (`#[saga_step(retry = ...)]` or
//! [`StepBuilder::retry`](crate::saga::StepBuilder::retry)). A policy is a
//! plain value: it says how long to wait before the next try and whether one
//! is left, and does no waiting itself.
//!
//! ```
//! use std::time::Duration;
//! use orchestrix::retry::RetryPolicy;
//!
//! let policy = RetryPolicy::exponential(Duration::from_millis(10), 5).with_jitter(false);
//! assert_eq!(policy.max_attempts(), 5);
//! assert_eq!(policy.delay_after(1), Duration::from_millis(10));
//! assert_eq!(policy.delay_after(3), Duration::from_millis(40));
//! ```

use std::time::Duration;

/// How the wait between tries grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backoff {
    /// No wait.
    Immediate,
    /// The same wait after every failed try.
    Fixed(Duration),
    /// `base * n` after the n-th failed try.
    Linear(Duration),
    /// `base * 2^(n-1)` after the n-th failed try, capped at `max`.
    Exponential {
        /// The first wait.
        base: Duration,
        /// No wait is longer than this.
        max: Duration,
    },
}

/// How many times to try, and how long to wait in between.
///
/// The default is one attempt (no retry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    jitter: bool,
}

/// The cap of exponential waits unless [`RetryPolicy::with_max_delay`] sets another.
///
/// It may exceed a saga's lease TTL: a saga keeps renewing its lease while
/// it waits between attempts.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            backoff: Backoff::Immediate,
            jitter: false,
        }
    }

    /// Up to `max_attempts` tries, `delay` apart.
    pub const fn fixed(delay: Duration, max_attempts: u32) -> Self {
        Self {
            max_attempts: clamp_attempts(max_attempts),
            backoff: Backoff::Fixed(delay),
            jitter: false,
        }
    }

    /// Up to `max_attempts` tries; the wait after the n-th failure is `base * n`.
    pub const fn linear(base: Duration, max_attempts: u32) -> Self {
        Self {
            max_attempts: clamp_attempts(max_attempts),
            backoff: Backoff::Linear(base),
            jitter: false,
        }
    }

    /// Up to `max_attempts` tries; the wait after the n-th failure is
    /// `base * 2^(n-1)`, capped at [`DEFAULT_MAX_DELAY`], with jitter (each
    /// wait is drawn between half and all of that) so that many retrying
    /// callers do not hit a recovering service in lockstep.
    pub const fn exponential(base: Duration, max_attempts: u32) -> Self {
        Self {
            max_attempts: clamp_attempts(max_attempts),
            backoff: Backoff::Exponential {
                base,
                max: DEFAULT_MAX_DELAY,
            },
            jitter: true,
        }
    }

    /// Turns jitter on or off (on by default only for exponential backoff).
    pub const fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// Caps exponential waits at `max` (other backoffs ignore it).
    pub const fn with_max_delay(mut self, max: Duration) -> Self {
        if let Backoff::Exponential { base, .. } = self.backoff {
            self.backoff = Backoff::Exponential { base, max };
        }
        self
    }

    /// The number of tries, at least 1.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff.
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// Whether waits are randomised.
    pub const fn jitter(&self) -> bool {
        self.jitter
    }

    /// Whether another try is allowed after `attempts` tries.
    pub const fn allows_another(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// How long to wait after the `failed_attempt`-th try (1-based) failed.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        let n = failed_attempt.max(1);
        let delay = match self.backoff {
            Backoff::Immediate => Duration::ZERO,
            Backoff::Fixed(delay) => delay,
            Backoff::Linear(base) => base.saturating_mul(n),
            Backoff::Exponential { base, max } => {
                let factor = 1u32.checked_shl(n - 1).unwrap_or(u32::MAX);
                base.saturating_mul(factor).min(max)
            }
        };
        if self.jitter && !delay.is_zero() {
            let half = delay / 2;
            let spread = u64::try_from((delay - half).as_nanos()).unwrap_or(u64::MAX);
            half + Duration::from_nanos(rand::random_range(0..=spread))
        } else {
            delay
        }
    }
}

const fn clamp_attempts(max_attempts: u32) -> u32 {
    if max_attempts == 0 { 1 } else { max_attempts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_as_configured() {
        let ms = Duration::from_millis;
        let fixed = RetryPolicy::fixed(ms(5), 3);
        assert_eq!((fixed.delay_after(1), fixed.delay_after(2)), (ms(5), ms(5)));
        let linear = RetryPolicy::linear(ms(5), 3);
        assert_eq!(
            (linear.delay_after(1), linear.delay_after(3)),
            (ms(5), ms(15))
        );
        let exp = RetryPolicy::exponential(ms(5), 40)
            .with_jitter(false)
            .with_max_delay(ms(100));
        assert_eq!(
            (exp.delay_after(1), exp.delay_after(3), exp.delay_after(30)),
            (ms(5), ms(20), ms(100))
        );
        assert_eq!(RetryPolicy::fixed(ms(1), 0).max_attempts(), 1);
        assert_eq!(RetryPolicy::linear(ms(1), 4).max_attempts(), 4);
        let three = RetryPolicy::fixed(ms(1), 3);
        assert!(three.allows_another(2) && !three.allows_another(3));
    }

    #[test]
    fn jitter_really_varies_the_wait() {
        let policy = RetryPolicy::exponential(Duration::from_millis(100), 5);
        let delays: std::collections::BTreeSet<Duration> =
            (0..200).map(|_| policy.delay_after(2)).collect();
        // 200 draws from a range of 10^8 ns: without jitter there is one
        // value (200 ms); with it, all but certainly many, most below it.
        assert!(delays.len() > 100, "{} distinct waits", delays.len());
        assert!(
            delays
                .first()
                .is_some_and(|&d| d < Duration::from_millis(150)),
            "{delays:?}"
        );
        let unjittered = policy.with_jitter(false);
        assert_eq!(unjittered.delay_after(2), Duration::from_millis(200));
        assert!(!unjittered.jitter() && policy.jitter());
        let fixed = RetryPolicy::fixed(Duration::from_millis(5), 2).with_jitter(true);
        assert!(fixed.delay_after(1) <= Duration::from_millis(5));
    }

    #[test]
    fn jitter_stays_between_half_and_all_of_the_wait() {
        let policy = RetryPolicy::exponential(Duration::from_millis(100), 5);
        for _ in 0..200 {
            let delay = policy.delay_after(2);
            assert!(
                delay >= Duration::from_millis(100) && delay <= Duration::from_millis(200),
                "{delay:?}"
            );
        }
    }
}
