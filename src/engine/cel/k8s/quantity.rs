//! The Kubernetes quantity library (`quantity.go`) over `resource.Quantity` semantics: decimal
//! SI (`m`, none, `k`, `M`, `G`, `T`, `P`, `E`), binary SI (`Ki` .. `Ei`) and exponent (`1e3`,
//! `1E-3`) suffixes, values rounded up (away from zero) to the nearest nano as Kubernetes does,
//! binary-suffixed values capped at 2^63-1, and exact comparison and arithmetic (a big integer of
//! nano-units, never `f64`).

#![allow(clippy::trivially_copy_pass_by_ref)] // the overload macros pass arguments by reference

use std::cmp::Ordering;
use std::fmt;

use cel::common::types::{CelBool, CelDouble, CelInt, CelString};
use cel::{DeclarationError, Env, ExecutionError};
use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};

use super::types::{opaque_val, QUANTITY_TYPE};

/// Largest exponent (`1e<n>`, after the suffix) celgate accepts, so a short text cannot ask for
/// an enormous number.
pub const MAX_EXPONENT: i64 = 1_000;

/// Nano-units in one unit.
const NANO: u64 = 1_000_000_000;

/// A quantity value (`kubernetes.Quantity`): its exact value in nano-units, and the text it
/// was parsed from (computed values are shown as plain decimals).
#[derive(Debug, Clone)]
pub struct Quantity {
    nanos: BigInt,
    text: Option<String>,
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

opaque_val!(Quantity, QUANTITY_TYPE);

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = &self.text {
            return f.write_str(text);
        }
        let nano = BigInt::from(NANO);
        let (whole, frac) = (&self.nanos / &nano, (&self.nanos % &nano).magnitude().clone());
        let sign = if self.nanos.sign() == Sign::Minus && whole.is_zero() {
            "-"
        } else {
            ""
        };
        if frac.is_zero() {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:0>9}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

/// The message Kubernetes gives for text that is not a quantity at all.
const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

impl Quantity {
    /// Parses `text` as `resource.ParseQuantity` does.
    pub fn parse(text: &str) -> Result<Quantity, String> {
        let wrong = || format!("'{text}': {FORMAT_WRONG}");
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (number, suffix) = rest.split_at(number_len);
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return Err(wrong());
        }
        let (exp10, exp2, binary) =
            parse_suffix(suffix).ok_or_else(|| format!("'{text}': unable to parse quantity's suffix"))?;
        let digits: BigInt = format!("{int_part}{frac_part}")
            .parse()
            .map_err(|_| format!("'{text}': unable to parse numeric part of quantity"))?;
        let frac_len = i64::try_from(frac_part.len()).map_err(|_| wrong())?;
        let mut magnitude = digits << exp2;
        let scale = 9 + exp10 - frac_len;
        let ten = BigInt::from(10u8);
        if scale >= 0 {
            magnitude *= ten.pow(u32::try_from(scale).map_err(|_| wrong())?);
        } else {
            let divisor = ten.pow(u32::try_from(-scale).map_err(|_| wrong())?);
            // Round up to the next nano: asking for some resource gets some.
            let (q, r) = (&magnitude / &divisor, &magnitude % &divisor);
            magnitude = if r.is_zero() { q } else { q + 1 };
        }
        if binary {
            let cap = BigInt::from(i64::MAX) * BigInt::from(NANO);
            if magnitude > cap {
                magnitude = cap;
            }
        }
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
            text: Some(text.to_owned()),
        })
    }

    fn from_nanos(nanos: BigInt) -> Quantity {
        Quantity { nanos, text: None }
    }

    fn from_int(value: i64) -> Quantity {
        Quantity::from_nanos(BigInt::from(value) * BigInt::from(NANO))
    }

    /// The value as an `int64` when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        let nano = BigInt::from(NANO);
        if !(&self.nanos % &nano).is_zero() {
            return None;
        }
        (&self.nanos / nano).to_i64()
    }

    /// The value as the nearest `f64` (infinite beyond its range).
    pub fn as_f64(&self) -> f64 {
        let nano = BigInt::from(NANO);
        let whole = (&self.nanos / &nano).to_f64().unwrap_or(f64::NAN);
        let frac = (&self.nanos % &nano).to_f64().unwrap_or(0.0) / 1e9;
        whole + frac
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

/// `(power of ten, power of two, binary?)` of a suffix; `None` if it is not one.
fn parse_suffix(suffix: &str) -> Option<(i64, usize, bool)> {
    let decimal = match suffix {
        "" => Some(0),
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Some((e, 0, false));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(b) = binary {
        return Some((0, b, true));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: i64 = exponent.parse().ok()?;
    (value.abs() <= MAX_EXPONENT).then_some((value, 0, false))
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    cel::add_overload!(env, fn to_quantity: (CelString) -> Result<Quantity>, name = "quantity")?;
    cel::add_overload!(env, fn is_quantity: (CelString) -> CelBool)?;
    cel::add_member_overload!(env, fn sign: (Quantity) -> CelInt)?;
    cel::add_member_overload!(env, fn is_integer: (Quantity) -> CelBool)?;
    cel::add_member_overload!(env, fn as_integer: (Quantity) -> Result<CelInt>)?;
    cel::add_member_overload!(env, fn as_approximate_float: (Quantity) -> CelDouble)?;
    cel::add_member_overload!(env, fn add_quantity: (Quantity, Quantity) -> Quantity, name = "add")?;
    cel::add_member_overload!(env, fn add_int: (Quantity, CelInt) -> Quantity, name = "add")?;
    cel::add_member_overload!(env, fn sub_quantity: (Quantity, Quantity) -> Quantity, name = "sub")?;
    cel::add_member_overload!(env, fn sub_int: (Quantity, CelInt) -> Quantity, name = "sub")?;
    cel::add_member_overload!(env, fn compare_to: (Quantity, Quantity) -> CelInt)?;
    cel::add_member_overload!(env, fn is_greater_than: (Quantity, Quantity) -> CelBool)?;
    cel::add_member_overload!(env, fn is_less_than: (Quantity, Quantity) -> CelBool)?;
    Ok(())
}

fn to_quantity(text: &CelString<'_>) -> Result<Quantity, ExecutionError> {
    Quantity::parse(text.inner()).map_err(|e| ExecutionError::function_error("quantity", e))
}

fn is_quantity(text: &CelString<'_>) -> CelBool {
    CelBool::from(Quantity::parse(text.inner()).is_ok())
}

fn sign(q: &Quantity) -> CelInt {
    CelInt::from(match q.nanos.sign() {
        Sign::Minus => -1,
        Sign::NoSign => 0,
        Sign::Plus => 1,
    })
}

fn is_integer(q: &Quantity) -> CelBool {
    CelBool::from(q.as_i64().is_some())
}

fn as_integer(q: &Quantity) -> Result<CelInt, ExecutionError> {
    q.as_i64()
        .map(CelInt::from)
        .ok_or_else(|| ExecutionError::function_error("asInteger", format!("cannot convert value to integer: {q}")))
}

fn as_approximate_float(q: &Quantity) -> CelDouble {
    CelDouble::from(q.as_f64())
}

fn add_quantity(q: &Quantity, other: &Quantity) -> Quantity {
    Quantity::from_nanos(&q.nanos + &other.nanos)
}

fn add_int(q: &Quantity, other: &CelInt) -> Quantity {
    add_quantity(q, &Quantity::from_int(*other.inner()))
}

fn sub_quantity(q: &Quantity, other: &Quantity) -> Quantity {
    Quantity::from_nanos(&q.nanos - &other.nanos)
}

fn sub_int(q: &Quantity, other: &CelInt) -> Quantity {
    sub_quantity(q, &Quantity::from_int(*other.inner()))
}

fn compare_to(q: &Quantity, other: &Quantity) -> CelInt {
    CelInt::from(match q.nanos.cmp(&other.nanos) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
}

fn is_greater_than(q: &Quantity, other: &Quantity) -> CelBool {
    CelBool::from(q.nanos > other.nanos)
}

fn is_less_than(q: &Quantity, other: &Quantity) -> CelBool {
    CelBool::from(q.nanos < other.nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanos(text: &str) -> BigInt {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text}: {e}")).nanos
    }

    #[test]
    fn suffixes() {
        for (text, value) in [
            ("0", 0i128),
            ("1", 1_000_000_000),
            ("1.5", 1_500_000_000),
            ("+2", 2_000_000_000),
            ("-2", -2_000_000_000),
            (".5", 500_000_000),
            ("5.", 5_000_000_000),
            ("100m", 100_000_000),
            ("1n", 1),
            ("1u", 1_000),
            ("1k", 1_000_000_000_000),
            ("1Ki", 1_024_000_000_000),
            ("1.5Gi", 1_610_612_736_000_000_000),
            ("1e3", 1_000_000_000_000),
            ("1E3", 1_000_000_000_000),
            ("1e-3", 1_000_000),
            ("1.5E", 1_500_000_000_000_000_000_000_000_000),
            ("200M", 200_000_000_000_000_000),
            ("0.2G", 200_000_000_000_000_000),
        ] {
            assert_eq!(nanos(text), BigInt::from(value), "{text}");
        }
    }

    #[test]
    fn rounding_up_to_a_nano_and_capping_binary() {
        assert_eq!(nanos("0.1n"), BigInt::from(1));
        assert_eq!(nanos("1.0000000001"), BigInt::from(1_000_000_001));
        assert_eq!(nanos("-0.1n"), BigInt::from(-1), "rounded away from zero");
        assert_eq!(nanos("1e-10"), BigInt::from(1));
        let cap = BigInt::from(i64::MAX) * BigInt::from(NANO);
        assert_eq!(nanos("100Ei"), cap);
        assert!(nanos("100E") > cap, "decimal values are not capped");
    }

    #[test]
    fn integers_and_overflow() {
        assert_eq!(
            Quantity::parse("50000000G").expect("valid").as_i64(),
            Some(50_000_000_000_000_000)
        );
        assert_eq!(
            Quantity::parse("9999999999999999999999999999999999999G")
                .expect("valid")
                .as_i64(),
            None
        );
        assert_eq!(Quantity::parse("1.5").expect("valid").as_i64(), None);
        assert_eq!(Quantity::parse("1500m").expect("valid").as_i64(), None);
        assert_eq!(Quantity::parse("2000m").expect("valid").as_i64(), Some(2));
        assert!((Quantity::parse("1.5Ki").expect("valid").as_f64() - 1536.0).abs() < f64::EPSILON);
    }

    #[test]
    fn refused() {
        for text in [
            "", "200K", "Three", "Mi", "1,3G", ".", "-", "1.2.3", "1 ", " 1", "1e", "1e+", "1ki", "1e1001", "1Ki1",
        ] {
            assert!(Quantity::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn computed_values_show_as_decimals() {
        assert_eq!(
            Quantity::from_nanos(BigInt::from(30_000_000_000_000i64)).to_string(),
            "30000"
        );
        assert_eq!(Quantity::from_nanos(BigInt::from(-500_000_000)).to_string(), "-0.5");
        assert_eq!(Quantity::from_nanos(BigInt::from(1_250_000_000)).to_string(), "1.25");
    }
}
