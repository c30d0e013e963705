//! Wall-clock timestamps in the reference's RFC 3339 UTC form
//! (`2026-11-21T05:17:26.111028Z`), and a loose check of incoming timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_unix(d.as_secs() as i64, d.subsec_micros())
}

/// Format seconds since the epoch plus microseconds as UTC RFC 3339.
pub fn format_unix(secs: i64, micros: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// True when `s` looks like an ISO 8601 date-time: `YYYY-MM-DD[T ]HH:MM`
/// optionally followed by `:SS`, a fraction and `Z` or `±HH:MM`.
pub fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r.clone())
            .is_some_and(|x| x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 16
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
    {
        return false;
    }
    let mut i = 16;
    if b.get(i) == Some(&b':') {
        if !digits(i + 1..i + 3) {
            return false;
        }
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    match &b[i..] {
        [] | [b'Z'] | [b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instant() {
        assert_eq!(format_unix(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_unix(1_772_368_200, 5), "2026-03-01T12:30:00.000005Z");
    }

    #[test]
    fn recognises_datetimes() {
        for ok in [
            "2026-03-01T12:30:00Z",
            "2026-03-01T12:30:00.123456Z",
            "2026-03-01T12:30",
            "2026-03-01 12:30:00+02:00",
        ] {
            assert!(is_datetime(ok), "{ok}");
        }
        for bad in [
            "",
            "yesterday",
            "2026-03-01",
            "2026-03-01T12:30:00.Z",
            "2026-03-01T12:30:00+0200x",
        ] {
            assert!(!is_datetime(bad), "{bad}");
        }
    }
}

// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of a UTC timestamp as this module writes it
/// (`YYYY-MM-DDTHH:MM:SS[.f]Z`); `None` for anything else.
pub fn parse_seconds(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut t = time.split(':');
    let (h, min): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec: f64 = t.next()?.parse().ok()?;
    Some((days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn parse_inverts_format() {
        let text = format_unix(1_763_700_000, 250_000);
        assert_eq!(parse_seconds(&text), Some(1_763_700_000.25));
    }
}

/// Microseconds since the epoch of any timestamp `is_datetime` accepts
/// (`T` or space, optional seconds and fraction, `Z`, `±HH:MM` or no zone,
/// which is read as UTC). Orders work items by `Created-At`.
pub fn parse_micros(s: &str) -> Option<i64> {
    if !is_datetime(s) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    let mut micros = (days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60) * 1_000_000;
    let mut rest = &s[16..];
    if let Some(r) = rest.strip_prefix(':') {
        micros += r.get(0..2)?.parse::<i64>().ok()? * 1_000_000;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            let frac: String = r[..digits]
                .chars()
                .chain("000000".chars())
                .take(6)
                .collect();
            micros += frac.parse::<i64>().ok()?;
            rest = &r[digits..];
        }
    }
    if let Some(sign) = rest.chars().next().filter(|c| matches!(c, '+' | '-')) {
        let offset = (rest.get(1..3)?.parse::<i64>().ok()? * 60
            + rest.get(4..6)?.parse::<i64>().ok()?)
            * 60_000_000;
        micros -= if sign == '+' { offset } else { -offset };
    }
    Some(micros)
}

#[cfg(test)]
mod micros_tests {
    use super::*;

    #[test]
    fn orders_across_zones_and_precisions() {
        let a = parse_micros("2026-03-01T12:30:00.5Z").unwrap();
        assert_eq!(a % 1_000_000, 500_000);
        assert_eq!(
            parse_micros("2026-03-01T14:30:00.500000+02:00"),
            Some(a),
            "an offset is the same instant"
        );
        assert_eq!(parse_micros("2026-03-01 12:30"), Some(a - 500_000));
        assert!(
            parse_micros("2026-03-01T12:29:59Z").unwrap()
                < parse_micros("2026-03-01T12:30Z").unwrap()
        );
        assert_eq!(parse_micros("soon"), None);
    }
}
