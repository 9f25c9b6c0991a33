//! Go's text forms of values, as cel-go's `string.format` (strings extension version 2) prints
//! them: `strconv`'s shortest `%g`, `%.Nf`, `strconv.Quote`, RFC 3339 timestamps, durations in
//! seconds, and `golang.org/x/text/message`'s `en_US` forms of `%f` and `%e`.

use std::fmt::Write as _;

/// RFC 3339 with as many fraction digits as needed, as Go's `time.RFC3339Nano`.
pub(super) fn timestamp_text(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// cel-go's duration text: seconds in Go's shortest `%f` form, then `s`.
pub(super) fn duration_text(d: chrono::Duration) -> String {
    // Whole seconds and nanoseconds apart, so the text is exact for every duration.
    let secs = d.num_seconds();
    let nanos = (d - chrono::Duration::seconds(secs)).num_nanoseconds().unwrap_or(0);
    if nanos == 0 {
        return format!("{secs}s");
    }
    let sign = if secs < 0 || nanos < 0 { "-" } else { "" };
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!("{sign}{}.{}s", secs.unsigned_abs(), fraction.trim_end_matches('0'))
}

/// Go's `strconv.FormatFloat(x, 'f', -1, 64)`.
fn go_shortest_fixed(x: f64) -> String {
    // Rust's `Display` of an f64 is the shortest round-trip form without an exponent.
    format!("{x}")
}

/// Go's `%.<p>f` without a locale (`+Inf`, `-Inf`, `NaN`).
pub(super) fn go_fixed(x: f64, precision: usize) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{x:.precision$}")
    }
}

/// Go's `%g` (shortest digits): the `%e` form when the decimal exponent is below -4 or at least
/// 6 (`2e-09`, `1e+06`), else the plain form (`2.71`, `100`).
pub fn go_g(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Shortest digits and decimal exponent from Rust's `{:e}` (`2.5e-9`).
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        go_shortest_fixed(x)
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    }
}

/// `%f` through Go's `message.Printer` for `en_US`: grouped thousands, `∞`, `NaN`.
pub(super) fn locale_fixed(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "-∞" }.to_owned();
    }
    let text = format!("{:.precision$}", x.abs());
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (n, c) in int.chars().enumerate() {
        if n > 0 && (int.len() - n) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if x.is_sign_negative() && x != 0.0 { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `%e` through Go's `message.Printer` for `en_US`: `2.718280 × 10⁰⁰` (narrow no-break spaces,
/// superscript exponent of at least two digits).
pub(super) fn locale_scientific(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "-∞" }.to_owned();
    }
    let sci = format!("{x:.precision$e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits = format!("{:02}", exp.unsigned_abs());
    let sup: String = digits
        .chars()
        .map(|c| match c {
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            _ => '⁹',
        })
        .collect();
    let sign = if exp < 0 { "⁻" } else { "" };
    format!("{mantissa}\u{202f}×\u{202f}10{sign}{sup}")
}

/// Go's `strconv.Quote`: `\"`, `\\`, the C escapes, `\x..` / `\u....` for what is not printable.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_number_forms() {
        assert_eq!(go_g(2.71), "2.71");
        assert_eq!(go_g(0.000_000_002), "2e-09");
        assert_eq!(go_g(1e21), "1e+21");
        assert_eq!(go_g(1e6), "1e+06");
        assert_eq!(go_g(123_456.0), "123456");
        assert_eq!(go_g(100.0), "100");
        assert_eq!(locale_fixed(1234.5, 6), "1,234.500000");
        assert_eq!(locale_scientific(2.5, 6), "2.500000\u{202f}×\u{202f}10⁰⁰");
        assert_eq!(locale_scientific(-0.025, 2), "-2.50\u{202f}×\u{202f}10⁻⁰²");
        assert_eq!(locale_scientific(1_052.032_911_275, 6), "1.052033\u{202f}×\u{202f}10⁰³");
    }
}
