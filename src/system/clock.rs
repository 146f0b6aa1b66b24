//! An injectable clock, so registers, dates and retries can be tested at any instant.
//! Vietnam has one time zone, UTC+07:00, without daylight saving; edXML dates are local.

use std::sync::Arc;

use time::{macros::format_description, OffsetDateTime, UtcOffset};

/// Vietnam's offset from UTC.
pub const VIETNAM: UtcOffset = time::macros::offset!(+7);

/// Something that tells the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The clock the daemon decides renewals and the bundle's standing by: the system's; with
/// the `fault-injection` feature, shifted by the seconds written in the file that
/// `DOCGATE_FAULT_CLOCK_OFFSET_FILE` names (read at each call, so a test moves time while
/// the daemon runs).
pub fn process_clock() -> SharedClock {
    #[cfg(feature = "fault-injection")]
    if let Some(path) = std::env::var_os("DOCGATE_FAULT_CLOCK_OFFSET_FILE") {
        return Arc::new(ShiftedClock(path.into()));
    }
    Arc::new(SystemClock)
}

/// The system clock shifted by the seconds in a file (fault injection only).
#[cfg(feature = "fault-injection")]
#[derive(Debug)]
struct ShiftedClock(std::path::PathBuf);

#[cfg(feature = "fault-injection")]
impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        let offset = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(0);
        OffsetDateTime::now_utc() + time::Duration::seconds(offset)
    }
}

/// A clock that always answers the same instant (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// A clock that answers what it was last set to (tests that move through time, such as
/// a register's year turning at midnight Vietnam time).
#[derive(Debug)]
pub struct SettableClock(std::sync::Mutex<OffsetDateTime>);

impl SettableClock {
    pub fn new(instant: OffsetDateTime) -> SettableClock {
        SettableClock(std::sync::Mutex::new(instant))
    }

    /// From now on the clock answers `instant`.
    pub fn set(&self, instant: OffsetDateTime) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = instant;
    }
}

impl Clock for SettableClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The clock most code takes.
pub type SharedClock = Arc<dyn Clock>;

/// RFC 3339 in UTC with milliseconds, the form stored in the database (sorts as text).
/// Always three digits of fraction: `Rfc3339` leaves the fraction out on a whole second,
/// and `…:00Z` sorts after `…:00.500Z` (`Z` > `.`), so it would sort as a later instant.
pub fn rfc3339_utc(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_else(|_| utc.unix_timestamp().to_string())
}

/// The Vietnam-local date as edXML writes it: `yyyy/MM/dd`.
pub fn edxml_date(instant: OffsetDateTime) -> String {
    let local = instant.to_offset(VIETNAM);
    local
        .format(format_description!("[year]/[month]/[day]"))
        .unwrap_or_default()
}

/// The Vietnam-local year (registers restart on 1 January local time).
pub fn vietnam_year(instant: OffsetDateTime) -> i32 {
    instant.to_offset(VIETNAM).year()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn new_year_is_local_time() {
        // 17:30 UTC on 31 December is 00:30 on 1 January in Hà Nội.
        let instant = datetime!(2026-12-31 17:30 UTC);
        assert_eq!(vietnam_year(instant), 2027);
        assert_eq!(edxml_date(instant), "2027/01/01");
    }

    #[test]
    fn stored_timestamps_are_utc_with_milliseconds() {
        let instant = datetime!(2026-11-21 23:07:46.123456 +7);
        assert_eq!(rfc3339_utc(instant), "2026-11-21T16:07:46.123Z");
        // A whole second keeps its fraction, so it sorts before a later instant.
        let whole = rfc3339_utc(datetime!(2026-12-31 17:00:00 UTC));
        assert_eq!(whole, "2026-12-31T17:00:00.000Z");
        assert!(whole < rfc3339_utc(datetime!(2026-12-31 17:00:00.5 UTC)));
    }
}
