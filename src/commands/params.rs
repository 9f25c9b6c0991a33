//! `--params FILE`: param objects for admission policies, read from YAML/JSON files (any number
//! of documents, `kind: List` split) and handed to the engine.

use std::path::PathBuf;

use crate::engine::Engine;
use crate::packs;

use super::CommandError;

/// `engine` with the objects of `files` as param objects; the engine itself when none are given.
/// An unreadable file or an object without apiVersion, kind or metadata.name is an error naming
/// the file and document.
pub fn with_param_files(engine: &Engine, files: &[PathBuf]) -> Result<Engine, CommandError> {
    if files.is_empty() {
        return Ok(engine.clone());
    }
    let objects = packs::read_params(files)?;
    engine.with_param_objects(objects).map_err(|errors| {
        CommandError::Params(
            errors
                .iter()
                .map(|e| format!("bad param object: {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })
}
