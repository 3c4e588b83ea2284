//! INCRBYFLOAT's and HINCRBYFLOAT's arithmetic. Redis adds in `long double` and prints the sum
//! with 17 decimals, trailing zeros cut: `0.1` plus `0.2` is `0.3` there, where `f64` would say
//! `0.30000000000000004`. So decimal strings are added exactly here (a 128-bit mantissa and a
//! number of decimals), rounded to 17 decimals as Redis prints them; that is Redis's answer
//! for the numbers people increment. Sums that do not fit (more than 38 digits, exponents far
//! apart) are added as `f64` instead, and infinities are refused, as Redis refuses them.

/// The longest number accepted, in bytes (Redis's `MAX_LONG_DOUBLE_CHARS`).
const NUMBER_BYTES_MAX: usize = 5 * 1024;
/// Decimals of a result (Redis prints `%.17Lf`).
const DECIMALS_MAX: u32 = 17;

/// A number as written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    /// `mantissa / 10^scale`.
    Exact { mantissa: i128, scale: u32 },
    /// Too long or too large to hold exactly.
    Float(f64),
}

/// `current + increment`, both as Redis would read them (`strtold`: an optional sign, digits
/// with an optional point, an optional exponent; `inf`), as the string Redis would store;
/// [`AddError`] says which was not a number, or that the sum is not finite.
pub fn add(current: &[u8], increment: &[u8]) -> Result<String, AddError> {
    let a = parse(current).ok_or(AddError::Current)?;
    let b = parse(increment).ok_or(AddError::Increment)?;
    if let (
        Number::Exact {
            mantissa: ma,
            scale: sa,
        },
        Number::Exact {
            mantissa: mb,
            scale: sb,
        },
    ) = (a, b)
    {
        if let Some(text) = add_exact(ma, sa, mb, sb) {
            return Ok(text);
        }
    }
    let sum = to_f64(a) + to_f64(b);
    if !sum.is_finite() {
        return Err(AddError::NotFinite);
    }
    Ok(trim(&format!("{sum:.17}")))
}

/// Why [`add`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddError {
    /// The stored value is not a number.
    Current,
    /// The increment is not a number.
    Increment,
    /// The sum is infinite.
    NotFinite,
}

fn to_f64(n: Number) -> f64 {
    match n {
        Number::Float(f) => f,
        // Exact within f64's precision is all the fallback needs.
        Number::Exact { mantissa, scale } => mantissa as f64 / 10f64.powi(scale as i32),
    }
}

fn add_exact(ma: i128, sa: u32, mb: i128, sb: u32) -> Option<String> {
    let scale = sa.max(sb);
    let ma = ma.checked_mul(10i128.checked_pow(scale - sa)?)?;
    let mb = mb.checked_mul(10i128.checked_pow(scale - sb)?)?;
    let (mut sum, mut scale) = (ma.checked_add(mb)?, scale);
    if scale > DECIMALS_MAX {
        // Round half away from zero to 17 decimals.
        let divisor = 10i128.checked_pow(scale - DECIMALS_MAX)?;
        let (q, r) = (sum / divisor, sum % divisor);
        sum = if r.unsigned_abs() * 2 >= divisor.unsigned_abs() {
            q + sum.signum()
        } else {
            q
        };
        scale = DECIMALS_MAX;
    }
    Some(format_exact(sum, scale))
}

/// `mantissa / 10^scale` as plain decimals, trailing zeros cut, never `-0`.
fn format_exact(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let scale = scale as usize;
    let text = if scale == 0 {
        digits
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(scale - digits.len()))
    };
    let text = trim(&text);
    if mantissa < 0 && text != "0" {
        format!("-{text}")
    } else {
        text
    }
}

/// Cuts trailing zeros after a point, and the point if nothing follows it; `-0` is `0`.
fn trim(text: &str) -> String {
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    };
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A number as `strtold` reads it, the whole of `bytes` (no spaces, no hexadecimal, no NaN).
fn parse(bytes: &[u8]) -> Option<Number> {
    if bytes.is_empty() || bytes.len() > NUMBER_BYTES_MAX {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        let sign = if text.starts_with('-') { -1.0 } else { 1.0 };
        return Some(Number::Float(sign * f64::INFINITY));
    }
    let negative = text.starts_with('-');
    let (body, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            // Huge exponents: f64 (and its infinity or zero) decides.
            e.parse().unwrap_or(if e.starts_with('-') {
                -100_000
            } else {
                100_000
            })
        }
    };
    let float = || text.parse::<f64>().ok().map(Number::Float);
    let mut mantissa: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = match mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
        {
            Some(m) => m,
            None => return float(),
        };
    }
    if negative {
        mantissa = -mantissa;
    }
    let Some(scale) = i64::try_from(frac.len())
        .ok()
        .and_then(|f| f.checked_sub(exponent))
    else {
        return float();
    };
    if scale >= 0 {
        match u32::try_from(scale) {
            Ok(scale) if scale <= 38 => Some(Number::Exact { mantissa, scale }),
            _ => float(),
        }
    } else {
        let up = scale
            .checked_neg()
            .and_then(|p| u32::try_from(p).ok())
            .and_then(|p| 10i128.checked_pow(p));
        match up.and_then(|up| mantissa.checked_mul(up)) {
            Some(mantissa) => Some(Number::Exact { mantissa, scale: 0 }),
            None => float(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> Result<String, AddError> {
        add(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn decimals_add_as_redis_prints_them() {
        // Redis's own documented examples (INCRBYFLOAT), and the classic 0.1 + 0.2.
        assert_eq!(sum("10.50", "0.1").as_deref(), Ok("10.6"));
        assert_eq!(sum("10.6", "-5").as_deref(), Ok("5.6"));
        assert_eq!(sum("5.0e3", "2.0e2").as_deref(), Ok("5200"));
        assert_eq!(sum("0.1", "0.2").as_deref(), Ok("0.3"));
        assert_eq!(sum("0", "0").as_deref(), Ok("0"));
        assert_eq!(sum("1", "-1").as_deref(), Ok("0"));
        assert_eq!(sum("-0.5", "0.25").as_deref(), Ok("-0.25"));
        assert_eq!(sum("3", ".5").as_deref(), Ok("3.5"));
        assert_eq!(sum("3.", "+1").as_deref(), Ok("4"));
        assert_eq!(sum("1e-3", "0").as_deref(), Ok("0.001"));
        assert_eq!(
            sum("12345678901234567890", "1").as_deref(),
            Ok("12345678901234567891")
        );
        // 17 decimals at most, rounded.
        assert_eq!(
            sum("0.123456789012345678", "0").as_deref(),
            Ok("0.12345678901234568")
        );
    }

    #[test]
    fn what_does_not_fit_is_added_as_f64() {
        assert_eq!(
            sum("1e300", "1e300").as_deref(),
            Ok(&*trim(&format!("{:.17}", 2e300)))
        );
        assert_eq!(sum("1e-300", "0").as_deref(), Ok("0"));
    }

    #[test]
    fn refuses_what_redis_refuses() {
        for bad in [
            "", " 1", "1 ", "abc", "1.2.3", "0x10", "nan", "1e", "e5", ".", "-", "1e+",
        ] {
            assert_eq!(sum(bad, "1"), Err(AddError::Current), "{bad:?}");
            assert_eq!(sum("1", bad), Err(AddError::Increment), "{bad:?}");
        }
        assert_eq!(sum("inf", "1"), Err(AddError::NotFinite));
        assert_eq!(sum("1", "-infinity"), Err(AddError::NotFinite));
        assert_eq!(sum("1e308", "1e308"), Err(AddError::NotFinite));
    }

    #[test]
    fn extreme_exponents_do_not_overflow() {
        assert_eq!(sum("1e-9223372036854775808", "1").as_deref(), Ok("1"));
        assert_eq!(sum("1e9223372036854775807", "1"), Err(AddError::NotFinite));
        assert_eq!(sum("0e99999999999999999999", "2").as_deref(), Ok("2"));
    }
}
