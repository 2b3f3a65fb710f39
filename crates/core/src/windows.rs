//! Promotion windows of a transition (`windows:` in `transitions.yaml`): when a
//! promotion may run. Pure: the caller passes the time.
//!
//! ```text
//!   deny  window open now                    ──▶ closed ("frozen"), until it ends
//!   allow windows exist, none of them open   ──▶ closed, until the next one starts
//!   otherwise                                ──▶ open
//! ```
//!
//! A window starts at each time of its cron expression, read as wall-clock time
//! in its time zone (so `0 0 9 * * Mon` is 09:00 in Berlin in summer and in
//! winter), and lasts `duration` of real time from there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// Whether a window forbids or allows promotions while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Deny,
    Allow,
}

/// One window of a transition.
#[derive(Debug, Clone)]
pub struct Window {
    pub kind: WindowKind,
    /// The cron expression as written (seconds first).
    pub cron_text: String,
    pub schedule: cron::Schedule,
    pub duration: Duration,
    pub timezone: Tz,
    /// Why the window exists, shown while it keeps a promotion back.
    pub reason: Option<String>,
}

/// How many window starts are looked at when searching for the next opening.
const SEARCH_STEPS: usize = 1000;

impl Window {
    /// The end of this window if it is open at `now` (the latest end of the
    /// occurrences that started at or before `now`).
    pub fn open_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let length = chrono::Duration::from_std(self.duration).ok()?;
        let from = (now - length).with_timezone(&self.timezone);
        let mut end = None;
        // `after` is strict; a start exactly `length` before now has already ended.
        for start in self.schedule.after(&from) {
            let start = start.with_timezone(&Utc);
            if start > now {
                break;
            }
            let until = start + length;
            if until > now {
                end = end.max(Some(until));
            }
        }
        end
    }

    /// The first start strictly after `after`.
    pub fn next_start(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&after.with_timezone(&self.timezone))
            .next()
            .map(|t| t.with_timezone(&Utc))
    }

    /// `deny "0 0 18 * * Fri" for 64h (Europe/Berlin): weekend freeze`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            WindowKind::Deny => "deny",
            WindowKind::Allow => "allow",
        };
        let mut text = format!(
            "{kind} window {:?} for {} ({})",
            self.cron_text,
            crate::duration::format_duration(self.duration),
            self.timezone.name()
        );
        if let Some(reason) = &self.reason {
            text.push_str(&format!(": {reason}"));
        }
        text
    }
}

/// Whether the windows let a promotion run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Closed: why, and when it opens next (`None`: not within the searched future).
    Closed {
        why: String,
        until: Option<DateTime<Utc>>,
    },
}

/// The gate of a transition's windows at `now`.
pub fn gate(windows: &[Window], now: DateTime<Utc>) -> Gate {
    match closed_by(windows, now) {
        None => Gate::Open,
        Some(why) => Gate::Closed {
            why,
            until: next_opening(windows, now),
        },
    }
}

/// Why the windows are closed at `at`, or `None` when they are open.
fn closed_by(windows: &[Window], at: DateTime<Utc>) -> Option<String> {
    if let Some(deny) = windows
        .iter()
        .find(|w| w.kind == WindowKind::Deny && w.open_until(at).is_some())
    {
        return Some(format!("inside {}", deny.describe()));
    }
    let allows: Vec<&Window> = windows.iter().filter(|w| w.kind == WindowKind::Allow).collect();
    if !allows.is_empty() && !allows.iter().any(|w| w.open_until(at).is_some()) {
        let names = allows.iter().map(|w| w.describe()).collect::<Vec<_>>().join("; ");
        return Some(format!("outside every allow window ({names})"));
    }
    None
}

/// The first time from `now` on when the windows are open: the end of an open
/// deny window or the start of an allow window, whichever opens the gate first.
fn next_opening(windows: &[Window], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut at = now;
    for _ in 0..SEARCH_STEPS {
        if closed_by(windows, at).is_none() {
            return Some(at);
        }
        let deny_end = windows
            .iter()
            .filter(|w| w.kind == WindowKind::Deny)
            .filter_map(|w| w.open_until(at))
            .max();
        at = match deny_end {
            Some(end) => end,
            None => windows
                .iter()
                .filter(|w| w.kind == WindowKind::Allow)
                .filter_map(|w| w.next_start(at))
                .min()?,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn window(kind: WindowKind, cron_text: &str, hours: u64, tz: &str) -> Window {
        Window {
            kind,
            cron_text: cron_text.into(),
            schedule: cron::Schedule::from_str(cron_text).unwrap(),
            duration: Duration::from_secs(hours * 3600),
            timezone: tz.parse().unwrap(),
            reason: Some("weekend freeze".into()),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn deny_window_closes_until_its_end() {
        let deny = [window(WindowKind::Deny, "0 0 18 * * Fri", 64, "UTC")];
        assert_eq!(gate(&deny, at("2026-11-27T17:59:59Z")), Gate::Open);
        let Gate::Closed { why, until } = gate(&deny, at("2026-11-28T12:00:00Z")) else {
            panic!("Saturday is inside the weekend freeze");
        };
        assert!(why.contains("weekend freeze"), "{why}");
        assert_eq!(until, Some(at("2026-11-30T10:00:00Z")));
        assert_eq!(gate(&deny, at("2026-11-30T10:00:00Z")), Gate::Open);
    }

    #[test]
    fn allow_windows_open_only_inside_one() {
        let allow = [window(WindowKind::Allow, "0 0 9 * * Mon-Thu", 8, "UTC")];
        assert_eq!(gate(&allow, at("2026-11-30T09:00:00Z")), Gate::Open);
        assert_eq!(gate(&allow, at("2026-11-30T16:59:59Z")), Gate::Open);
        let Gate::Closed { why, until } = gate(&allow, at("2026-11-30T17:00:00Z")) else {
            panic!("closed after the 8 hours");
        };
        assert!(why.starts_with("outside every allow window"), "{why}");
        assert_eq!(until, Some(at("2026-12-01T09:00:00Z")));
        // Friday evening: the next allow window is Monday morning.
        let Gate::Closed { until, .. } = gate(&allow, at("2026-12-04T18:00:00Z")) else {
            panic!("closed on Friday");
        };
        assert_eq!(until, Some(at("2026-12-07T09:00:00Z")));
    }

    #[test]
    fn deny_wins_over_allow_and_the_opening_skips_past_both() {
        let windows = [
            window(WindowKind::Allow, "0 0 9 * * *", 8, "UTC"),
            window(WindowKind::Deny, "0 0 8 * * *", 3, "UTC"),
        ];
        let Gate::Closed { why, until } = gate(&windows, at("2026-11-30T10:00:00Z")) else {
            panic!("the deny window is open");
        };
        assert!(why.starts_with("inside deny window"), "{why}");
        assert_eq!(until, Some(at("2026-11-30T11:00:00Z")));
    }

    #[test]
    fn named_time_zone_follows_wall_clock_across_dst() {
        // Europe/Berlin leaves summer time on 2026-10-25: 09:00 local is 07:00 UTC
        // before and 08:00 UTC after.
        let allow = [window(WindowKind::Allow, "0 0 9 * * *", 1, "Europe/Berlin")];
        assert_eq!(gate(&allow, at("2026-10-24T07:30:00Z")), Gate::Open);
        assert!(matches!(gate(&allow, at("2026-10-24T08:30:00Z")), Gate::Closed { .. }));
        let Gate::Closed { until, .. } = gate(&allow, at("2026-10-24T08:30:00Z")) else {
            unreachable!()
        };
        assert_eq!(
            until,
            Some(at("2026-10-25T08:00:00Z")),
            "the first morning of winter time"
        );
        assert!(matches!(gate(&allow, at("2026-10-26T07:30:00Z")), Gate::Closed { .. }));
        assert_eq!(gate(&allow, at("2026-10-26T08:30:00Z")), Gate::Open);
    }

    #[test]
    fn a_window_that_never_opens_has_no_end() {
        let allow = [window(WindowKind::Allow, "0 0 9 1 1 * 2020", 1, "UTC")];
        assert_eq!(
            gate(&allow, at("2026-11-30T10:00:00Z")),
            Gate::Closed {
                why: "outside every allow window (allow window \"0 0 9 1 1 * 2020\" for 1h (UTC): weekend freeze)"
                    .into(),
                until: None
            }
        );
    }
}
