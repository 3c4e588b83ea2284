//! The metadata exchange (kv-connect.md §1): its JSON bodies, shared by the server and the
//! client, and the RFC 3339 timestamps of `expiresAt`, without a date library.

use serde::{Deserialize, Serialize};

/// The protocol versions cairn speaks, most preferred first.
pub const PROTOCOL_VERSIONS: [u64; 2] = [3, 2];

/// The body a client posts to the database URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataRequest {
    /// Protocol versions the client accepts.
    pub supported_versions: Vec<u64>,
}

/// The answer: exactly these fields (`@deno/kv` rejects unknown ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataResponse {
    /// The chosen protocol version.
    pub version: u64,
    /// The database's UUID.
    pub database_id: String,
    /// Where to send data-path requests.
    pub endpoints: Vec<Endpoint>,
    /// The bearer token of the data path.
    pub token: String,
    /// When `token` stops being accepted: `YYYY-MM-DDTHH:MM:SS(.fff)Z`.
    pub expires_at: String,
}

/// One data-path endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Absolute, or relative to the metadata URL; never ends in `/`.
    pub url: String,
    /// `strong` or `eventual`.
    pub consistency: String,
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Milliseconds since the Unix epoch of an RFC 3339 UTC timestamp as servers send
/// `expiresAt` (`YYYY-MM-DDTHH:MM:SS`, optional fraction, then `Z`); `None` if malformed.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = text.get(range)?;
        if digits.bytes().all(|c| c.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 || year < 1970 {
        return None;
    }
    let rest = text.get(19..)?;
    let (fraction, zone) = match rest.strip_prefix('.') {
        Some(f) => {
            let digits = f.bytes().take_while(u8::is_ascii_digit).count();
            (f.get(..digits)?, f.get(digits..)?)
        }
        None => ("", rest),
    };
    if zone != "Z" && zone != "z" {
        return None;
    }
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0'));
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millis)
}

/// (year, month, day) to days since 1970-01-01, the inverse of `civil_from_days`.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_219_200_000), "2026-11-21T00:00:00.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_what_others_send() {
        for ms in [0, 951_782_400_123, 1_795_219_200_000, 4_102_444_799_999] {
            assert_eq!(parse_rfc3339_ms(&rfc3339_ms(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T00:00:00Z"),
            Some(1_795_219_200_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-21T00:00:00.123456789Z"),
            Some(1_795_219_200_123)
        );
        for bad in [
            "",
            "2026-11-21",
            "2026-11-21T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-21T00:00:00+01:00",
            "2026-11-21T00:00:0xZ",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn response_has_exactly_the_fields_clients_expect() {
        let response = MetadataResponse {
            version: 3,
            database_id: "id".into(),
            endpoints: vec![Endpoint {
                url: "/data".into(),
                consistency: "strong".into(),
            }],
            token: "t".into(),
            expires_at: rfc3339_ms(0),
        };
        let json = serde_json::to_value(&response).expect("serializes");
        let mut fields: Vec<_> = json
            .as_object()
            .expect("an object")
            .keys()
            .cloned()
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            ["databaseId", "endpoints", "expiresAt", "token", "version"]
        );
    }
}
