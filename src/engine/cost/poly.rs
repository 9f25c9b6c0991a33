//! Polynomials in the two input sizes a cost depends on: `L`, the most entries of a list or map,
//! and `S`, the most bytes of a string. Coefficients are never negative, so a polynomial only
//! grows with either size and the coefficient-wise maximum of two is at least each of them.

use std::collections::BTreeMap;
use std::fmt;

/// `Σ c · L^i · S^j` with `c ≥ 0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poly {
    /// `(i, j) -> c`; no zero coefficients are stored.
    terms: BTreeMap<(u16, u16), f64>,
}

impl Poly {
    /// The constant `c` (negative or non-finite values count as 0).
    pub fn constant(c: f64) -> Poly {
        Poly::term(0, 0, c)
    }

    /// `L`: the entries of an input list or map.
    pub fn list() -> Poly {
        Poly::term(1, 0, 1.0)
    }

    /// `S`: the bytes of an input string.
    pub fn string() -> Poly {
        Poly::term(0, 1, 1.0)
    }

    fn term(i: u16, j: u16, c: f64) -> Poly {
        let mut terms = BTreeMap::new();
        if c > 0.0 {
            terms.insert((i, j), c);
        }
        Poly { terms }
    }

    /// True for the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when the value does not depend on `L` or `S`.
    pub fn is_constant(&self) -> bool {
        self.terms.keys().all(|&(i, j)| i == 0 && j == 0)
    }

    /// `self + other`.
    #[must_use]
    pub fn add(&self, other: &Poly) -> Poly {
        let mut out = self.clone();
        for (&k, &c) in &other.terms {
            *out.terms.entry(k).or_insert(0.0) += c;
        }
        out
    }

    /// `self · other`.
    #[must_use]
    pub fn mul(&self, other: &Poly) -> Poly {
        let mut out = Poly::default();
        for (&(i, j), &c) in &self.terms {
            for (&(k, l), &d) in &other.terms {
                *out.terms
                    .entry((i.saturating_add(k), j.saturating_add(l)))
                    .or_insert(0.0) += c * d;
            }
        }
        out
    }

    /// `self · factor`.
    #[must_use]
    pub fn scale(&self, factor: f64) -> Poly {
        self.mul(&Poly::constant(factor))
    }

    /// A polynomial at least as large as both (coefficient-wise maximum).
    #[must_use]
    pub fn max(&self, other: &Poly) -> Poly {
        let mut out = self.clone();
        for (&k, &c) in &other.terms {
            let e = out.terms.entry(k).or_insert(0.0);
            *e = e.max(c);
        }
        out
    }

    /// `self`, but at least 1: a cost factor never divides.
    #[must_use]
    pub fn at_least_one(&self) -> Poly {
        self.max(&Poly::constant(1.0))
    }

    /// The value for lists of `l` entries and strings of `s` bytes (saturating at `u128::MAX`).
    pub fn at(&self, l: u64, s: u64) -> u128 {
        // Sizes below 1 would make higher powers cheaper than lower ones.
        #[allow(clippy::cast_precision_loss)] // sizes up to 2^53 are exact; beyond, close enough
        let (l, s) = (l.max(1) as f64, s.max(1) as f64);
        let total: f64 = self
            .terms
            .iter()
            .map(|(&(i, j), &c)| c * l.powi(i32::from(i)) * s.powi(i32::from(j)))
            .sum();
        // `as` saturates: infinity becomes u128::MAX; the value is never negative.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = total.ceil() as u128;
        rounded
    }

    /// Highest powers of `L` and `S` in any term.
    pub fn degrees(&self) -> (u16, u16) {
        self.terms.keys().fold((0, 0), |(a, b), &(i, j)| (a.max(i), b.max(j)))
    }
}

/// Shows the growth of the polynomial: its terms of highest degree, as `L^2·S`, or `1` when it
/// is constant.
impl fmt::Display for Poly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let top = self.terms.keys().map(|&(i, j)| i + j).max().unwrap_or(0);
        let leading: Vec<String> = self
            .terms
            .keys()
            .rev()
            .filter(|&&(i, j)| i + j == top)
            .map(|&(i, j)| monomial(i, j))
            .collect();
        if leading.is_empty() {
            f.write_str("1")
        } else {
            f.write_str(&leading.join(" + "))
        }
    }
}

fn monomial(i: u16, j: u16) -> String {
    let power = |name: &str, n: u16| match n {
        0 => None,
        1 => Some(name.to_owned()),
        n => Some(format!("{name}^{n}")),
    };
    let parts: Vec<String> = [power("L", i), power("S", j)].into_iter().flatten().collect();
    if parts.is_empty() {
        "1".to_owned()
    } else {
        parts.join("·")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_and_evaluation() {
        let p = Poly::list()
            .mul(&Poly::list())
            .scale(3.0)
            .add(&Poly::string().scale(0.1));
        assert_eq!(p.at(10, 100), 310);
        assert_eq!(p.degrees(), (2, 1));
        assert_eq!(p.to_string(), "L^2");
        assert_eq!(Poly::list().mul(&Poly::string()).to_string(), "L·S");
        assert_eq!(Poly::constant(4.0).to_string(), "1");
        assert!(Poly::constant(0.0).is_zero());
        assert_eq!(Poly::constant(0.2).at_least_one().at(5, 5), 1);
        assert_eq!(Poly::list().max(&Poly::constant(2.0)).at(1, 1), 3);
    }

    #[test]
    fn huge_values_saturate() {
        let mut p = Poly::list();
        for _ in 0..40 {
            p = p.mul(&Poly::list());
        }
        assert_eq!(p.at(u64::MAX, 1), u128::MAX);
    }
}
