//! RFC 3339 timestamps with nanoseconds in UTC (Go's `RFC3339Nano` layout
//! as the kubelet writes it, but with all nine digits kept so lines sort
//! as text): `2026-12-01T23:11:02.123456789Z`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current wall-clock time (CLOCK_REALTIME).
pub fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format(d.as_secs() as i64, d.subsec_nanos())
}

/// Formats seconds since the epoch plus nanoseconds.
pub fn format(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar: Howard Hinnant's `civil_from_days`, eras of 400 years.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(format(0, 0), "1970-01-01T00:00:00.000000000Z");
        // `date -u -d @1796166662` = Tue Dec  1 23:11:02 UTC 2026
        assert_eq!(
            format(1_796_166_662, 123_456_789),
            "2026-12-01T23:11:02.123456789Z"
        );
        // A leap day and the last second of a century leap year.
        assert_eq!(format(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(format(978_307_199, 0), "2000-12-31T23:59:59.000000000Z");
    }

    #[test]
    fn every_day_round_trips_through_the_calendar() {
        // Day numbers increase by one and dates stay valid across 1000 years.
        let mut prev = civil_from_days(-1);
        for z in 0..365_250 {
            let (y, m, d) = civil_from_days(z);
            let next_day = (y, m, d) > prev;
            assert!(next_day && (1..=12).contains(&m) && (1..=31).contains(&d));
            prev = (y, m, d);
        }
        // `date -u -d @$((365249*86400))` = Sun Jan  7 00:00:00 UTC 2970
        assert_eq!(prev, (2970, 1, 7));
    }

    #[test]
    fn now_has_the_fixed_shape() {
        let s = now();
        assert_eq!(s.len(), 30, "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T');
    }
}
