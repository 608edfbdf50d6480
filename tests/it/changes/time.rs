//! Time as the tests read it: now, and an RFC 3339 timestamp, without a date crate.

use serde_json::Value;

pub(super) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// Milliseconds since the epoch of an RFC 3339 timestamp; fails the test on any other
/// shape.
pub(super) fn epoch_ms(timestamp: &str) -> i64 {
    fn bad(timestamp: &str) -> ! {
        panic!("not an RFC 3339 timestamp: {timestamp:?}")
    }
    let number = |range: std::ops::Range<usize>| -> i64 {
        timestamp
            .get(range)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| bad(timestamp))
    };
    let b = timestamp.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        bad(timestamp);
    }
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let mut rest = &timestamp[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            bad(timestamp);
        }
        millis = format!("{:0<3}", &fraction[..digits.min(3)])
            .parse()
            .unwrap();
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => bad(timestamp),
            };
            let (h, m) = rest[1..].split_once(':').unwrap_or_else(|| bad(timestamp));
            let h: i64 = h.parse().unwrap_or_else(|_| bad(timestamp));
            let m: i64 = m.parse().unwrap_or_else(|_| bad(timestamp));
            sign * (h * 60 + m)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + hour) * 60 + minute - offset_minutes) * 60_000 + second * 1000 + millis
}

/// Asserts that `edited_at` is an RFC 3339 time at or after `sent_at`, between `before`
/// and `after` (wall-clock ms around the request, with a second's slack for rounding).
pub(super) fn assert_edited_at(message: &Value, before: i64, after: i64) {
    let edited_at = message["edited_at"]
        .as_str()
        .unwrap_or_else(|| panic!("an edited message has edited_at: {message}"));
    let edited = epoch_ms(edited_at);
    let sent = epoch_ms(message["sent_at"].as_str().unwrap());
    assert!(edited >= sent, "edited_at before sent_at: {message}");
    assert!(
        before - 1000 <= edited && edited <= after + 1000,
        "edited_at {edited_at} is not the time of the edit: {message}"
    );
}
