//! The one CEL environment every pack, the interpreter and the compiled evaluator share: the
//! standard library, the extensions, Kubernetes' libraries and celgate's own functions.

use std::sync::{Arc, OnceLock};

use cel::common::types::{CelBool, CelString, DYN_TYPE, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{Env, ExecutionError};

use super::{equality, functions, k8s, macros2, opt_chain};

/// The one CEL environment (standard library, extensions), built once per process.
pub fn environment() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The extensions only fail on a name clash, which a fixed set of them cannot have;
        // should a future `cel` clash, the environment simply lacks that extension.
        let _ = env.add_extension(cel::extensions::strings);
        let _ = env.add_extension(cel::extensions::lists);
        let _ = env.add_extension(cel::extensions::math);
        let _ = env.add_extension(cel::extensions::encoders);
        functions::register(&mut env);
        macros2::register(&mut env);
        let _ = env.add_extension(k8s::register);
        let _ = env.add_overload(
            CACHED_MATCHES,
            "celgate_matches_string_string",
            vec![STRING_TYPE, STRING_TYPE],
            cached_matches,
        );
        for (name, id, f) in [
            (
                equality::EQUALS,
                "celgate_equals_dyn_dyn",
                equality::equals_fn as cel::common::functions::Function,
            ),
            (
                equality::NOT_EQUALS,
                "celgate_not_equals_dyn_dyn",
                equality::not_equals_fn,
            ),
            (equality::IN, "celgate_in_dyn_dyn", equality::in_fn),
        ] {
            let _ = env.add_overload(name, id, vec![DYN_TYPE, DYN_TYPE], f);
        }
        for fields in 1..=opt_chain::MAX_FIELDS {
            let id = format!("celgate_opt_or_{fields}");
            let _ = env.add_overload(
                opt_chain::OPT_OR,
                &id,
                (0..fields + 2).map(|_| DYN_TYPE).collect(),
                opt_chain::opt_or,
            );
        }
        Arc::new(env)
    })
    .clone()
}

/// Name `matches` calls are rewritten to: the same semantics, with compiled regexes cached.
pub(crate) const CACHED_MATCHES: &str = "__celgate_matches";

/// `string.matches(pattern)` (RE2 syntax, unanchored) with the compiled regex cached, so a rule
/// does not recompile its pattern for every value it checks.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn cached_matches<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(text), Some(pattern)) = (
        args.first().and_then(|a| a.downcast_ref::<CelString>()),
        args.get(1).and_then(|a| a.downcast_ref::<CelString>()),
    ) else {
        return Err(ExecutionError::function_error("matches", "expects (string, string)"));
    };
    let matched = k8s::regex::with_regex("matches", pattern.inner(), |re| re.is_match(text.inner()))?;
    Ok(CowVal::owned(CelBool::from(matched)))
}
