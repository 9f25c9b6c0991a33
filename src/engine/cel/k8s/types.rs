//! The value types the Kubernetes libraries add, and the type names an expression may write.
//!
//! Each library type is an opaque CEL value (a Rust type implementing `Val`, recovered by
//! downcasting): `type(ip('::1')) == net.IP` holds, and overloads are picked by these types, so
//! `quantity('1').isLessThan(1)` is a "no matching overload" error naming the argument types.

use cel::common::types::{Kind, Type};
use cel::{DeclarationError, Env};

/// `net.IP`: an IPv4 or IPv6 address ([`super::ip::Ip`]).
pub static IP_TYPE: Type = Type::simple_type(Kind::Opaque, "net.IP");
/// `net.CIDR`: an address with a prefix length ([`super::ip::Cidr`]).
pub static CIDR_TYPE: Type = Type::simple_type(Kind::Opaque, "net.CIDR");
/// `kubernetes.URL`: a parsed URL ([`super::url::Url`]).
pub static URL_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.URL");
/// `kubernetes.Quantity`: a resource quantity ([`super::quantity::Quantity`]).
pub static QUANTITY_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.Quantity");
/// `kubernetes.Semver`: a semantic version ([`super::semver::Semver`]).
pub static SEMVER_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.Semver");
/// `kubernetes.NamedFormat`: a named string format ([`super::format::Format`]).
pub static FORMAT_TYPE: Type = Type::simple_type(Kind::Opaque, "kubernetes.NamedFormat");

/// Names that stand for types rather than variables: the standard CEL types, and the first
/// segment of the qualified ones (`google.protobuf.Duration`, `net.IP`, `kubernetes.Quantity`).
/// `type(x) == string` reads `string` as the type.
pub const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "uint",
    "string",
    "list",
    "map",
    "null_type",
    "type",
    "optional_type",
    "google",
    "net",
    "kubernetes",
];

/// Registers the library types so expressions can name them.
pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    for t in [
        &IP_TYPE,
        &CIDR_TYPE,
        &URL_TYPE,
        &QUANTITY_TYPE,
        &SEMVER_TYPE,
        &FORMAT_TYPE,
    ] {
        env.add_type(t.to_owned())?;
    }
    Ok(())
}

/// Implements `Val` (and `StaticVal`, so overloads can take it by reference) for a library
/// type: its CEL type, equality by the Rust type's `PartialEq`, and cloning.
macro_rules! opaque_val {
    ($ty:ty, $cel_type:path) => {
        impl cel::common::value::Val for $ty {
            fn get_type(&self) -> &cel::common::types::Type {
                &$cel_type
            }

            fn cel_type() -> &'static cel::common::types::Type {
                &$cel_type
            }

            fn equals(&self, other: &dyn cel::common::value::Val) -> bool {
                other.downcast_ref::<$ty>().is_some_and(|o| o == self)
            }

            fn clone_as_boxed<'w>(&self) -> Box<dyn cel::common::value::Val + 'w>
            where
                Self: 'w,
            {
                Box::new(self.clone())
            }

            fn as_any(&self) -> Option<&dyn std::any::Any> {
                Some(self)
            }
        }

        impl cel::common::value::StaticVal for $ty {}
    };
}

pub(super) use opaque_val;
