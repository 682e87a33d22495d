//! How figures are written for people: money, token counts, rates. One module, used by the CLI,
//! the statusline, the tray and the alerts, so the same amount reads the same everywhere.
//!
//! A total that holds usage without a known price is a lower bound and always says so: the
//! compact forms end in `+`, the long forms say `+ unpriced`. Nothing here ever turns an
//! error into a figure: callers that have no figure show [`DB_ERROR`] instead.

/// What a view shows in place of a figure it could not read.
pub const DB_ERROR: &str = "database error, see `tokwatch doctor`";

/// `1,234,567` (negative numbers keep their sign).
pub fn int(v: i64) -> String {
    let digits = v.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if v < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1 file`, `2 files`, `1,234 files`: a count with the noun in the right number.
pub fn count(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", int(n), if n == 1 { one } else { many })
}

/// `$3.42`, `$1,234.50`; amounts above zero that round to nothing are `<$0.01`; a value that
/// is not a number is `$?`.
pub fn usd(v: f64) -> String {
    if !v.is_finite() {
        return "$?".to_string();
    }
    if v < 0.0 {
        return format!("-{}", usd(-v));
    }
    let cents = (v * 100.0).round();
    if cents == 0.0 && v > 0.0 {
        return "<$0.01".to_string();
    }
    // f64 -> u64 saturates; nobody spends 10^17 dollars on tokens.
    let cents = cents as u64;
    format!("${}.{:02}", int((cents / 100) as i64), cents % 100)
}

/// `$3.42`, or `$3.42+` when the amount leaves out usage that has no price (a lower bound).
pub fn usd_marked(v: f64, has_unpriced: bool) -> String {
    if has_unpriced {
        format!("{}+", usd(v))
    } else {
        usd(v)
    }
}

/// `$3.42`, or `$3.42 + unpriced` (the long form of [`usd_marked`]).
pub fn usd_total(v: f64, has_unpriced: bool) -> String {
    if has_unpriced {
        format!("{} + unpriced", usd(v))
    } else {
        usd(v)
    }
}

/// `$2.40/h`.
pub fn rate(usd_per_hour: f64) -> String {
    format!("{}/h", usd(usd_per_hour))
}

/// `$0.0123`: four decimals, for one request's cost.
pub fn usd4(v: f64) -> String {
    if !v.is_finite() {
        return "$?".to_string();
    }
    format!("${v:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(-1234), "-1,234");
        assert_eq!(int(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn money() {
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.004), "<$0.01");
        assert_eq!(usd(12.2257), "$12.23");
        assert_eq!(usd(1234.5), "$1,234.50");
        assert_eq!(usd(-3.0), "-$3.00");
        assert_eq!(usd(f64::NAN), "$?");
        assert_eq!(usd_marked(4.1, true), "$4.10+");
        assert_eq!(usd_total(4.1, true), "$4.10 + unpriced");
        assert_eq!(rate(2.4), "$2.40/h");
        assert_eq!(usd4(0.01234), "$0.0123");
    }
}
