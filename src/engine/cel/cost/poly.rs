//! Polynomials in the four sizes a cost depends on: `L`, the most entries of a list or map,
//! `S`, the most bytes of a string of the input, `P`, the most bytes of a string of the pack's
//! params (a pattern, a prefix), which a rule's author controls and which stay short when the
//! input's strings do not, and `K`, the most bytes of a key of a map of the input (a `ConfigMap`'s
//! keys stay short when its values do not). Coefficients are never negative, so a polynomial only grows with
//! each size and the coefficient-wise maximum of two is at least each of them.

use std::collections::BTreeMap;
use std::fmt;

/// `Σ c · L^i · S^j · P^k · K^m` with `c ≥ 0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Poly {
    /// `[i, j, k, m] -> c`; no zero coefficients are stored.
    terms: BTreeMap<[u16; 4], f64>,
}

/// The names of the sizes, in the order of a term's powers.
const NAMES: [&str; 4] = ["L", "S", "P", "K"];

impl Poly {
    /// The constant `c` (negative or non-finite values count as 0).
    pub fn constant(c: f64) -> Poly {
        Poly::term([0, 0, 0, 0], c)
    }

    /// `L`: the entries of an input list or map.
    pub fn list() -> Poly {
        Poly::term([1, 0, 0, 0], 1.0)
    }

    /// `S`: the bytes of an input string.
    pub fn string() -> Poly {
        Poly::term([0, 1, 0, 0], 1.0)
    }

    /// `P`: the bytes of a string of the params.
    pub fn param_string() -> Poly {
        Poly::term([0, 0, 1, 0], 1.0)
    }

    /// `K`: the bytes of a key of an input map.
    pub fn key() -> Poly {
        Poly::term([0, 0, 0, 1], 1.0)
    }

    fn term(powers: [u16; 4], c: f64) -> Poly {
        let mut terms = BTreeMap::new();
        if c > 0.0 {
            terms.insert(powers, c);
        }
        Poly { terms }
    }

    /// True for the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when the value does not depend on `L` or `S`.
    pub fn is_constant(&self) -> bool {
        self.terms.keys().all(|k| k.iter().all(|&p| p == 0))
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
        for (a, &c) in &self.terms {
            for (b, &d) in &other.terms {
                let powers = [0, 1, 2, 3].map(|n| a[n].saturating_add(b[n]));
                *out.terms.entry(powers).or_insert(0.0) += c * d;
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

    /// The value for lists of `l` entries and strings (keys and params too) of `s` bytes
    /// (saturating at `u128::MAX`).
    pub fn at(&self, l: u64, s: u64) -> u128 {
        self.at_sizes([l, s, s, s])
    }

    /// The value at `[L, S, P, K]` (saturating at `u128::MAX`).
    pub fn at_sizes(&self, sizes: [u64; 4]) -> u128 {
        // Sizes below 1 would make higher powers cheaper than lower ones.
        #[allow(clippy::cast_precision_loss)] // sizes up to 2^53 are exact; beyond, close enough
        let sizes = sizes.map(|n| n.max(1) as f64);
        let total: f64 = self
            .terms
            .iter()
            .map(|(powers, &c)| {
                powers
                    .iter()
                    .zip(sizes)
                    .fold(c, |acc, (&p, size)| acc * size.powi(i32::from(p)))
            })
            .sum();
        // `as` saturates: infinity becomes u128::MAX; the value is never negative.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let rounded = total.ceil() as u128;
        rounded
    }

    /// Highest powers of `L` and `S` in any term.
    pub fn degrees(&self) -> (u16, u16) {
        self.terms.keys().fold((0, 0), |(a, b), k| (a.max(k[0]), b.max(k[1])))
    }

    /// True when some term grows with `P` (a params string).
    pub fn has_param_strings(&self) -> bool {
        self.terms.keys().any(|k| k[2] > 0)
    }

    /// True when some term grows with `K` (a map key).
    pub fn has_keys(&self) -> bool {
        self.terms.keys().any(|k| k[3] > 0)
    }
}

/// Shows the growth of the polynomial: its terms of highest degree, as `L^2·S`, or `1` when it
/// is constant.
impl fmt::Display for Poly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let degree = |k: &[u16; 4]| k.iter().sum::<u16>();
        let top = self.terms.keys().map(degree).max().unwrap_or(0);
        let leading: Vec<String> = self
            .terms
            .keys()
            .rev()
            .filter(|k| degree(k) == top)
            .map(|k| monomial(*k))
            .collect();
        if leading.is_empty() {
            f.write_str("1")
        } else {
            f.write_str(&leading.join(" + "))
        }
    }
}

fn monomial(powers: [u16; 4]) -> String {
    let power = |name: &str, n: u16| match n {
        0 => None,
        1 => Some(name.to_owned()),
        n => Some(format!("{name}^{n}")),
    };
    let parts: Vec<String> = NAMES
        .iter()
        .zip(powers)
        .filter_map(|(name, n)| power(name, n))
        .collect();
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
