//! `celgate check --fix`: writing patched documents back into their text so that only what the
//! patch changes changes.
//!
//! [`apply`] edits the original text in place: the text is read again into a tree of node
//! positions (`tree`), the value each patched document had is compared with its patched value,
//! and only the nodes that differ are rewritten (`diff`), in the style around them
//! (`render`): comments, key order, quoting, flow or block style, indentation and line endings
//! of everything else stay as they were. Every result is read back and compared with the
//! patched values; where an in-place edit does not read back right (a change inside an anchored
//! node that aliases copy, say), that document is re-rendered whole, and only if that fails too
//! the whole text.

mod diff;
mod output;
mod render;
mod scan;
mod seq;
mod tree;

use serde_json::Value;

use crate::source::{self, SourceError};
use diff::{Edit, Planner, Slot};
use render::Style;
use tree::{Kind, Node};

pub use output::{write_fixes, FixDestination, FixError, FixOutcome, FixSource};

/// One patched document of a text.
#[derive(Debug, Clone, Copy)]
pub struct Patched<'a> {
    /// Index of the document in the text (as [`crate::source::SourceDoc::index`]).
    pub index: usize,
    /// For an item of a `kind: List`, its index in `items`.
    pub item: Option<usize>,
    /// The document's patched value.
    pub value: &'a Value,
}

/// The text with the patched documents rewritten and everything else as it was.
///
/// # Errors
///
/// The text does not parse (it parsed when the documents were read, so only if it changed).
pub fn apply(text: &str, patched: &[Patched<'_>]) -> Result<String, SourceError> {
    if patched.is_empty() {
        return Ok(text.to_owned());
    }
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let originals: Vec<(usize, Value)> = source::parse_documents(body)?
        .into_iter()
        .map(|d| (d.index, d.value))
        .collect();
    let mut expected = originals.clone();
    for p in patched {
        if let Some(slot) = target(&mut expected, p.index, p.item) {
            slot.clone_from(p.value);
        }
    }
    let fixed = Fixer::new(body, &originals, &expected).fix(patched);
    Ok(format!("{bom}{fixed}"))
}

/// The value of document `index` (or of its item) in `docs`.
fn target(docs: &mut [(usize, Value)], index: usize, item: Option<usize>) -> Option<&mut Value> {
    let (_, doc) = docs.iter_mut().find(|(i, _)| *i == index)?;
    match item {
        None => Some(doc),
        Some(i) => doc.get_mut("items")?.get_mut(i),
    }
}

struct Fixer<'a> {
    text: &'a str,
    originals: &'a [(usize, Value)],
    expected: &'a [(usize, Value)],
    tree: Option<Vec<Option<Node>>>,
    style: Style,
    line_break: &'static str,
}

impl<'a> Fixer<'a> {
    fn new(text: &'a str, originals: &'a [(usize, Value)], expected: &'a [(usize, Value)]) -> Self {
        let tree = tree::parse(text);
        let style = detect_style(text, tree.as_deref());
        Fixer {
            text,
            originals,
            expected,
            tree,
            style,
            line_break: scan::line_break(text),
        }
    }

    fn fix(&self, patched: &[Patched<'_>]) -> String {
        // Aliases first left alone (an edit to their anchor may be all they need), then
        // rewritten.
        let has_aliases = self.text.contains('*');
        let plan_all = |keep_aliases: bool, expand: &[usize]| {
            patched.iter().try_fold(Vec::new(), |mut all, p| {
                all.extend(self.plan(p, keep_aliases, expand)?);
                Some(all)
            })
        };
        if has_aliases {
            if let Some(text) = plan_all(true, &[]).and_then(|edits| self.checked(&edits, self.expected)) {
                return text;
            }
        }
        let edits = plan_all(false, &[]);
        if let Some(text) = edits.as_ref().and_then(|edits| self.checked(edits, self.expected)) {
            return text;
        }
        // Aliases of the anchored nodes that were edited keep their old value written out.
        let expand = edits
            .map(|edits| self.touched_anchors(patched, &edits))
            .unwrap_or_default();
        if !expand.is_empty() {
            if let Some(text) = plan_all(false, &expand).and_then(|edits| self.checked(&edits, self.expected)) {
                return text;
            }
        }
        let planned: Vec<Option<Vec<Edit>>> = patched.iter().map(|p| self.plan(p, false, &expand)).collect();
        // Document by document: in place where that reads back right, else the whole document.
        let mut kept = Vec::new();
        for (p, edits) in patched.iter().zip(planned) {
            let mut alone = self.originals.to_vec();
            if let Some(slot) = target(&mut alone, p.index, p.item) {
                slot.clone_from(p.value);
            }
            let in_place = edits.filter(|e| self.checked(e, &alone).is_some());
            match in_place.or_else(|| self.whole_document(p.index)) {
                Some(edits) => kept.extend(edits),
                None => return self.rendered(),
            }
        }
        self.checked(&kept, self.expected).unwrap_or_else(|| self.rendered())
    }

    /// The in-place edits for one patched document.
    fn plan(&self, p: &Patched<'_>, keep_aliases: bool, expand: &[usize]) -> Option<Vec<Edit>> {
        let root = self.tree.as_ref()?.get(p.index)?.as_ref()?;
        let (_, doc) = self.originals.iter().find(|(i, _)| *i == p.index)?;
        let mut planner = Planner::new(self.text, self.style_of(root), keep_aliases);
        planner.expand = expand.to_vec();
        match p.item {
            None => planner.diff(root, doc, p.value, Slot::Root).ok()?,
            Some(i) => {
                let Kind::Map { flow, entries } = &root.kind else {
                    return None;
                };
                let entry = entries.iter().find(|e| e.key == "items")?;
                let Kind::Seq { items, .. } = &entry.value.kind else {
                    return None;
                };
                let item = items.get(i)?;
                let slot = if *flow || matches!(entry.value.kind, Kind::Seq { flow: true, .. }) {
                    Slot::Flow
                } else {
                    Slot::BlockItem(item)
                };
                planner
                    .diff(&item.value, doc.get("items")?.get(i)?, p.value, slot)
                    .ok()?;
            }
        }
        Some(planner.edits)
    }

    /// The text's style, JSON or not as the document with this root is.
    fn style_of(&self, root: &Node) -> Style {
        Style {
            json: is_json(self.text, root),
            ..self.style
        }
    }

    /// The anchors of anchored nodes in the patched documents that `edits` reach.
    fn touched_anchors(&self, patched: &[Patched<'_>], edits: &[Edit]) -> Vec<usize> {
        let touched = |start: usize, end: usize| {
            edits
                .iter()
                .any(|e| (e.start < end && start < e.end) || (start <= e.start && e.start <= end))
        };
        let mut anchors = Vec::new();
        for p in patched {
            if let Some(Some(root)) = self.tree.as_ref().and_then(|t| t.get(p.index)) {
                root.touched_anchors(&touched, &mut anchors);
            }
        }
        anchors
    }

    /// Edits that re-render document `index` whole with its expected value.
    fn whole_document(&self, index: usize) -> Option<Vec<Edit>> {
        let root = self.tree.as_ref()?.get(index)?.as_ref()?;
        let (_, value) = self.expected.iter().find(|(i, _)| *i == index)?;
        let mut planner = Planner::new(self.text, self.style_of(root), false);
        planner.replace(root, value, Slot::Root).ok()?;
        Some(planner.edits)
    }

    /// The text with `edits` made, if it reads back as `expected`.
    fn checked(&self, edits: &[Edit], expected: &[(usize, Value)]) -> Option<String> {
        let text = self.edited(edits)?;
        let docs = source::parse_documents(&text).ok()?;
        let same = docs.len() == expected.len()
            && docs
                .iter()
                .zip(expected)
                .all(|(doc, (index, value))| doc.index == *index && &doc.value == value);
        same.then_some(text)
    }

    /// The text with `edits` made (`None` if two of them overlap).
    fn edited(&self, edits: &[Edit]) -> Option<String> {
        if diff::overlapping(edits) {
            return None;
        }
        let mut sorted: Vec<&Edit> = edits.iter().collect();
        sorted.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut at = 0;
        for edit in sorted {
            if edit.start < at || edit.end > self.text.len() {
                return None;
            }
            out.push_str(self.text.get(at..edit.start)?);
            if self.line_break == "\n" {
                out.push_str(&edit.text);
            } else {
                out.push_str(&edit.text.replace('\n', self.line_break));
            }
            at = edit.end;
        }
        out.push_str(self.text.get(at..)?);
        Some(out)
    }

    /// The last resort: every document rendered anew.
    fn rendered(&self) -> String {
        let mut out = String::new();
        for (i, (_, value)) in self.expected.iter().enumerate() {
            if i > 0 || self.text.trim_start().starts_with("---") {
                out.push_str("---\n");
            }
            out.push_str(&source::to_yaml_string(value));
        }
        if self.line_break == "\n" {
            out
        } else {
            out.replace('\n', self.line_break)
        }
    }
}

/// How the text is laid out: JSON or YAML, its indentation step and where it puts block
/// sequences under a key.
fn detect_style(text: &str, tree: Option<&[Option<Node>]>) -> Style {
    let json = tree
        .into_iter()
        .flatten()
        .flatten()
        .next()
        .is_some_and(|root| is_json(text, root));
    let step = text
        .lines()
        .take(2000)
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|line| line.len() - line.trim_start_matches(' ').len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(2)
        .min(8);
    let indentless = tree
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|root| indentless_in(text, root, 0))
        .unwrap_or(false);
    Style { json, step, indentless }
}

/// Whether a document is JSON: a flow root whose keys are double-quoted (YAML flow style with
/// plain keys is not).
fn is_json(text: &str, root: &Node) -> bool {
    match &root.kind {
        Kind::Map { flow: true, entries } => entries
            .first()
            .is_none_or(|e| text.as_bytes().get(e.key_start) == Some(&b'"')),
        Kind::Seq { flow: true, .. } => true,
        _ => false,
    }
}

/// Whether the first block sequence under a block mapping key in `node` starts at the key's
/// column.
fn indentless_in(text: &str, node: &Node, depth: usize) -> Option<bool> {
    if depth > 64 {
        return None;
    }
    match &node.kind {
        Kind::Map { flow: false, entries } => entries.iter().find_map(|e| match &e.value.kind {
            Kind::Seq { flow: false, items } => items
                .first()
                .and_then(|i| i.dash)
                .map(|dash| scan::column(text, dash) == scan::column(text, e.key_start)),
            _ => indentless_in(text, &e.value, depth + 1),
        }),
        Kind::Seq { flow: false, items } => items.iter().find_map(|i| indentless_in(text, &i.value, depth + 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
