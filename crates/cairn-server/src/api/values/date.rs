//! Dates as JavaScript's `toISOString()` writes them: `2024-05-01T12:00:00.000Z`, years
//! outside 0–9999 as `+275760` / `-000001`. A date is milliseconds since the epoch, at most
//! 8.64e15 either way (ECMAScript's time range).

/// ECMAScript's largest time value, in milliseconds either side of the epoch.
pub(super) const TIME_MS_MAX: i64 = 8_640_000_000_000_000;
const DAY_MS: i64 = 86_400_000;

/// `ms` as `toISOString()` writes it; `None` outside the time range.
pub(super) fn to_iso(ms: i64) -> Option<String> {
    if !(-TIME_MS_MAX..=TIME_MS_MAX).contains(&ms) {
        return None;
    }
    let (days, in_day) = (ms.div_euclid(DAY_MS), ms.rem_euclid(DAY_MS));
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:06}", -year)
    } else {
        format!("+{year:06}")
    };
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    Some(format!(
        "{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
    ))
}

/// Milliseconds of an ISO date as `toISOString()` writes it (the milliseconds may be left out
/// or have fewer digits), or why it is not one.
pub(super) fn from_iso(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{text:?} is not a date as toISOString() writes it \
             (YYYY-MM-DDTHH:mm:ss.sssZ, or ±YYYYYY for other years)"
        )
    };
    let (year, rest) = match text.as_bytes().first() {
        Some(b'+' | b'-') => {
            let year = number(text.get(1..7).ok_or_else(bad)?).ok_or_else(bad)?;
            if text.starts_with("-000000") {
                return Err(bad());
            }
            let sign = if text.starts_with('-') { -1 } else { 1 };
            (sign * year, text.get(7..).ok_or_else(bad)?)
        }
        _ => (
            number(text.get(..4).ok_or_else(bad)?).ok_or_else(bad)?,
            text.get(4..).ok_or_else(bad)?,
        ),
    };
    let b = rest.as_bytes();
    let shape = b.len() >= 16
        && b.first() == Some(&b'-')
        && b.get(3) == Some(&b'-')
        && b.get(6) == Some(&b'T')
        && b.get(9) == Some(&b':')
        && b.get(12) == Some(&b':')
        && b.last() == Some(&b'Z');
    if !shape {
        return Err(bad());
    }
    let part = |from: usize, to: usize| rest.get(from..to).and_then(number).ok_or_else(bad);
    let (month, day) = (part(1, 3)?, part(4, 6)?);
    let (h, m, s) = (part(7, 9)?, part(10, 12)?, part(13, 15)?);
    let fraction = rest.get(15..rest.len() - 1).ok_or_else(bad)?;
    let milli = match fraction.strip_prefix('.') {
        None if fraction.is_empty() => 0,
        Some(digits) if (1..=3).contains(&digits.len()) => {
            number(digits).ok_or_else(bad)? * 10i64.pow(3 - digits.len() as u32)
        }
        _ => return Err(bad()),
    };
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && h < 24
        && m < 60
        && s < 60;
    if !valid {
        return Err(bad());
    }
    let ms =
        days_from_civil(year, month, day) * DAY_MS + h * 3_600_000 + m * 60_000 + s * 1000 + milli;
    if !(-TIME_MS_MAX..=TIME_MS_MAX).contains(&ms) {
        return Err(format!("{text:?} is outside the range of JavaScript dates"));
    }
    Ok(ms)
}

/// Decimal digits only (no sign) as a number.
fn number(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). Signed,
/// unlike `cairn_proto::metadata`'s, which only ever sees times after 1970: JavaScript dates
/// reach 271,821 BC.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_match_javascript() {
        // Each pair from `new Date(ms).toISOString()` in Deno.
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_714_564_800_123, "2024-05-01T12:00:00.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-62_198_755_200_000, "-000001-01-01T00:00:00.000Z"),
            (253_402_300_800_000, "+010000-01-01T00:00:00.000Z"),
            (TIME_MS_MAX, "+275760-09-13T00:00:00.000Z"),
            (-TIME_MS_MAX, "-271821-04-20T00:00:00.000Z"),
        ];
        for (ms, text) in cases {
            assert_eq!(to_iso(ms).as_deref(), Some(text), "{ms}");
            assert_eq!(from_iso(text), Ok(ms), "{text}");
        }
        assert_eq!(to_iso(TIME_MS_MAX + 1), None);
    }

    #[test]
    fn other_text_is_refused() {
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T12:00:00.000",
            "2024-13-01T00:00:00.000Z",
            "2023-02-29T00:00:00.000Z",
            "2024-05-01T24:00:00.000Z",
            "2024-05-01T12:00:00.0000Z",
            "-000000-01-01T00:00:00.000Z",
            "+275760-09-13T00:00:00.001Z",
            "2024-05-01T12:00:00.+00Z",
            "२०२४-05-01T12:00:00.000Z",
        ] {
            assert!(from_iso(bad).is_err(), "{bad:?}");
        }
        assert_eq!(from_iso("2024-05-01T12:00:00Z"), Ok(1_714_564_800_000));
        assert_eq!(from_iso("2024-05-01T12:00:00.5Z"), Ok(1_714_564_800_500));
    }
}
