//! `celgate eval EXPR`: debug a rule's expression against a document.

use std::path::Path;

use crate::cli::EvalArgs;
use crate::engine::{Engine, EvalError, Evaluator, Input, Operation};
use crate::source;

use super::{CommandError, Streams, EXIT_DENIED, EXIT_ERROR, EXIT_OK};

/// Runs `eval`: prints the value as JSON (exit 0), a compile error (exit 2) or an evaluation
/// error (exit 1).
pub fn run(args: &EvalArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let operation = Operation::parse(&args.operation)
        .ok_or_else(|| CommandError::Usage(format!("--operation: unknown operation '{}'", args.operation)))?;
    let mut input = Input {
        operation,
        ..Input::default()
    };
    if let Some(path) = &args.object {
        input.object = read_document(path, streams)?;
    }
    if let Some(path) = &args.old_object {
        input.old_object = Some(read_document(path, streams)?);
    }
    let mut vars = Vec::new();
    for var in &args.vars {
        let (name, json) = var
            .split_once('=')
            .ok_or_else(|| CommandError::Usage(format!("--var {var}: expected NAME=JSON")))?;
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| CommandError::Usage(format!("--var {name}: not JSON: {e}")))?;
        if name == "params" {
            if let serde_json::Value::Object(map) = value {
                input.params = map;
                continue;
            }
        }
        vars.push((name.to_owned(), value));
    }
    let evaluator = if args.interpreter {
        Evaluator::Interpreter
    } else {
        Evaluator::Compiled
    };
    match Engine::eval_expression_on(evaluator, &args.expression, &input, &vars) {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".to_owned());
            writeln!(streams.stdout, "{text}")?;
            Ok(EXIT_OK)
        }
        Err(EvalError::Compile(e)) => {
            writeln!(streams.stderr, "error: expression does not compile: {e}")?;
            Ok(EXIT_ERROR)
        }
        Err(e @ (EvalError::Execution(_) | EvalError::Cost(_))) => {
            writeln!(streams.stderr, "error: {e}")?;
            Ok(EXIT_DENIED)
        }
    }
}

fn read_document(path: &Path, streams: &mut Streams<'_>) -> Result<serde_json::Value, CommandError> {
    let mut collected = crate::documents::Collected::default();
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        streams
            .stdin
            .read_to_end(&mut bytes)
            .map_err(|e| CommandError::Usage(format!("cannot read stdin: {e}")))?;
        crate::documents::parse_bytes("-", &bytes, &mut collected);
    } else {
        let text = crate::packs::read_text(path).map_err(|e| CommandError::Usage(e.to_string()))?;
        let docs =
            source::parse_documents(&text).map_err(|e| CommandError::Usage(format!("{}: {e}", path.display())))?;
        return match docs.into_iter().next() {
            Some(d) => Ok(d.value),
            None => Err(CommandError::Usage(format!("{}: no document", path.display()))),
        };
    }
    if let Some(p) = collected.problems.first() {
        return Err(CommandError::Usage(p.to_string()));
    }
    collected
        .documents
        .into_iter()
        .next()
        .map(|d| d.value)
        .ok_or_else(|| CommandError::Usage("stdin: no document".to_owned()))
}
