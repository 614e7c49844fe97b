//! The one clock: `SOURCE_DATE_EPOCH` when set, else the system time.

use chrono::{DateTime, Utc};

use crate::error::Error;

/// Reads the clock once; everything downstream receives the value.
pub fn now() -> Result<DateTime<Utc>, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(raw) => from_epoch(&raw),
        Err(_) => Ok(Utc::now()),
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value (whole seconds since 1970).
pub fn from_epoch(raw: &str) -> Result<DateTime<Utc>, Error> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| Error::BadEpoch(raw.to_string()))
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
    }
}
