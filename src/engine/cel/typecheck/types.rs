//! The static types the checks know: those literals and a few fixed-result functions give.
//! Everything read from the document is dynamic.

use cel::common::ast::{Expr, IdedExpr, LiteralValue};

/// A static type, as far as literals tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ty {
    /// Not known without a schema.
    Dyn,
    /// A scalar named as CEL names it.
    Scalar(&'static str),
    /// `list(T)`.
    List(Box<Ty>),
    /// `map(K, V)`.
    Map(Box<Ty>, Box<Ty>),
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Dyn => f.write_str("dyn"),
            Ty::Scalar(s) => f.write_str(s),
            Ty::List(t) => write!(f, "list({t})"),
            Ty::Map(k, v) => write!(f, "map({k}, {v})"),
        }
    }
}

/// Whether a value of `b` may stand where `a` is expected (dyn both ways).
pub(super) fn assignable(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) => true,
        (Ty::Scalar(x), Ty::Scalar(y)) => x == y,
        (Ty::List(x), Ty::List(y)) => assignable(x, y),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => assignable(k1, k2) && assignable(v1, v2),
        _ => false,
    }
}

/// The more general of two assignable types.
pub(super) fn most_general(a: &Ty, b: &Ty) -> Ty {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(most_general(x, y))),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => Ty::Map(Box::new(most_general(k1, k2)), Box::new(most_general(v1, v2))),
        _ => a.clone(),
    }
}

pub(super) fn literal_ty(lit: &LiteralValue) -> Ty {
    Ty::Scalar(match lit {
        LiteralValue::Int(_) => "int",
        LiteralValue::UInt(_) => "uint",
        LiteralValue::Double(_) => "double",
        LiteralValue::String(_) => "string",
        LiteralValue::Bytes(_) => "bytes",
        LiteralValue::Boolean(_) => "bool",
        LiteralValue::Null => "null_type",
    })
}

/// The type of `e` as far as its own literal form tells (no findings).
pub(super) fn shallow_ty(e: &IdedExpr) -> Ty {
    match &e.expr {
        Expr::Literal(lit) => literal_ty(lit),
        Expr::List(_) => Ty::List(Box::new(Ty::Dyn)),
        Expr::Map(_) => Ty::Map(Box::new(Ty::Dyn), Box::new(Ty::Dyn)),
        Expr::Call(c) if c.target.is_none() => result_ty(&c.func_name, None),
        _ => Ty::Dyn,
    }
}

/// The result type of a declared function, where it is fixed whatever the arguments.
pub(super) fn result_ty(name: &str, target: Option<&Ty>) -> Ty {
    Ty::Scalar(match name {
        "int" | "size" | "indexOf" | "lastIndexOf" => "int",
        "uint" => "uint",
        "double" => "double",
        "string" | "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "format"
        | "strings.quote" => "string",
        "bool" | "contains" | "startsWith" | "endsWith" | "matches" => "bool",
        "bytes" => "bytes",
        "duration" => "google.protobuf.Duration",
        "timestamp" => "google.protobuf.Timestamp",
        "join" if target.is_some() => "string",
        "split" => return Ty::List(Box::new(Ty::Scalar("string"))),
        _ => return Ty::Dyn,
    })
}

/// The result type of an operator on these operand types, where literals make it certain.
pub(super) fn operator_ty(name: &str, args: &[Ty]) -> Ty {
    match name {
        "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" | "_&&_" | "_||_" | "!_" | "@in" => Ty::Scalar("bool"),
        "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => match args {
            [a, b] if a == b && matches!(a, Ty::Scalar("int" | "uint" | "double" | "string")) => a.clone(),
            _ => Ty::Dyn,
        },
        _ => Ty::Dyn,
    }
}
