//! When a scheduled job is due: a five-field cron expression read in an IANA
//! timezone (an operator's "02:00" is 02:00 where they are, summer and
//! winter), and the backoff of a transiently failed run.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A validated schedule. Parsing is the only way to make one, so a stored
/// schedule that loads is one the scheduler can follow.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    timezone: Tz,
    cron: Cron,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("the cron expression {expression:?} is not valid: {reason} (five fields: minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\")")]
    Cron { expression: String, reason: String },
    #[error(
        "{0:?} is not an IANA timezone (e.g. \"UTC\", \"Europe/Athens\", \"America/New_York\")"
    )]
    Timezone(String),
    #[error("the cron expression {0:?} never matches a real time")]
    NeverDue(String),
}

impl Schedule {
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        let expression = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        let timezone = timezone
            .trim()
            .parse::<Tz>()
            .map_err(|_| ScheduleError::Timezone(timezone.trim().to_owned()))?;
        if expression.is_empty() {
            return Err(ScheduleError::Cron {
                expression,
                reason: "it is empty".to_owned(),
            });
        }
        // Minutes are the finest grain a job is scheduled at; no seconds or
        // years, so the five fields mean what crontab(5) says they mean.
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expression)
            .map_err(|error| ScheduleError::Cron {
                expression: expression.clone(),
                reason: error.to_string(),
            })?;
        let schedule = Self {
            expression,
            timezone,
            cron,
        };
        // "0 0 31 2 *" parses but would leave a job never due.
        schedule
            .next_after(DateTime::<Utc>::UNIX_EPOCH)
            .ok_or_else(|| ScheduleError::NeverDue(schedule.expression.clone()))?;
        Ok(schedule)
    }

    /// The expression, with its whitespace normalized.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> &str {
        self.timezone.name()
    }

    /// The first slot strictly after `instant`. A local time skipped by a
    /// DST change runs at the first real instant after the gap; a local time
    /// that happens twice runs once.
    pub fn next_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = instant.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|next| next.with_timezone(&Utc))
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.timezone.name())
    }
}

/// The delay before retrying a run that failed transiently for the
/// `attempt`-th time (1 for the first failure): `base · 2^(attempt-1)`,
/// capped at `cap`.
pub fn retry_backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    base.saturating_mul(2u32.saturating_pow(exponent)).min(cap)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn a_nightly_job_runs_at_two_in_the_operators_timezone() {
        let nightly = Schedule::parse("0 2 * * *", "Europe/Athens").unwrap();
        // Winter: Athens is UTC+2.
        assert_eq!(
            nightly.next_after(utc(2026, 1, 10, 12, 0)),
            Some(utc(2026, 1, 11, 0, 0))
        );
        // Summer: UTC+3.
        assert_eq!(
            nightly.next_after(utc(2026, 7, 10, 12, 0)),
            Some(utc(2026, 7, 10, 23, 0))
        );
        let utc_nightly = Schedule::parse("0 2 * * *", "UTC").unwrap();
        assert_eq!(
            utc_nightly.next_after(utc(2026, 7, 10, 2, 0)),
            Some(utc(2026, 7, 11, 2, 0)),
            "strictly after: a slot equal to the instant is not next"
        );
    }

    #[test]
    fn a_slot_in_the_spring_gap_runs_once_right_after_it() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT; 02:30 never is.
        let schedule = Schedule::parse("30 2 * * *", "America/New_York").unwrap();
        let next = schedule.next_after(utc(2026, 3, 8, 5, 0)).unwrap();
        assert_eq!(next, utc(2026, 3, 8, 7, 0), "03:00 EDT, the end of the gap");
        // The day after is back to normal: 02:30 EDT.
        assert_eq!(schedule.next_after(next), Some(utc(2026, 3, 9, 6, 30)));
    }

    #[test]
    fn a_slot_in_the_autumn_overlap_runs_once() {
        // Athens, 2026-10-25: 04:00 EEST falls back to 03:00 EET; 03:30 happens twice.
        let schedule = Schedule::parse("30 3 * * *", "Europe/Athens").unwrap();
        let first = schedule.next_after(utc(2026, 10, 24, 12, 0)).unwrap();
        assert_eq!(first, utc(2026, 10, 25, 0, 30), "the first 03:30, EEST");
        let second = schedule.next_after(first).unwrap();
        assert_eq!(second, utc(2026, 10, 26, 1, 30), "not again an hour later");
    }

    #[test]
    fn an_hourly_job_keeps_its_hours_across_dst() {
        let hourly = Schedule::parse("0 * * * *", "America/New_York").unwrap();
        let mut at = utc(2026, 3, 8, 5, 30);
        let mut slots = Vec::new();
        for _ in 0..3 {
            at = hourly.next_after(at).unwrap();
            slots.push(at);
        }
        assert_eq!(
            slots,
            vec![
                utc(2026, 3, 8, 6, 0),
                utc(2026, 3, 8, 7, 0),
                utc(2026, 3, 8, 8, 0)
            ]
        );
    }

    #[test]
    fn invalid_expressions_and_timezones_say_what_is_wrong() {
        let error = Schedule::parse("0 25 * * *", "UTC").unwrap_err();
        assert!(matches!(error, ScheduleError::Cron { .. }), "{error}");
        assert!(error.to_string().contains("\"0 25 * * *\""), "{error}");
        for bad in ["", "every night", "0 2 * *", "0 0 2 * * * 2026"] {
            assert!(
                matches!(Schedule::parse(bad, "UTC"), Err(ScheduleError::Cron { .. })),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            Schedule::parse("0 2 * * *", "Mars/Olympus").unwrap_err(),
            ScheduleError::Timezone("Mars/Olympus".to_owned())
        );
        assert!(matches!(
            Schedule::parse("0 0 31 2 *", "UTC"),
            Err(ScheduleError::NeverDue(_))
        ));
    }

    #[test]
    fn the_expression_is_kept_normalized() {
        let schedule = Schedule::parse("  0   2 * *  * ", " Europe/Athens ").unwrap();
        assert_eq!(schedule.expression(), "0 2 * * *");
        assert_eq!(schedule.timezone(), "Europe/Athens");
        assert_eq!(schedule.to_string(), "0 2 * * * (Europe/Athens)");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let (base, cap) = (Duration::from_secs(30), Duration::from_secs(600));
        let delays: Vec<u64> = (1..=7)
            .map(|attempt| retry_backoff(base, cap, attempt).as_secs())
            .collect();
        assert_eq!(delays, vec![30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(retry_backoff(base, cap, u32::MAX), cap);
    }
}
