//! `celgate docs`: render the rule reference as Markdown (to stdout or `--out`), or check that a
//! checked-in copy (`docs/policies.md`) is up to date (`--check`, exit 1 when stale).

use crate::cli::DocsArgs;
use crate::docs;

use super::{load_engine, CommandError, Streams, EXIT_DENIED, EXIT_OK};

/// Renders the reference for the selected packs; with `--check`, compares instead of writing.
pub fn run(args: &DocsArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let (engine, _) = load_engine(&args.selection.packs)?;
    let engine = engine.filtered(&args.selection.frameworks)?;
    let rendered = docs::render(engine.packs().iter().map(AsRef::as_ref));

    if let Some(file) = &args.check {
        let shown = file.display();
        let hint = regenerate_hint(args, &shown.to_string());
        let current = match std::fs::read_to_string(file) {
            Ok(text) => text.replace("\r\n", "\n"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                writeln!(
                    streams.stderr,
                    "{shown} is stale: run `{hint}` (the file does not exist)"
                )?;
                return Ok(EXIT_DENIED);
            }
            Err(e) => return Err(CommandError::Usage(format!("cannot read {shown}: {e}"))),
        };
        if current == rendered {
            return Ok(EXIT_OK);
        }
        let line = first_difference(&current, &rendered);
        writeln!(
            streams.stderr,
            "{shown} is stale: run `{hint}`\n(first difference at line {line})"
        )?;
        return Ok(EXIT_DENIED);
    }

    match &args.out {
        Some(path) => std::fs::write(path, rendered)?,
        None => streams.stdout.write_all(rendered.as_bytes())?,
    }
    Ok(EXIT_OK)
}

/// `celgate docs [--packs P]... [--framework N]... --out FILE`, as this run was selected.
fn regenerate_hint(args: &DocsArgs, file: &str) -> String {
    let mut hint = "celgate docs".to_owned();
    for p in &args.selection.packs {
        hint.push_str(" --packs ");
        hint.push_str(&p.display().to_string());
    }
    for f in &args.selection.frameworks {
        hint.push_str(" --framework ");
        hint.push_str(f);
    }
    hint.push_str(" --out ");
    hint.push_str(file);
    hint
}

/// 1-based number of the first line that differs.
fn first_difference(current: &str, rendered: &str) -> usize {
    current
        .lines()
        .zip(rendered.lines())
        .take_while(|(old, new)| old == new)
        .count()
        + 1
}
