//! `celgate test`: run packs' own test cases.

use crate::cli::TestArgs;
use crate::testing;

use super::{load_engine, CommandError, Streams, EXIT_DENIED, EXIT_OK};

/// Runs every test case; exit 1 on any failure.
pub fn run(args: &TestArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let (engine, found) = load_engine(&args.paths)?;
    if found.tests.is_empty() {
        return Err(CommandError::Usage(
            "no test cases found (expected <pack>/tests/*.yaml next to the packs)".to_owned(),
        ));
    }
    let outcomes = testing::run(&engine, &found.tests);
    let mut failed = 0usize;
    for o in &outcomes {
        if o.passed {
            if !args.quiet {
                writeln!(streams.stdout, "ok    {} :: {}", o.file, o.case)?;
            }
        } else {
            failed += 1;
            writeln!(streams.stdout, "FAIL  {} :: {}\n      {}", o.file, o.case, o.detail)?;
        }
    }
    let passed = outcomes.len() - failed;
    writeln!(streams.stdout, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 { EXIT_OK } else { EXIT_DENIED })
}
