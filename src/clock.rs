//! The one clock: `SOURCE_DATE_EPOCH` when set, else the system time.

use chrono::{DateTime, Utc};

use crate::error::Error;

/// The last second a clock may read: 9999-12-31T23:59:59Z. Ids are 14 digits
/// (`YYYYMMDDHHMMSS`), and every date the lock or the plan derives from the clock (adding a
/// max_age of up to a year) must stay far inside chrono's range.
pub const LATEST: i64 = 253_402_300_799;

/// Reads the clock once; everything downstream receives the value. A clock outside
/// 1970..=9999 (`SOURCE_DATE_EPOCH` or the system's) is refused.
pub fn now() -> Result<DateTime<Utc>, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(raw) => from_epoch(&raw),
        Err(_) => {
            let now = Utc::now();
            in_range(now.timestamp())
                .map(|_| now)
                .ok_or_else(|| Error::BadClock(now.timestamp().to_string()))
        }
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value (whole seconds since 1970, up to the end of 9999).
pub fn from_epoch(raw: &str) -> Result<DateTime<Utc>, Error> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .and_then(in_range)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| Error::BadEpoch(raw.to_string()))
}

fn in_range(secs: i64) -> Option<i64> {
    (0..=LATEST).contains(&secs).then_some(secs)
}

/// The real time, for judging live certificates: `SOURCE_DATE_EPOCH` dates what a build makes,
/// and a pipeline that sets it must still be told when a server's certificate really expires
/// (the TLS libraries of senders judge it at the real time too).
pub fn wall() -> i64 {
    Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_parses_whole_seconds() {
        assert_eq!(from_epoch("0").unwrap().timestamp(), 0);
        assert_eq!(
            from_epoch(" 1700000000\n").unwrap().timestamp(),
            1_700_000_000
        );
    }

    #[test]
    fn epoch_rejects_garbage() {
        assert!(from_epoch("yesterday").is_err());
        assert!(from_epoch("1.5").is_err());
        assert!(from_epoch("99999999999999999").is_err());
        assert!(from_epoch("-1").is_err(), "before 1970");
        assert!(from_epoch("253402300800").is_err(), "year 10000");
        assert_eq!(
            from_epoch("253402300799").unwrap().to_rfc3339(),
            "9999-12-31T23:59:59+00:00"
        );
    }
}
