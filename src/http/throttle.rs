//! Slows down password guessing, the way ASVS L2 asks, without letting
//! anyone lock an operator out: failures are counted per (email, source
//! address), per source address and per email.
//!
//! - 5 failures for one email from one address lock that pair for a while;
//!   the operator, signing in from elsewhere, is not locked out by them.
//! - 30 failures from one address, whatever the emails, lock the address
//!   (password spraying).
//! - 5 failures for one email from anywhere slow every further attempt for
//!   it by [`SLOWDOWN`]: guessing from many addresses gets slow, and the
//!   right password still gets through.
//!
//! One policy for the operator API and the console. Kept in memory: each
//! instance counts its own attempts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{self, SharedClock};

/// Failures of one (email, address) pair within [`WINDOW`] that lock it.
pub const MAX_FAILURES: u32 = 5;
/// Failures from one address within [`WINDOW`] that lock the address.
pub const MAX_ADDRESS_FAILURES: u32 = 30;
/// Failures for one email within [`WINDOW`] after which its attempts are slowed.
pub const SLOW_AFTER_FAILURES: u32 = 5;
/// The delay of an attempt for an email that is being guessed.
pub const SLOWDOWN: Duration = Duration::from_secs(2);
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long sign-in stays locked after the failure that locked it.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, expired entries are swept.
const SWEEP_AT: usize = 10_000;

/// Who tries: the account (an email, or another name of a secret being
/// checked) and the address the attempt comes from.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub account: &'a str,
    pub address: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    pub fn new(account: &'a str, address: Option<&'a str>) -> Self {
        Self { account, address }
    }

    fn address(&self) -> &'a str {
        self.address.unwrap_or("unknown")
    }

    fn pair_key(&self) -> String {
        format!("pair\u{1f}{}\u{1f}{}", self.account, self.address())
    }

    fn address_key(&self) -> String {
        format!("address\u{1f}{}", self.address())
    }

    fn account_key(&self) -> String {
        format!("account\u{1f}{}", self.account)
    }
}

/// What an attempt may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Go after this delay.
    Slow(Duration),
    /// Refused for this long.
    Locked(Duration),
}

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
    fn reached(&self, limit: u32, now: Instant) -> bool {
        self.count >= limit && now.duration_since(self.last) < LOCKOUT
    }

    /// Whether these failures no longer count: a lockout that has ended, or
    /// fewer failures than `limit` that are older than the window. Either way
    /// the next failure starts a new count.
    fn has_expired(&self, limit: u32, now: Instant) -> bool {
        if self.count >= limit {
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

    /// Whether `attempt` may go ahead now.
    pub fn check(&self, attempt: Attempt<'_>) -> Verdict {
        let now = self.clock.now();
        let failures = self.lock();
        let locked = [
            (attempt.pair_key(), MAX_FAILURES),
            (attempt.address_key(), MAX_ADDRESS_FAILURES),
        ]
        .into_iter()
        .filter_map(|(key, limit)| {
            failures
                .get(&key)
                .filter(|f| f.reached(limit, now))
                .map(|f| LOCKOUT - now.duration_since(f.last))
        })
        .max();
        if let Some(wait) = locked {
            return Verdict::Locked(wait);
        }
        match failures.get(&attempt.account_key()) {
            Some(f) if f.reached(SLOW_AFTER_FAILURES, now) => Verdict::Slow(SLOWDOWN),
            _ => Verdict::Go,
        }
    }

    pub fn failed(&self, attempt: Attempt<'_>) {
        let now = self.clock.now();
        let mut failures = self.lock();
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, f| !f.has_expired(MAX_ADDRESS_FAILURES.max(MAX_FAILURES), now));
        }
        for (key, limit) in [
            (attempt.pair_key(), MAX_FAILURES),
            (attempt.address_key(), MAX_ADDRESS_FAILURES),
            (attempt.account_key(), SLOW_AFTER_FAILURES),
        ] {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                first: now,
                last: now,
            });
            if entry.has_expired(limit, now) {
                *entry = Failures {
                    count: 0,
                    first: now,
                    last: now,
                };
            }
            entry.count += 1;
            entry.last = now;
        }
    }

    /// The right secret: the pair's and the account's failures are
    /// forgotten (the address's stay: it may be guessing other emails).
    pub fn succeeded(&self, attempt: Attempt<'_>) {
        let mut failures = self.lock();
        failures.remove(&attempt.pair_key());
        failures.remove(&attempt.account_key());
    }

    /// Waits as `check` says, or answers how long the attempt is locked.
    pub async fn admit(&self, attempt: Attempt<'_>) -> Result<(), Duration> {
        match self.check(attempt) {
            Verdict::Go => Ok(()),
            Verdict::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Verdict::Locked(wait) => Err(wait),
        }
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
    const HERE: Attempt<'static> = Attempt {
        account: EMAIL,
        address: Some("10.0.0.1"),
    };

    fn throttle() -> (Arc<ManualClock>, LoginThrottle) {
        let clock = Arc::new(ManualClock::new());
        let throttle = LoginThrottle::new(clock.clone());
        (clock, throttle)
    }

    fn fail(throttle: &LoginThrottle, attempt: Attempt<'_>, times: u32) {
        for _ in 0..times {
            throttle.failed(attempt);
        }
    }

    #[test]
    fn locks_a_pair_after_repeated_failures_and_forgets_on_success() {
        let (_, throttle) = throttle();
        fail(&throttle, HERE, MAX_FAILURES - 1);
        assert_eq!(throttle.check(HERE), Verdict::Go);
        throttle.failed(HERE);
        assert_eq!(throttle.check(HERE), Verdict::Locked(LOCKOUT));
        assert_eq!(
            throttle.check(Attempt::new("b@example.com", HERE.address)),
            Verdict::Go
        );
        throttle.succeeded(HERE);
        assert_eq!(throttle.check(HERE), Verdict::Go);
    }

    #[test]
    fn another_address_is_not_locked_out_but_slowed() {
        let (_, throttle) = throttle();
        fail(&throttle, HERE, MAX_FAILURES);
        let elsewhere = Attempt::new(EMAIL, Some("192.0.2.7"));
        assert_eq!(throttle.check(elsewhere), Verdict::Slow(SLOWDOWN));
        throttle.succeeded(elsewhere);
        assert_eq!(throttle.check(elsewhere), Verdict::Go);
        assert_eq!(
            throttle.check(HERE),
            Verdict::Locked(LOCKOUT),
            "the guessing pair stays locked"
        );
    }

    #[test]
    fn guessing_from_many_addresses_is_slowed() {
        let (_, throttle) = throttle();
        for i in 0..SLOW_AFTER_FAILURES {
            let address = format!("10.1.0.{i}");
            throttle.failed(Attempt::new(EMAIL, Some(&address)));
        }
        assert_eq!(
            throttle.check(Attempt::new(EMAIL, Some("10.2.0.1"))),
            Verdict::Slow(SLOWDOWN)
        );
    }

    #[test]
    fn spraying_many_emails_from_one_address_locks_the_address() {
        let (_, throttle) = throttle();
        for i in 0..MAX_ADDRESS_FAILURES - 1 {
            let email = format!("user{i}@example.com");
            throttle.failed(Attempt::new(&email, HERE.address));
        }
        assert_eq!(
            throttle.check(Attempt::new("new@example.com", HERE.address)),
            Verdict::Go
        );
        throttle.failed(Attempt::new("last@example.com", HERE.address));
        assert_eq!(
            throttle.check(Attempt::new("new@example.com", HERE.address)),
            Verdict::Locked(LOCKOUT)
        );
        assert_eq!(
            throttle.check(Attempt::new("new@example.com", Some("10.9.9.9"))),
            Verdict::Go
        );
    }

    #[test]
    fn a_lockout_ends_after_its_time_and_the_count_starts_again() {
        let (clock, throttle) = throttle();
        fail(&throttle, HERE, MAX_FAILURES);
        clock.advance(LOCKOUT - Duration::from_secs(60));
        assert_eq!(
            throttle.check(HERE),
            Verdict::Locked(Duration::from_secs(60))
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(throttle.check(HERE), Verdict::Go, "the lockout has ended");
        // One more wrong password after the lockout is one failure, not a
        // new lockout.
        throttle.failed(HERE);
        assert_eq!(throttle.check(HERE), Verdict::Go);
        fail(&throttle, HERE, MAX_FAILURES - 2);
        assert_eq!(throttle.check(HERE), Verdict::Go);
        throttle.failed(HERE);
        assert!(matches!(throttle.check(HERE), Verdict::Locked(_)));
    }

    #[test]
    fn failures_older_than_the_window_stop_counting() {
        let (clock, throttle) = throttle();
        fail(&throttle, HERE, MAX_FAILURES - 1);
        clock.advance(WINDOW + Duration::from_secs(1));
        throttle.failed(HERE);
        assert_eq!(
            throttle.check(HERE),
            Verdict::Go,
            "four old failures and a new one"
        );
        fail(&throttle, HERE, MAX_FAILURES - 1);
        assert!(matches!(throttle.check(HERE), Verdict::Locked(_)));
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
