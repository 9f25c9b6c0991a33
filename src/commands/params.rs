//! `--params FILE`: param objects for admission policies, read from YAML/JSON files (any number
//! of documents, `kind: List` split) and handed to the engine.

use std::path::PathBuf;

use crate::engine::Engine;
use crate::packs;
use crate::source;

use super::CommandError;

/// `engine` with the objects of `files` as param objects; the engine itself when none are given.
/// An unreadable file or an object without apiVersion, kind or metadata.name is an error naming
/// the file and document.
pub fn with_param_files(engine: &Engine, files: &[PathBuf]) -> Result<Engine, CommandError> {
    if files.is_empty() {
        return Ok(engine.clone());
    }
    let mut objects = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = packs::read_text(file).map_err(|e| CommandError::Params(format!("cannot read params: {e}")))?;
        let docs = source::parse_documents(&text).map_err(|e| CommandError::Params(format!("{shown}: {e}")))?;
        for doc in docs {
            let origin = format!("{shown}#{}", doc.index);
            match doc.value.get("items").and_then(|i| i.as_array()) {
                Some(items) if doc.value.get("kind").and_then(|k| k.as_str()) == Some("List") => {
                    for (i, item) in items.iter().enumerate() {
                        objects.push((format!("{origin}/items/{i}"), item.clone()));
                    }
                }
                _ => objects.push((origin, doc.value)),
            }
        }
    }
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
