//! The Kubernetes admission-CEL libraries, written on `cel` 0.15: what the apiserver offers to
//! `ValidatingAdmissionPolicy` expressions beyond standard CEL, available in every expression of
//! every pack and in `celgate eval`.
//!
//! The `cel` crate's own extensions already give the extended strings (`charAt`, `indexOf`,
//! `format`, `strings.quote`, ... indexed by code point, as Kubernetes does), the cel-go list
//! extension (`slice`, `flatten`, `distinct`, `reverse`, `sort`, `sortBy`, `lists.range`) and the
//! optional library (`optional.of`, `?.`, `orValue`, ...). This module adds the Kubernetes
//! libraries of `k8s.io/apiserver/pkg/cel/library` and cel-go's sets:
//!
//! | module | functions |
//! |---|---|
//! | [`lists`] | `isSorted`, `sum`, `min`, `max`, `indexOf`, `lastIndexOf`, `includes` |
//! | [`sets`] | `sets.contains`, `sets.equivalent`, `sets.intersects` |
//! | [`regex`] | `find`, `findAll` (and the regex cache `matches` shares) |
//! | [`url`] | `url`, `isURL`, `getScheme`, `getHost`, `getHostname`, `getPort`, `getEscapedPath`, `getQuery` |
//! | [`ip`] | `ip`, `isIP`, `ip.isCanonical`, `family`, `is*` address classes, `cidr`, `isCIDR`, `containsIP`, `containsCIDR`, `prefixLength`, `masked`, `string` |
//! | [`quantity`] | `quantity`, `isQuantity`, `sign`, `isInteger`, `asInteger`, `asApproximateFloat`, `add`, `sub`, `compareTo`, `isGreaterThan`, `isLessThan` |
//! | [`semver`] | `semver`, `isSemver` (with a normalize flag), `major`, `minor`, `patch`, `compareTo`, `isGreaterThan`, `isLessThan` |
//! | [`format`](mod@format) | `format.named`, `format.<name>()`, `<Format>.validate` |
//!
//! [`types`] holds the opaque value types (`net.IP`, `kubernetes.Quantity`, ...) and the type
//! names an expression may write (`type(x) == string`).

pub mod compat;
pub mod format;
mod gofmt;
pub mod ip;
pub mod lists;
pub mod quantity;
pub mod regex;
pub mod semver;
pub mod sets;
pub mod strfmt;
pub mod types;
pub mod url;

use cel::common::value::Val;
use cel::{DeclarationError, Env};

/// Function namespaces these libraries (and the crate's optional library) call through:
/// `sets.contains(a, b)`, `format.named(n)`, `ip.isCanonical(s)`, `optional.of(x)` are calls,
/// not reads of a variable.
pub const NAMESPACES: &[&str] = &["sets", "format", "ip", "optional"];

/// Registers every Kubernetes library on `env`: its types, so expressions can name them, and its
/// functions.
///
/// # Errors
///
/// Fails when one of the overloads clashes with one already declared: a fixed set of them
/// cannot, and a test proves they don't on the environment celgate builds.
pub fn register(env: &mut Env) -> Result<(), DeclarationError> {
    types::register(env)?;
    lists::register(env)?;
    sets::register(env)?;
    regex::register(env)?;
    url::register(env)?;
    ip::register(env)?;
    quantity::register(env)?;
    semver::register(env)?;
    format::register(env)?;
    compat::register(env)?;
    Ok(())
}

/// The text a result of one of this module's types is shown as (`celgate eval`, messages):
/// the address, the CIDR, the URL, the quantity, the version or the format's name. `None` for
/// values of any other type.
pub fn display(val: &dyn Val) -> Option<String> {
    if let Some(v) = val.downcast_ref::<ip::Ip>() {
        return Some(v.to_string());
    }
    if let Some(v) = val.downcast_ref::<ip::Cidr>() {
        return Some(v.to_string());
    }
    if let Some(v) = val.downcast_ref::<url::Url>() {
        return Some(v.to_string());
    }
    if let Some(v) = val.downcast_ref::<quantity::Quantity>() {
        return Some(v.to_string());
    }
    if let Some(v) = val.downcast_ref::<semver::Semver>() {
        return Some(v.to_string());
    }
    val.downcast_ref::<format::Format>().map(ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_without_clashing_with_the_standard_library_and_extensions() {
        let mut env = Env::stdlib();
        env.add_extension(cel::extensions::strings).expect("strings");
        env.add_extension(cel::extensions::lists).expect("lists");
        env.add_extension(cel::extensions::math).expect("math");
        env.add_extension(cel::extensions::encoders).expect("encoders");
        crate::engine::cel::functions::register(&mut env);
        assert_eq!(register(&mut env), Ok(()));
    }
}
