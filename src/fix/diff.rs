//! Planning the text edits that turn one document's value into another: only the nodes that
//! differ are rewritten; a new key goes after its siblings, a new item where it belongs, each in
//! the style of the collection it joins. What cannot be edited in place (a node whose structure
//! the tree does not describe) is re-rendered whole, at the smallest node that holds the change.

use serde_json::{Map, Value};

use super::render::{self, Style};
use super::scan;
use super::tree::{Entry, Item, Kind, Node};

/// Replace the bytes `start..end` of the text with `text` (`\n` line breaks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// A change that cannot be made at this node; its parent re-renders instead.
#[derive(Debug)]
pub(super) struct Unfit;

/// Where a node sits, which decides how a replacement is written.
#[derive(Clone, Copy)]
pub(super) enum Slot<'a> {
    /// The root of a document.
    Root,
    /// The value of an entry of a block mapping.
    BlockValue(&'a Entry),
    /// An item of a block sequence.
    BlockItem(&'a Item),
    /// Inside a flow collection (or JSON).
    Flow,
}

/// Collects the edits of one text.
pub(super) struct Planner<'a> {
    pub(super) text: &'a str,
    pub(super) style: Style,
    /// Leave aliases as they are, trusting that the edits to their anchored nodes give them
    /// their new values (checked when the text is read back).
    keep_aliases: bool,
    /// Anchors whose aliases are written out as their values, since their anchored node is
    /// edited and the aliases must keep the old value.
    pub expand: Vec<usize>,
    /// The edits planned so far.
    pub edits: Vec<Edit>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(text: &'a str, style: Style, keep_aliases: bool) -> Self {
        Planner {
            text,
            style,
            keep_aliases,
            expand: Vec::new(),
            edits: Vec::new(),
        }
    }

    /// Plans the edits that turn `node` (which reads as `old`) into `new`.
    pub(super) fn diff(&mut self, node: &Node, old: &Value, new: &Value, slot: Slot<'_>) -> Result<(), Unfit> {
        if let Kind::Alias(id) = node.kind {
            if self.expand.contains(&id) {
                return self.replace(node, new, slot);
            }
        }
        if old == new {
            return self.expand_aliases(node, old, slot);
        }
        if self.keep_aliases && matches!(node.kind, Kind::Alias(_)) {
            return Ok(());
        }
        let mark = self.edits.len();
        let inside = match (&node.kind, old, new) {
            (Kind::Map { flow, entries }, Value::Object(o), Value::Object(n)) if !n.is_empty() => {
                self.map(node, *flow, entries, o, n)
            }
            (Kind::Seq { flow, items }, Value::Array(o), Value::Array(n)) if !n.is_empty() => {
                self.seq(node, *flow, items, o, n)
            }
            _ => Err(Unfit),
        };
        if inside.is_ok() && !overlapping(&self.edits[mark..]) {
            return Ok(());
        }
        self.edits.truncate(mark);
        self.replace(node, new, slot)
    }

    /// Writes out the aliases under the unchanged `node` (reading as `value`) whose anchors are
    /// in [`Planner::expand`].
    fn expand_aliases(&mut self, node: &Node, value: &Value, slot: Slot<'_>) -> Result<(), Unfit> {
        if self.expand.is_empty() {
            return Ok(());
        }
        match (&node.kind, value) {
            (Kind::Alias(id), _) if self.expand.contains(id) => self.replace(node, value, slot),
            (Kind::Map { flow, entries }, Value::Object(map)) => {
                for entry in entries {
                    if let Some(value) = map.get(&entry.key) {
                        let slot = if *flow { Slot::Flow } else { Slot::BlockValue(entry) };
                        self.expand_aliases(&entry.value, value, slot)?;
                    }
                }
                Ok(())
            }
            (Kind::Seq { flow, items }, Value::Array(values)) => {
                for (item, value) in items.iter().zip(values) {
                    let slot = if *flow { Slot::Flow } else { Slot::BlockItem(item) };
                    self.expand_aliases(&item.value, value, slot)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Rewrites `node` whole as `new`.
    pub(super) fn replace(&mut self, node: &Node, new: &Value, slot: Slot<'_>) -> Result<(), Unfit> {
        let text = self.text;
        let step = self.style.step;
        let was = match node.kind {
            Kind::Scalar { style, empty: false } => Some(style),
            _ => None,
        };
        let block_node = matches!(node.kind, Kind::Map { flow: false, .. } | Kind::Seq { flow: false, .. });
        let edit = match slot {
            Slot::Flow => Edit {
                start: node.start,
                end: node.end,
                text: self.flow_value(new, node.start, text[node.start..node.end].contains('\n')),
            },
            Slot::Root if self.style.json || node_is_flow(node) => Edit {
                start: node.start,
                end: node.end,
                text: self.flow_value(new, node.start, text[node.start..node.end].contains('\n')),
            },
            Slot::Root => {
                let col = scan::column(text, node.start);
                let rendered = if render::needs_block(new) {
                    trim_break(render::block(new, col, true, self.style))
                } else {
                    render::scalar(new, col + step, was, self.style)
                };
                Edit {
                    start: node.start,
                    end: node.end,
                    text: rendered,
                }
            }
            Slot::BlockValue(entry) => {
                let colon = entry.colon.ok_or(Unfit)?;
                let key_col = scan::column(text, entry.key_start);
                if render::needs_block(new) {
                    let indent = match new {
                        Value::Array(_) if self.style.indentless => key_col,
                        _ => key_col + step,
                    };
                    Edit {
                        start: colon + 1,
                        end: node.end,
                        text: format!("\n{}", trim_break(render::block(new, indent, false, self.style))),
                    }
                } else if block_node || matches!(node.kind, Kind::Scalar { empty: true, .. }) {
                    Edit {
                        start: colon + 1,
                        end: node.end.max(colon + 1),
                        text: format!(" {}", render::scalar(new, key_col + step, None, self.style)),
                    }
                } else {
                    Edit {
                        start: node.start,
                        end: node.end,
                        text: render::scalar(new, key_col + step, was, self.style),
                    }
                }
            }
            Slot::BlockItem(item) => {
                let dash = item.dash.ok_or(Unfit)?;
                let col = scan::column(text, dash) + 2;
                let rendered = if render::needs_block(new) {
                    trim_break(render::block(new, col, true, self.style))
                } else {
                    render::scalar(new, col, was, self.style)
                };
                Edit {
                    start: node.start,
                    end: node.end,
                    text: rendered,
                }
            }
        };
        self.edits.push(edit);
        Ok(())
    }

    /// `value` written inside flow context starting at `at`: one line, or JSON laid out over
    /// lines like the node it replaces.
    fn flow_value(&self, value: &Value, at: usize, multi_line: bool) -> String {
        if self.style.json {
            let indent = multi_line.then(|| line_indent(self.text, at));
            render::json(value, indent, self.style)
        } else {
            render::flow(value, self.style)
        }
    }

    fn map(
        &mut self,
        node: &Node,
        flow: bool,
        entries: &[Entry],
        o: &Map<String, Value>,
        n: &Map<String, Value>,
    ) -> Result<(), Unfit> {
        let find = |key: &str| entries.iter().position(|e| e.key == key && e.key != "<<");
        let mut removed = Vec::new();
        let mut added: Vec<(&String, &Value)> = Vec::new();
        for (key, old_value) in o {
            match (n.get(key), find(key)) {
                (None, Some(i)) => removed.push(i),
                (None, None) => return Err(Unfit),
                (Some(new_value), Some(i)) if new_value != old_value => {
                    let entry = &entries[i];
                    let slot = if flow { Slot::Flow } else { Slot::BlockValue(entry) };
                    self.diff(&entry.value, old_value, new_value, slot)?;
                }
                // A merged (`<<`) entry changes by being written explicitly.
                (Some(new_value), None) if new_value != old_value => added.push((key, new_value)),
                (Some(_), Some(i)) => {
                    let entry = &entries[i];
                    let slot = if flow { Slot::Flow } else { Slot::BlockValue(entry) };
                    self.expand_aliases(&entry.value, old_value, slot)?;
                }
                _ => {}
            }
        }
        added.extend(n.iter().filter(|(key, _)| !o.contains_key(*key)));
        if flow && entries.iter().any(|e| e.colon.is_none()) && (!removed.is_empty() || !added.is_empty()) {
            return Err(Unfit);
        }
        for i in removed {
            self.remove_entry(flow, entries, i)?;
        }
        if !added.is_empty() {
            self.add_entries(node, flow, entries, &added)?;
        }
        Ok(())
    }

    fn remove_entry(&mut self, flow: bool, entries: &[Entry], i: usize) -> Result<(), Unfit> {
        let text = self.text;
        let entry = &entries[i];
        let (start, end) = if !flow && scan::first_on_line(text, entry.key_start) {
            (
                scan::line_start(text, entry.key_start),
                scan::next_line(text, entry.value.end.max(entry.key_start)),
            )
        } else if let Some(next) = entries.get(i + 1) {
            (entry.key_start, next.key_start)
        } else if flow && i > 0 {
            (entries[i - 1].value.end, entry.value.end)
        } else {
            return Err(Unfit);
        };
        self.edits.push(Edit {
            start,
            end,
            text: String::new(),
        });
        Ok(())
    }

    fn add_entries(
        &mut self,
        node: &Node,
        flow: bool,
        entries: &[Entry],
        added: &[(&String, &Value)],
    ) -> Result<(), Unfit> {
        let text = self.text;
        let style = self.style;
        let quote = render::shared_quote(entries.iter().map(|e| &e.value));
        let edit = if flow {
            let render = |key: &str, value: &Value, indent: Option<usize>| {
                let value = if style.json {
                    render::json(value, indent, style)
                } else {
                    render::flow_like(value, quote, style)
                };
                format!("{}: {value}", render::key(key, true, style))
            };
            match entries.last() {
                None => Edit {
                    start: node.start + 1,
                    end: node.start + 1,
                    text: added
                        .iter()
                        .map(|(k, v)| render(k, v, None))
                        .collect::<Vec<_>>()
                        .join(", "),
                },
                Some(last) => {
                    let multi_line = text[node.start..last.key_start].contains('\n');
                    let col = scan::column(text, last.key_start);
                    let indent = line_indent(text, last.key_start);
                    let rendered: Vec<String> = added
                        .iter()
                        .map(|(k, v)| render(k, v, multi_line.then_some(indent)))
                        .collect();
                    after_last(text, last.value.end, multi_line, col, &rendered)
                }
            }
        } else {
            let first = entries.first().ok_or(Unfit)?;
            let last = entries.last().ok_or(Unfit)?;
            let col = scan::column(text, first.key_start);
            let at = scan::line_end(text, last.value.end.max(last.key_start));
            let text = added
                .iter()
                .map(|(k, v)| trim_break(render::block_entry(k, v, col, quote, style)))
                .collect::<Vec<_>>();
            let text = surround(&text, "\n", "");
            Edit {
                start: at,
                end: at,
                text,
            }
        };
        self.edits.push(edit);
        Ok(())
    }
}

/// Inserts `rendered` entries or items after the last one of a flow collection, which ends at
/// `end`: separated by commas, one per line at `col` when the collection is laid out over lines,
/// and each followed by a comma when the last one already was (`{a: 1,}`).
pub(super) fn after_last(text: &str, end: usize, multi_line: bool, col: usize, rendered: &[String]) -> Edit {
    let next = scan::skip_blank(text, end);
    let trailing_comma = text.as_bytes().get(next) == Some(&b',');
    let lead = if multi_line {
        format!("\n{}", " ".repeat(col))
    } else {
        " ".to_owned()
    };
    if trailing_comma {
        Edit {
            start: next + 1,
            end: next + 1,
            text: surround(rendered, &lead, ","),
        }
    } else {
        Edit {
            start: end,
            end,
            text: surround(rendered, &format!(",{lead}"), ""),
        }
    }
}

/// Each of `parts` between `before` and `after`, one after another.
pub(super) fn surround(parts: &[String], before: &str, after: &str) -> String {
    let mut out = String::new();
    for part in parts {
        out.push_str(before);
        out.push_str(part);
        out.push_str(after);
    }
    out
}

/// Whether `node` is a flow collection.
fn node_is_flow(node: &Node) -> bool {
    matches!(node.kind, Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. })
}

/// Indentation (in spaces) of the line holding `at`.
pub(super) fn line_indent(text: &str, at: usize) -> usize {
    let start = scan::line_start(text, at);
    text[start..].bytes().take_while(|&b| b == b' ').count()
}

pub(super) fn trim_break(mut text: String) -> String {
    while text.ends_with('\n') {
        text.pop();
    }
    text
}

/// Whether any two edits touch the same bytes (edits are sorted first).
pub(super) fn overlapping(edits: &[Edit]) -> bool {
    let mut spans: Vec<(usize, usize)> = edits.iter().map(|e| (e.start, e.end)).collect();
    spans.sort_unstable();
    spans
        .windows(2)
        .any(|w| w[1].0 < w[0].1 || (w[1].0 == w[0].0 && w[0].0 == w[0].1 && w[1].0 == w[1].1))
}
