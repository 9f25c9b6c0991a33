//! The document builder: turns the parser events of one document into a [`serde_json::Value`]
//! and its [`PositionMap`], with an explicit stack instead of recursion, enforcing
//! [`MAX_DEPTH`], the [`MAX_NODES`] budget and the stream's [`Expansion`] budget.

use std::collections::HashMap;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::scalar::resolve_scalar;
use super::{Position, PositionMap, SourceError, MAX_DEPTH, MAX_NODES};

/// What one node costs the expansion budget besides its text: about what a `Value` and its
/// place in a collection take in memory.
pub(super) const NODE_BYTES: usize = 48;

/// The bytes that copies of anchored nodes (anchors kept, aliases expanded) may add to one
/// stream. Shared by the documents of a stream, so many documents cannot each spend it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expansion {
    /// Most bytes of copies.
    pub max: usize,
    /// Bytes of copies made so far.
    pub used: usize,
    /// The name of the setting `max` comes from, for the error.
    pub limit: &'static str,
}

/// A node kept for later aliases.
struct Anchored {
    value: Value,
    /// Nodes in `value`, counted against the budget at each copy.
    nodes: usize,
    /// Bytes of `value` (text plus [`NODE_BYTES`] a node), counted against the expansion budget
    /// at each copy.
    bytes: usize,
    /// Collections nested in `value` (0 for a scalar).
    height: usize,
    /// For a scalar, its text, so that an alias to it can be used as a mapping key.
    key_text: Option<String>,
}

/// A mapping key waiting for its value.
struct PendingKey {
    text: String,
    position: Position,
    /// A plain `<<`: its value is merged instead of stored.
    merge: bool,
}

/// What a collection under construction holds so far.
enum Content {
    Seq(Vec<Value>),
    Map {
        entries: Map<String, Value>,
        key: Option<PendingKey>,
        /// Entries brought in by `<<`, applied at the end under the explicit ones.
        merged: Map<String, Value>,
        /// Position of the first `<<` key, where merged entries are located.
        merge_at: Option<Position>,
    },
}

/// A collection under construction.
struct Frame {
    content: Content,
    /// Its node in the position map.
    node: usize,
    /// Anchor id to register when complete (0 for none).
    anchor: usize,
    /// Nodes in the collection so far, itself included.
    nodes: usize,
    /// Bytes of the collection so far (its keys and values, itself included).
    bytes: usize,
    /// Collections nested in it, itself included.
    height: usize,
    /// Source index of its start event, and whether its position came from that event (rather
    /// than from its key), so a block mapping can be relocated to its first key.
    start_index: usize,
    own_position: bool,
}

/// A complete node, ready to go into its parent.
struct Built {
    value: Value,
    nodes: usize,
    bytes: usize,
    height: usize,
}

/// Builds one document from parser events, without recursion.
pub(super) struct DocBuilder {
    stack: Vec<Frame>,
    positions: PositionMap,
    anchors: HashMap<usize, Anchored>,
    /// Nodes produced so far, including anchor and alias copies.
    budget_used: usize,
    root: Option<Value>,
    /// The root is the implicit empty scalar of a document with no content.
    root_is_empty: bool,
    /// The stream's budget for copies, as this document found it and spends it.
    expansion: Expansion,
}

impl DocBuilder {
    /// A builder for the next document of a stream whose copies so far are in `expansion`.
    pub(super) fn new(expansion: Expansion) -> Self {
        DocBuilder {
            stack: Vec::new(),
            positions: PositionMap::default(),
            anchors: HashMap::new(),
            budget_used: 0,
            root: None,
            root_is_empty: false,
            expansion,
        }
    }

    /// The stream's expansion budget after this document's copies.
    pub(super) fn expansion(&self) -> Expansion {
        self.expansion
    }

    /// The document's value and positions, or `None` for an empty document.
    pub(super) fn finish(self) -> Option<(Value, PositionMap)> {
        if self.root_is_empty {
            return None;
        }
        self.root.map(|value| (value, self.positions))
    }

    /// Takes the next parser event: builds the value it adds, or opens or closes a collection.
    pub(super) fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), SourceError> {
        let at = Position::from_marker(mark);
        match event {
            Event::Scalar(text, style, anchor, tag) => self.on_scalar(text, style, anchor, tag.as_ref(), mark),
            Event::Alias(id) => self.on_alias(id, mark),
            Event::SequenceStart(anchor, _) => self.open(Content::Seq(Vec::new()), anchor, at, mark),
            Event::MappingStart(anchor, _) => self.open(
                Content::Map {
                    entries: Map::new(),
                    key: None,
                    merged: Map::new(),
                    merge_at: None,
                },
                anchor,
                at,
                mark,
            ),
            Event::SequenceEnd | Event::MappingEnd => self.close(at),
            Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => {
                Ok(())
            }
        }
    }

    /// A scalar: a mapping key (registered as an anchor when it has one) or a value.
    fn on_scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        mark: Marker,
    ) -> Result<(), SourceError> {
        let at = Position::from_marker(mark);
        if self.expects_key() {
            let merge = style == TScalarStyle::Plain && tag.is_none() && text == "<<";
            if anchor != 0 {
                // Keys are used as written, so a tag on a key is never an error.
                let value = resolve_scalar(&text, style, tag, at).unwrap_or_else(|_| Value::String(text.clone()));
                let bytes = text.len() + NODE_BYTES;
                self.register_anchor(anchor, value, 1, bytes, 0, Some(text.clone()), at)?;
            }
            self.set_key(text, at, mark, merge)
        } else {
            let empty_root = self.stack.is_empty()
                && text.is_empty()
                && style == TScalarStyle::Plain
                && anchor == 0
                && tag.is_none();
            let value = resolve_scalar(&text, style, tag, at)?;
            self.spend(1, at)?;
            let bytes = text.len() + NODE_BYTES;
            if anchor != 0 {
                self.register_anchor(anchor, value.clone(), 1, bytes, 0, Some(text), at)?;
            }
            if empty_root {
                self.root_is_empty = true;
            }
            self.place(at);
            self.attach(
                Built {
                    value,
                    nodes: 1,
                    bytes,
                    height: 0,
                },
                at,
            )
        }
    }

    /// An alias: the anchored key text as a key, or a copy of the anchored value, within the
    /// depth, node and expansion budgets.
    fn on_alias(&mut self, id: usize, mark: Marker) -> Result<(), SourceError> {
        let at = Position::from_marker(mark);
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(SourceError::unsupported(
                at,
                "alias refers to an anchor that is not defined earlier in this document \
                 (or to a node that contains the alias itself)",
            ));
        };
        if self.expects_key() {
            let Some(text) = anchored.key_text.clone() else {
                return Err(SourceError::unsupported(
                    at,
                    "an alias to a sequence or mapping cannot be used as a mapping key",
                ));
            };
            return self.set_key(text, at, mark, false);
        }
        if self.stack.len() + anchored.height > MAX_DEPTH {
            return Err(SourceError::too_deep(self.located_at(at)));
        }
        let (nodes, bytes, height) = (anchored.nodes, anchored.bytes, anchored.height);
        // Both budgets are checked before the copy is made.
        self.spend(nodes, at)?;
        self.copy(bytes, at)?;
        let value = self.anchors.get(&id).map_or(Value::Null, |a| a.value.clone());
        self.place(at);
        self.attach(
            Built {
                value,
                nodes,
                bytes,
                height,
            },
            at,
        )
    }

    /// Whether the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame {
                content: Content::Map { key: None, .. },
                ..
            })
        )
    }

    /// Counts `nodes` more nodes against the document's budget.
    fn spend(&mut self, nodes: usize, at: Position) -> Result<(), SourceError> {
        self.budget_used = self.budget_used.saturating_add(nodes);
        if self.budget_used > MAX_NODES {
            return Err(SourceError::too_many_nodes(at));
        }
        Ok(())
    }

    /// Counts a copy of `bytes` bytes against the stream's expansion budget.
    fn copy(&mut self, bytes: usize, at: Position) -> Result<(), SourceError> {
        let used = self.expansion.used.saturating_add(bytes);
        if used > self.expansion.max {
            return Err(SourceError::TooLarge {
                line: at.line,
                column: at.column,
                max: self.expansion.max,
                limit: self.expansion.limit,
            });
        }
        self.expansion.used = used;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn register_anchor(
        &mut self,
        id: usize,
        value: Value,
        nodes: usize,
        bytes: usize,
        height: usize,
        key_text: Option<String>,
        at: Position,
    ) -> Result<(), SourceError> {
        // Keeping a copy costs as much as making one.
        self.spend(nodes, at)?;
        self.copy(bytes, at)?;
        self.anchors.insert(
            id,
            Anchored {
                value,
                nodes,
                bytes,
                height,
                key_text,
            },
        );
        Ok(())
    }

    /// Records `text` as the key of the innermost mapping, checking for duplicates.
    fn set_key(&mut self, text: String, at: Position, mark: Marker, merge: bool) -> Result<(), SourceError> {
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        let Content::Map {
            entries, key, merge_at, ..
        } = &mut frame.content
        else {
            return Ok(());
        };
        if merge {
            merge_at.get_or_insert(at);
        } else if entries.contains_key(&text) {
            let first = self.positions.entry_position(frame.node, &text).unwrap_or(at);
            return Err(SourceError::DuplicateKey {
                line: at.line,
                column: at.column,
                key: text,
                first_line: first.line,
                first_column: first.column,
            });
        }
        // A block mapping's start event is at its first `:`; locate it at its first key.
        if frame.own_position && mark.index() < frame.start_index {
            frame.own_position = false;
            self.positions.set_position(frame.node, at);
        }
        *key = Some(PendingKey {
            text,
            position: at,
            merge,
        });
        Ok(())
    }

    /// Records the position of a node starting at `at` and links it to its parent. Returns its
    /// id and whether the position is the node's own (not its key's).
    fn place(&mut self, at: Position) -> (usize, bool) {
        let Some(parent) = self.stack.last() else {
            let id = self.positions.push(at);
            self.positions.set_root(id);
            return (id, true);
        };
        match &parent.content {
            Content::Seq(items) => {
                let (parent_node, index) = (parent.node, items.len());
                let id = self.positions.push(at);
                self.positions.link_item(parent_node, index, id);
                (id, true)
            }
            Content::Map { key: Some(key), .. } => {
                let parent_node = parent.node;
                let id = self.positions.push(key.position);
                // The value of a merge key is not a node of the result: keep its positions
                // (for duplicate-key messages) but out of the tree.
                if !key.merge {
                    let key_text = key.text.clone();
                    self.positions.link_entry(parent_node, &key_text, id);
                }
                (id, false)
            }
            Content::Map { key: None, .. } => (self.positions.push(at), true),
        }
    }

    /// Where a node whose event is at `at` is located: at its key inside a mapping.
    fn located_at(&self, at: Position) -> Position {
        match self.stack.last() {
            Some(Frame {
                content: Content::Map { key: Some(key), .. },
                ..
            }) => key.position,
            _ => at,
        }
    }

    fn open(&mut self, content: Content, anchor: usize, at: Position, mark: Marker) -> Result<(), SourceError> {
        if self.expects_key() {
            return Err(SourceError::unsupported(
                at,
                "a sequence or mapping used as a mapping key is not supported",
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(SourceError::too_deep(self.located_at(at)));
        }
        self.spend(1, self.located_at(at))?;
        let (node, own_position) = self.place(at);
        self.stack.push(Frame {
            content,
            node,
            anchor,
            nodes: 1,
            bytes: NODE_BYTES,
            height: 1,
            start_index: mark.index(),
            own_position,
        });
        Ok(())
    }

    fn close(&mut self, at: Position) -> Result<(), SourceError> {
        let Some(frame) = self.stack.pop() else {
            return Err(SourceError::unsupported(at, "unbalanced end of collection"));
        };
        let value = match frame.content {
            Content::Seq(items) => Value::Array(items),
            Content::Map {
                mut entries,
                merged,
                merge_at,
                ..
            } => {
                for (key, value) in merged {
                    if !entries.contains_key(&key) {
                        if let Some(merge_at) = merge_at {
                            let id = self.positions.push(merge_at);
                            self.positions.link_entry(frame.node, &key, id);
                        }
                        entries.insert(key, value);
                    }
                }
                Value::Object(entries)
            }
        };
        if frame.anchor != 0 {
            self.register_anchor(
                frame.anchor,
                value.clone(),
                frame.nodes,
                frame.bytes,
                frame.height,
                None,
                at,
            )?;
        }
        self.attach(
            Built {
                value,
                nodes: frame.nodes,
                bytes: frame.bytes,
                height: frame.height,
            },
            at,
        )
    }

    /// Puts a complete node into the innermost collection, or makes it the root.
    fn attach(&mut self, built: Built, at: Position) -> Result<(), SourceError> {
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(built.value);
            return Ok(());
        };
        frame.nodes = frame.nodes.saturating_add(built.nodes);
        frame.bytes = frame.bytes.saturating_add(built.bytes);
        frame.height = frame.height.max(built.height + 1);
        match &mut frame.content {
            Content::Seq(items) => items.push(built.value),
            Content::Map {
                entries, key, merged, ..
            } => {
                let Some(key) = key.take() else {
                    return Err(SourceError::unsupported(at, "mapping value without a key"));
                };
                frame.bytes = frame.bytes.saturating_add(key.text.len());
                if key.merge {
                    merge_into(merged, built.value, key.position)?;
                } else {
                    entries.insert(key.text, built.value);
                }
            }
        }
        Ok(())
    }
}

/// Adds the entries of a `<<` value (a mapping or a sequence of mappings) to `merged`, keeping
/// entries already there.
fn merge_into(merged: &mut Map<String, Value>, value: Value, at: Position) -> Result<(), SourceError> {
    let invalid = || SourceError::unsupported(at, "a merge key `<<` needs a mapping or a list of mappings");
    let sources = match value {
        Value::Object(map) => vec![map],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map),
                _ => Err(invalid()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err(invalid()),
    };
    for source in sources {
        for (key, value) in source {
            merged.entry(key).or_insert(value);
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/builder.rs"]
mod tests;
