//! RFC 3339 timestamps (UTC) without a date crate: Go's RFC3339Nano for
//! `created` (trailing zeros trimmed, as runc prints it) and whole seconds for
//! log lines.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn format(secs: i64, nanos: u32, with_nanos: bool) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if with_nanos && nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

fn now_parts() -> (i64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// Now, as Go's time.RFC3339Nano in UTC.
pub fn now_rfc3339_nano() -> String {
    let (s, n) = now_parts();
    format(s, n, true)
}

/// Now, as RFC 3339 with whole seconds (logrus' default).
pub fn now_rfc3339() -> String {
    let (s, _) = now_parts();
    format(s, 0, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format(0, 0, true), "1970-01-01T00:00:00Z");
        assert_eq!(
            format(1_795_460_561, 564_248_780, true),
            "2026-11-23T19:02:41.56424878Z"
        );
        assert_eq!(format(951_782_400, 0, false), "2000-02-29T00:00:00Z");
        assert_eq!(format(-1, 0, false), "1969-12-31T23:59:59Z");
    }
}
