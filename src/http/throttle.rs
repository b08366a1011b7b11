//! Slows down password guessing: after a few failed sign-ins for an email,
//! further attempts are refused for a while. One policy for the operator API
//! and the console. Kept in memory: each instance counts its own attempts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{self, SharedClock};

/// Failures tolerated within [`WINDOW`] before sign-in is locked.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long sign-in stays locked after the failure that locked it.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked emails, expired entries are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct LoginThrottle {
    clock: SharedClock,
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    first: Instant,
    last: Instant,
}

impl Failures {
    fn is_locked(&self, now: Instant) -> bool {
        self.count >= MAX_FAILURES && now.duration_since(self.last) < LOCKOUT
    }

    /// Whether these failures no longer count: a lockout that has ended, or
    /// fewer failures than a lockout that are older than the window. Either
    /// way the next failure starts a new count.
    fn has_expired(&self, now: Instant) -> bool {
        if self.count >= MAX_FAILURES {
            now.duration_since(self.last) >= LOCKOUT
        } else {
            now.duration_since(self.first) > WINDOW
        }
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(clock::system())
    }
}

impl LoginThrottle {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the email is locked out.
    pub fn check(&self, email: &str) -> Result<(), Duration> {
        let now = self.clock.now();
        match self.lock().get(email) {
            Some(f) if f.is_locked(now) => Err(LOCKOUT - now.duration_since(f.last)),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, email: &str) {
        let now = self.clock.now();
        let mut failures = self.lock();
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| !f.has_expired(now));
        }
        let entry = failures.entry(email.to_owned()).or_insert(Failures {
            count: 0,
            first: now,
            last: now,
        });
        if entry.has_expired(now) {
            *entry = Failures {
                count: 0,
                first: now,
                last: now,
            };
        }
        entry.count += 1;
        entry.last = now;
    }

    pub fn succeeded(&self, email: &str) {
        self.lock().remove(email);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// At most so many events per key within a sliding window: the public
/// "send me a new link" form's limit per address. In memory, per instance.
#[derive(Debug)]
pub struct RateLimit {
    clock: SharedClock,
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl RateLimit {
    pub fn new(clock: SharedClock, max: usize, window: Duration) -> Self {
        Self {
            clock,
            max,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event for `key`; false when the key is over its limit
    /// (the refused event is not counted).
    pub fn allow(&self, key: &str) -> bool {
        let now = self.clock.now();
        let mut hits = self
            .hits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hits.len() >= SWEEP_AT {
            hits.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < self.window)
            });
        }
        let times = hits.entry(key.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            times.pop_front();
        }
        if times.len() >= self.max {
            return false;
        }
        times.push_back(now);
        true
    }
}

/// "3 minutes", for people.
pub fn minutes(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    if minutes == 1 {
        "1 minute".into()
    } else {
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    const EMAIL: &str = "a@example.com";

    fn throttle() -> (Arc<ManualClock>, LoginThrottle) {
        let clock = Arc::new(ManualClock::new());
        let throttle = LoginThrottle::new(clock.clone());
        (clock, throttle)
    }

    fn fail(throttle: &LoginThrottle, times: u32) {
        for _ in 0..times {
            throttle.failed(EMAIL);
        }
    }

    #[test]
    fn locks_after_repeated_failures_and_forgets_on_success() {
        let (_, throttle) = throttle();
        fail(&throttle, MAX_FAILURES - 1);
        assert!(throttle.check(EMAIL).is_ok());
        throttle.failed(EMAIL);
        assert_eq!(throttle.check(EMAIL), Err(LOCKOUT));
        assert!(throttle.check("b@example.com").is_ok());
        throttle.succeeded(EMAIL);
        assert!(throttle.check(EMAIL).is_ok());
    }

    #[test]
    fn a_lockout_ends_after_its_time_and_the_count_starts_again() {
        let (clock, throttle) = throttle();
        fail(&throttle, MAX_FAILURES);
        clock.advance(LOCKOUT - Duration::from_secs(60));
        assert_eq!(throttle.check(EMAIL), Err(Duration::from_secs(60)));
        clock.advance(Duration::from_secs(60));
        assert!(throttle.check(EMAIL).is_ok(), "the lockout has ended");
        // One more wrong password after the lockout is one failure, not a
        // new lockout.
        throttle.failed(EMAIL);
        assert!(throttle.check(EMAIL).is_ok());
        fail(&throttle, MAX_FAILURES - 2);
        assert!(throttle.check(EMAIL).is_ok());
        throttle.failed(EMAIL);
        assert!(throttle.check(EMAIL).is_err());
    }

    #[test]
    fn failures_older_than_the_window_stop_counting() {
        let (clock, throttle) = throttle();
        fail(&throttle, MAX_FAILURES - 1);
        clock.advance(WINDOW + Duration::from_secs(1));
        throttle.failed(EMAIL);
        assert!(
            throttle.check(EMAIL).is_ok(),
            "four old failures and a new one"
        );
        fail(&throttle, MAX_FAILURES - 1);
        assert!(throttle.check(EMAIL).is_err());
    }

    #[test]
    fn a_rate_limit_slides_with_its_window() {
        let clock = Arc::new(ManualClock::new());
        let limit = RateLimit::new(clock.clone(), 2, Duration::from_secs(60));
        assert!(limit.allow("10.0.0.1"));
        clock.advance(Duration::from_secs(30));
        assert!(limit.allow("10.0.0.1"));
        assert!(!limit.allow("10.0.0.1"));
        assert!(limit.allow("10.0.0.2"), "each key has its own count");
        clock.advance(Duration::from_secs(30));
        assert!(limit.allow("10.0.0.1"), "the first event left the window");
        assert!(!limit.allow("10.0.0.1"));
    }
}
