//! Slows down password guessing: after a few failed sign-ins for an email,
//! further attempts are refused for a while. One policy for the operator API
//! and the console. Kept in memory: each instance counts its own attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures tolerated within [`WINDOW`] before sign-in is locked.
pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked emails, expired entries are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Failures>>,
}

struct Failures {
    count: u32,
    first: Instant,
    last: Instant,
}

impl LoginThrottle {
    /// `Err(wait)` while the email is locked out.
    pub fn check(&self, email: &str) -> Result<(), Duration> {
        let failures = self.lock();
        match failures.get(email) {
            Some(f) if f.count >= MAX_FAILURES && f.last.elapsed() < LOCKOUT => {
                Err(LOCKOUT - f.last.elapsed())
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, email: &str) {
        let mut failures = self.lock();
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| f.last.elapsed() < LOCKOUT.max(WINDOW));
        }
        let now = Instant::now();
        let entry = failures.entry(email.to_owned()).or_insert(Failures {
            count: 0,
            first: now,
            last: now,
        });
        if entry.first.elapsed() > WINDOW && entry.count < MAX_FAILURES {
            entry.count = 0;
            entry.first = now;
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
    use super::*;

    #[test]
    fn locks_after_repeated_failures_and_forgets_on_success() {
        let throttle = LoginThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.failed("a@example.com");
        }
        assert!(throttle.check("a@example.com").is_ok());
        throttle.failed("a@example.com");
        assert!(throttle.check("a@example.com").is_err());
        assert!(throttle.check("b@example.com").is_ok());
        throttle.succeeded("a@example.com");
        assert!(throttle.check("a@example.com").is_ok());
    }
}
