//! YAML / JSON loading into [`serde_json::Value`] with the source position of every node.
//!
//! The loader drives `yaml-rust2`'s event parser directly (pulling events with
//! [`Parser::next_token`] rather than using its recursive `load`), and builds each document with
//! an explicit stack, so input nesting never turns into native recursion. Nesting is capped at
//! [`MAX_DEPTH`], which also bounds the recursion of anything that later clones, drops or
//! serializes the values built here.
//!
//! # Resolution rules
//!
//! * Plain (unquoted) scalars follow the YAML 1.2 core schema: `null`, `Null`, `NULL`, `~` and
//!   the empty scalar are null; `true`/`True`/`TRUE` and the `false` forms are booleans;
//!   decimal (`[-+]?[0-9]+`), hexadecimal (`0x…`) and octal (`0o…`) integers become JSON
//!   integers (i64, else u64, else a float); decimal floats become JSON floats. Note that a
//!   leading zero does not mean octal in YAML 1.2: `0755` is 755.
//! * `.inf`, `-.inf` and `.nan` (and any float too large for `f64`) cannot be represented in
//!   JSON; they are kept as the string the user wrote.
//! * Quoted, literal (`|`) and folded (`>`) scalars are always strings.
//! * The explicit tags `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` force that type (an
//!   invalid value, such as `!!int abc`, is an error). The non-specific tag `!` and every other
//!   tag (`!!binary`, `!custom`, …) keep the scalar as a string. Tags on collections are ignored.
//! * Mapping keys must be scalars and are used as written (`80: x` gives the key `"80"`,
//!   `true: x` gives `"true"`, an empty key gives `""`). Duplicate keys are an error.
//! * Anchors and aliases are supported: an alias is a copy of the anchored node. Copies count
//!   against a per-document budget of [`MAX_NODES`] nodes ("billion laughs" protection), and an
//!   alias may not push nesting past [`MAX_DEPTH`]. An alias must refer to an anchor defined
//!   earlier in the same document, outside the node that contains the alias.
//! * Merge keys are supported: a plain (unquoted) `<<` key whose value is a mapping, or a
//!   sequence of mappings, merges those entries into the enclosing mapping. Keys written in the
//!   mapping itself win over merged ones, and within a merge the earlier mapping wins. Merged
//!   entries are located at the `<<` key. A quoted `"<<"` is an ordinary key.
//!
//! # Positions
//!
//! Lines and columns are 1-based; a column counts Unicode scalar values (characters) from the
//! start of the line. The position of a mapping value is the position of its key; the position of
//! a sequence item or of a document root is that of the node itself (for a block mapping, its
//! first key). Nodes inside an alias copy have no positions of their own: [`PositionMap::locate`]
//! reports the alias for them.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deepest nesting of sequences and mappings accepted in a document.
pub const MAX_DEPTH: usize = 128;

/// Most nodes one document may produce, counting the copies made for anchors and aliases.
pub const MAX_NODES: usize = 1_000_000;

/// Prefix of the tags of the YAML core schema (`!!str` is `tag:yaml.org,2002:str`).
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// 1-based line and column of a node's first character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column number in characters, starting at 1.
    pub column: usize,
}

impl Position {
    /// Converts a `yaml-rust2` marker (1-based line, 0-based column) to a [`Position`].
    fn from_marker(mark: Marker) -> Self {
        Position {
            line: mark.line().max(1),
            column: mark.col() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Children of one node of a [`PositionMap`].
#[derive(Debug, Clone, Default)]
enum Children {
    /// A scalar, an empty collection, or a node copied from an alias.
    #[default]
    Leaf,
    /// Node ids of the items of a sequence, by index.
    Seq(Vec<usize>),
    /// Node ids of the values of a mapping, by key.
    Map(HashMap<String, usize>),
}

/// One node of a [`PositionMap`].
#[derive(Debug, Clone)]
struct PosNode {
    position: Position,
    children: Children,
}

/// JSON pointer (RFC 6901, e.g. `/spec/containers/0/image`, `""` for the root) to the position of
/// that node.
///
/// For a mapping entry, the position is that of the *key* (what an editor should highlight),
/// while the map itself is keyed by the pointer to the value.
///
/// Stored as a tree mirroring the document, so its size grows with the number of nodes and not
/// with the length of their pointers.
#[derive(Debug, Clone, Default)]
pub struct PositionMap {
    nodes: Vec<PosNode>,
    root: Option<usize>,
}

impl PositionMap {
    /// Position of the node at `pointer`; if that exact node is unknown (e.g. the pointer names a
    /// field that does not exist), the position of its nearest existing ancestor.
    ///
    /// Returns `None` only when the map is empty or `pointer` is not a JSON pointer (neither
    /// empty nor starting with `/`).
    #[must_use]
    pub fn locate(&self, pointer: &str) -> Option<Position> {
        self.walk(pointer).map(|(id, _)| self.nodes[id].position)
    }

    /// Position of the node at exactly `pointer`, or `None` if no node was recorded there.
    #[must_use]
    pub fn get(&self, pointer: &str) -> Option<Position> {
        match self.walk(pointer) {
            Some((id, true)) => Some(self.nodes[id].position),
            _ => None,
        }
    }

    /// Number of nodes with a recorded position.
    #[must_use]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no position was recorded (e.g. the default, empty map).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every recorded pointer with its position, parents before children, sequence items in
    /// order and mapping keys sorted.
    #[must_use]
    pub fn entries(&self) -> Vec<(String, Position)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut pending: Vec<(String, usize)> = self.root.map(|id| (String::new(), id)).into_iter().collect();
        while let Some((pointer, id)) = pending.pop() {
            let node = &self.nodes[id];
            match &node.children {
                Children::Leaf => {}
                Children::Seq(items) => {
                    for (index, &child) in items.iter().enumerate().rev() {
                        pending.push((format!("{pointer}/{index}"), child));
                    }
                }
                Children::Map(entries) => {
                    let mut keys: Vec<(&String, &usize)> = entries.iter().collect();
                    keys.sort_unstable_by(|a, b| b.0.cmp(a.0));
                    for (key, &child) in keys {
                        pending.push((format!("{pointer}/{}", escape_segment(key)), child));
                    }
                }
            }
            out.push((pointer, node.position));
        }
        out
    }

    /// Follows `pointer` from the root as far as recorded nodes go: the id of the deepest node
    /// reached, and whether it is the node `pointer` names.
    fn walk(&self, pointer: &str) -> Option<(usize, bool)> {
        let mut id = self.root?;
        if pointer.is_empty() {
            return Some((id, true));
        }
        let rest = pointer.strip_prefix('/')?;
        for raw in rest.split('/') {
            let next = match &self.nodes[id].children {
                Children::Leaf => None,
                Children::Seq(items) => parse_array_index(raw).and_then(|i| items.get(i).copied()),
                Children::Map(entries) => entries.get(unescape_segment(raw).as_str()).copied(),
            };
            match next {
                Some(child) => id = child,
                None => return Some((id, false)),
            }
        }
        Some((id, true))
    }

    /// Adds a node with no children and returns its id.
    fn push(&mut self, position: Position) -> usize {
        self.nodes.push(PosNode {
            position,
            children: Children::Leaf,
        });
        self.nodes.len() - 1
    }

    /// Makes `child` item `index` of the sequence `parent`.
    fn link_item(&mut self, parent: usize, index: usize, child: usize) {
        let node = &mut self.nodes[parent];
        if !matches!(node.children, Children::Seq(_)) {
            node.children = Children::Seq(Vec::new());
        }
        if let Children::Seq(items) = &mut node.children {
            if items.len() == index {
                items.push(child);
            }
        }
    }

    /// Makes `child` the value of `key` in the mapping `parent`.
    fn link_entry(&mut self, parent: usize, key: &str, child: usize) {
        let node = &mut self.nodes[parent];
        if !matches!(node.children, Children::Map(_)) {
            node.children = Children::Map(HashMap::new());
        }
        if let Children::Map(entries) = &mut node.children {
            entries.insert(key.to_owned(), child);
        }
    }

    /// Position of the value of `key` in the mapping `parent`, if recorded.
    fn entry_position(&self, parent: usize, key: &str) -> Option<Position> {
        match &self.nodes[parent].children {
            Children::Map(entries) => entries.get(key).map(|&id| self.nodes[id].position),
            _ => None,
        }
    }
}

/// Parses an RFC 6901 array index: `0` or digits without a leading zero.
fn parse_array_index(segment: &str) -> Option<usize> {
    if segment.is_empty()
        || !segment.bytes().all(|b| b.is_ascii_digit())
        || (segment.len() > 1 && segment.starts_with('0'))
    {
        return None;
    }
    segment.parse().ok()
}

/// Decodes one reference token of a JSON pointer (`~1` is `/`, `~0` is `~`).
fn unescape_segment(segment: &str) -> String {
    if segment.contains('~') {
        segment.replace("~1", "/").replace("~0", "~")
    } else {
        segment.to_owned()
    }
}

/// Encodes a mapping key as one reference token of a JSON pointer (RFC 6901: `~` becomes `~0`
/// and `/` becomes `~1`), e.g. to build the pointer `/metadata/annotations/example.com~1owner`.
#[must_use]
pub fn escape_segment(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        std::borrow::Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// One document of a (possibly multi-document) source.
#[derive(Debug, Clone)]
pub struct SourceDoc {
    /// 0-based index of the document in the stream, counting empty documents that were skipped.
    pub index: usize,
    /// The document's content.
    pub value: Value,
    /// Where each node of `value` was written.
    pub positions: PositionMap,
    /// Line where the document starts (1-based): its `---` marker, or its first content line.
    pub line: usize,
}

/// Why a source text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The text is not well-formed YAML (or JSON).
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// What the parser expected or found.
        message: String,
    },
    /// Sequences and mappings are nested deeper than [`MAX_DEPTH`].
    #[error("line {line}, column {column}: nesting is deeper than the limit of {max} levels")]
    TooDeep {
        /// Line of the node that went past the limit (1-based).
        line: usize,
        /// Column of the node that went past the limit (1-based).
        column: usize,
        /// The limit, [`MAX_DEPTH`].
        max: usize,
    },
    /// The document would produce more than [`MAX_NODES`] nodes, usually because aliases copy
    /// large anchored nodes many times.
    #[error(
        "line {line}, column {column}: the document expands to more than {max} nodes \
         (too many or too large alias copies)"
    )]
    TooManyNodes {
        /// Line of the node that went past the limit (1-based).
        line: usize,
        /// Column of the node that went past the limit (1-based).
        column: usize,
        /// The limit, [`MAX_NODES`].
        max: usize,
    },
    /// A mapping has the same key twice.
    #[error(
        "line {line}, column {column}: duplicate key {key:?} in mapping \
         (first defined at line {first_line}, column {first_column})"
    )]
    DuplicateKey {
        /// Line of the second occurrence (1-based).
        line: usize,
        /// Column of the second occurrence (1-based).
        column: usize,
        /// The repeated key.
        key: String,
        /// Line of the first occurrence (1-based).
        first_line: usize,
        /// Column of the first occurrence (1-based).
        first_column: usize,
    },
    /// A scalar with an explicit tag (`!!int`, `!!bool`, …) whose text is not of that type.
    #[error("line {line}, column {column}: {value:?} is not a valid {tag} value")]
    InvalidScalar {
        /// Line of the scalar (1-based).
        line: usize,
        /// Column of the scalar (1-based).
        column: usize,
        /// The tag, e.g. `!!int`.
        tag: String,
        /// The scalar's text.
        value: String,
    },
    /// Valid YAML that has no JSON equivalent or that the loader does not support, such as a
    /// mapping used as a mapping key or an alias to an anchor that is not available.
    #[error("line {line}, column {column}: {message}")]
    Unsupported {
        /// Line of the construct (1-based).
        line: usize,
        /// Column of the construct (1-based).
        column: usize,
        /// What is not supported.
        message: String,
    },
}

impl SourceError {
    /// Where in the text the error was found.
    #[must_use]
    pub fn position(&self) -> Position {
        let (line, column) = match self {
            SourceError::Syntax { line, column, .. }
            | SourceError::TooDeep { line, column, .. }
            | SourceError::TooManyNodes { line, column, .. }
            | SourceError::DuplicateKey { line, column, .. }
            | SourceError::InvalidScalar { line, column, .. }
            | SourceError::Unsupported { line, column, .. } => (*line, *column),
        };
        Position { line, column }
    }

    fn from_scan(err: &ScanError) -> Self {
        let at = Position::from_marker(*err.marker());
        // The scanner has its own (larger) limit on flow nesting, and may reach it while
        // looking ahead, before the loader sees the events that would trip MAX_DEPTH.
        match err.info() {
            "recursion limit exceeded" => return SourceError::too_deep(at),
            "while parsing node, found unknown anchor" => {
                return SourceError::unsupported(at, "alias refers to an unknown anchor");
            }
            _ => {}
        }
        SourceError::Syntax {
            line: at.line,
            column: at.column,
            message: err.info().to_owned(),
        }
    }

    fn unsupported(at: Position, message: impl Into<String>) -> Self {
        SourceError::Unsupported {
            line: at.line,
            column: at.column,
            message: message.into(),
        }
    }

    fn too_deep(at: Position) -> Self {
        SourceError::TooDeep {
            line: at.line,
            column: at.column,
            max: MAX_DEPTH,
        }
    }

    fn too_many_nodes(at: Position) -> Self {
        SourceError::TooManyNodes {
            line: at.line,
            column: at.column,
            max: MAX_NODES,
        }
    }
}

/// Parses every document in `text` (YAML 1.2; JSON is accepted as the YAML subset it is).
///
/// Empty documents (e.g. a stream that is only comments, or `---` followed by nothing) are
/// skipped (no [`SourceDoc`] for them), but indexes count them so `index` matches what the user
/// sees. See the [module documentation](self) for how scalars, keys, anchors and merge keys are
/// read.
///
/// # Errors
///
/// Any [`SourceError`]: malformed text, nesting deeper than [`MAX_DEPTH`], more than
/// [`MAX_NODES`] nodes in a document, duplicate keys, invalid tagged scalars, or constructs with
/// no JSON equivalent. The first error in the stream stops parsing.
pub fn parse_documents(text: &str) -> Result<Vec<SourceDoc>, SourceError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut index = 0;
    let mut current: Option<(DocBuilder, usize)> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|err| SourceError::from_scan(&err))?;
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                current = Some((DocBuilder::default(), mark.line().max(1)));
            }
            Event::DocumentEnd => {
                if let Some((builder, line)) = current.take() {
                    if let Some((value, positions)) = builder.finish() {
                        docs.push(SourceDoc {
                            index,
                            value,
                            positions,
                            line,
                        });
                    }
                }
                index += 1;
            }
            other => match current.as_mut() {
                Some((builder, _)) => builder.on_event(other, mark)?,
                None => {
                    return Err(SourceError::Syntax {
                        line: mark.line().max(1),
                        column: mark.col() + 1,
                        message: "node outside of a document".to_owned(),
                    })
                }
            },
        }
    }
    Ok(docs)
}

/// A node kept for later aliases.
struct Anchored {
    value: Value,
    /// Nodes in `value`, counted against the budget at each copy.
    nodes: usize,
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
    height: usize,
}

/// Builds one document from parser events, without recursion.
#[derive(Default)]
struct DocBuilder {
    stack: Vec<Frame>,
    positions: PositionMap,
    anchors: HashMap<usize, Anchored>,
    /// Nodes produced so far, including anchor and alias copies.
    budget_used: usize,
    root: Option<Value>,
    /// The root is the implicit empty scalar of a document with no content.
    root_is_empty: bool,
}

impl DocBuilder {
    /// The document's value and positions, or `None` for an empty document.
    fn finish(self) -> Option<(Value, PositionMap)> {
        if self.root_is_empty {
            return None;
        }
        self.root.map(|value| (value, self.positions))
    }

    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), SourceError> {
        let at = Position::from_marker(mark);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if self.expects_key() {
                    let merge = style == TScalarStyle::Plain && tag.is_none() && text == "<<";
                    if anchor != 0 {
                        // Keys are used as written, so a tag on a key is never an error.
                        let value = resolve_scalar(&text, style, tag.as_ref(), at)
                            .unwrap_or_else(|_| Value::String(text.clone()));
                        self.register_anchor(anchor, value, 1, 0, Some(text.clone()), at)?;
                    }
                    self.set_key(text, at, mark, merge)
                } else {
                    let empty_root = self.stack.is_empty()
                        && text.is_empty()
                        && style == TScalarStyle::Plain
                        && anchor == 0
                        && tag.is_none();
                    let value = resolve_scalar(&text, style, tag.as_ref(), at)?;
                    self.spend(1, at)?;
                    if anchor != 0 {
                        self.register_anchor(anchor, value.clone(), 1, 0, Some(text), at)?;
                    }
                    if empty_root {
                        self.root_is_empty = true;
                    }
                    self.place(at);
                    self.attach(
                        Built {
                            value,
                            nodes: 1,
                            height: 0,
                        },
                        at,
                    )
                }
            }
            Event::Alias(id) => {
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
                let (nodes, height) = (anchored.nodes, anchored.height);
                self.spend(nodes, at)?;
                let value = self.anchors.get(&id).map_or(Value::Null, |a| a.value.clone());
                self.place(at);
                self.attach(Built { value, nodes, height }, at)
            }
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

    fn register_anchor(
        &mut self,
        id: usize,
        value: Value,
        nodes: usize,
        height: usize,
        key_text: Option<String>,
        at: Position,
    ) -> Result<(), SourceError> {
        // Keeping a copy costs as much as making one.
        self.spend(nodes, at)?;
        self.anchors.insert(
            id,
            Anchored {
                value,
                nodes,
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
            self.positions.nodes[frame.node].position = at;
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
            self.positions.root = Some(id);
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
            self.register_anchor(frame.anchor, value.clone(), frame.nodes, frame.height, None, at)?;
        }
        self.attach(
            Built {
                value,
                nodes: frame.nodes,
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
        frame.height = frame.height.max(built.height + 1);
        match &mut frame.content {
            Content::Seq(items) => items.push(built.value),
            Content::Map {
                entries, key, merged, ..
            } => {
                let Some(key) = key.take() else {
                    return Err(SourceError::unsupported(at, "mapping value without a key"));
                };
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

/// Turns a scalar into a JSON value according to its style and tag.
fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>, at: Position) -> Result<Value, SourceError> {
    let Some(tag) = tag else {
        return Ok(if style == TScalarStyle::Plain {
            resolve_plain(text)
        } else {
            Value::String(text.to_owned())
        });
    };
    let full;
    let name = if tag.handle == CORE_TAG_PREFIX {
        tag.suffix.as_str()
    } else {
        full = format!("{}{}", tag.handle, tag.suffix);
        full.strip_prefix(CORE_TAG_PREFIX).unwrap_or("")
    };
    let resolved = match name {
        "str" => Some(Value::String(text.to_owned())),
        "int" => parse_int(text),
        "float" => parse_float(text)
            .or_else(|| parse_int(text).and_then(|v| v.as_f64().and_then(float_value)))
            .or_else(|| is_special_float(text).then(|| Value::String(text.to_owned()))),
        "bool" => parse_bool(text).map(Value::Bool),
        "null" => is_null(text).then_some(Value::Null),
        // `!`, `!!binary`, `!custom`, …: the text as written.
        _ => return Ok(Value::String(text.to_owned())),
    };
    resolved.ok_or_else(|| SourceError::InvalidScalar {
        line: at.line,
        column: at.column,
        tag: format!("!!{name}"),
        value: text.to_owned(),
    })
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(text: &str) -> Value {
    if is_null(text) {
        return Value::Null;
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    parse_int(text)
        .or_else(|| parse_float(text))
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `.inf`, `-.inf`, `+.inf`, `.nan` in the capitalisations of the core schema.
fn is_special_float(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN")
}

/// A finite float as a JSON number.
fn float_value(f: f64) -> Option<Value> {
    Number::from_f64(f).map(Value::Number)
}

/// A non-negative integer as a JSON number: i64 if it fits, else u64.
fn unsigned_value(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::from(i),
        Err(_) => Value::from(n),
    }
}

/// Core schema integers: `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
fn parse_int(text: &str) -> Option<Value> {
    let radix_digits = |digits: &str, radix: u32| -> Option<Value> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        if let Ok(n) = u64::from_str_radix(digits, radix) {
            return Some(unsigned_value(n));
        }
        let f = digits
            .chars()
            .filter_map(|c| c.to_digit(radix))
            .fold(0.0_f64, |acc, d| acc * f64::from(radix) + f64::from(d));
        float_value(f)
    };
    if let Some(hex) = text.strip_prefix("0x") {
        return radix_digits(hex, 16);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return radix_digits(oct, 8);
    }
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    if !negative {
        if let Ok(u) = digits.parse::<u64>() {
            return Some(Value::from(u));
        }
    }
    text.parse::<f64>().ok().and_then(float_value)
}

/// Core schema floats `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, when finite.
fn parse_float(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    text.parse::<f64>().ok().and_then(float_value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fmt::Write as _;

    fn one(text: &str) -> SourceDoc {
        let mut docs = parse_documents(text).expect("parses");
        assert_eq!(docs.len(), 1, "expected one document in {text:?}");
        docs.remove(0)
    }

    fn pos(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn multi_document_stream_skips_empty_documents_but_counts_them() {
        let text = "# leading comment\n---\n# only a comment\n---\nkind: A\n---\n---\nkind: B\n...\n---\n";
        let docs = parse_documents(text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 1);
        assert_eq!(docs[0].value, json!({"kind": "A"}));
        assert_eq!(docs[0].line, 4);
        assert_eq!(docs[1].index, 3);
        assert_eq!(docs[1].value, json!({"kind": "B"}));
        assert_eq!(docs[1].line, 7);
        assert_eq!(docs[1].positions.locate("/kind"), Some(pos(8, 1)));
    }

    #[test]
    fn implicit_document_and_comment_only_stream() {
        assert!(parse_documents("").expect("parses").is_empty());
        assert!(parse_documents("# nothing here\n\n# at all\n")
            .expect("parses")
            .is_empty());
        let doc = one("# header\n\nkind: Pod\n");
        assert_eq!(doc.index, 0);
        assert_eq!(doc.line, 3);
        assert_eq!(doc.positions.get(""), Some(pos(3, 1)));
        // An explicit null is a document, not an empty one.
        let docs = parse_documents("--- null\n--- ~\n").expect("parses");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].value, Value::Null);
    }

    #[test]
    fn positions_of_nested_keys_and_list_items() {
        let text = "\
apiVersion: v1
kind: Pod
spec:
  containers:
    - name: app
      image: \"nginx:1.25\"
      ports:
        - containerPort: 80
    -   name: side
  empty:
list: [a, {k: v}]
";
        let doc = one(text);
        let p = &doc.positions;
        assert_eq!(p.get(""), Some(pos(1, 1)));
        assert_eq!(p.get("/apiVersion"), Some(pos(1, 1)));
        assert_eq!(p.get("/kind"), Some(pos(2, 1)));
        assert_eq!(p.get("/spec"), Some(pos(3, 1)));
        assert_eq!(p.get("/spec/containers"), Some(pos(4, 3)));
        // A sequence item that is a block mapping is located at its first key.
        assert_eq!(p.get("/spec/containers/0"), Some(pos(5, 7)));
        assert_eq!(p.get("/spec/containers/0/name"), Some(pos(5, 7)));
        assert_eq!(p.get("/spec/containers/0/image"), Some(pos(6, 7)));
        assert_eq!(p.get("/spec/containers/0/ports"), Some(pos(7, 7)));
        assert_eq!(p.get("/spec/containers/0/ports/0"), Some(pos(8, 11)));
        assert_eq!(p.get("/spec/containers/0/ports/0/containerPort"), Some(pos(8, 11)));
        assert_eq!(p.get("/spec/containers/1"), Some(pos(9, 9)));
        assert_eq!(p.get("/spec/containers/1/name"), Some(pos(9, 9)));
        assert_eq!(p.get("/spec/empty"), Some(pos(10, 3)));
        assert_eq!(p.get("/list"), Some(pos(11, 1)));
        assert_eq!(p.get("/list/0"), Some(pos(11, 8)));
        assert_eq!(p.get("/list/1"), Some(pos(11, 11)));
        assert_eq!(p.get("/list/1/k"), Some(pos(11, 12)));
        assert_eq!(
            doc.value["spec"]["containers"][0]["ports"][0]["containerPort"],
            json!(80)
        );
        assert_eq!(doc.value["spec"]["empty"], Value::Null);
    }

    #[test]
    fn json_input_positions() {
        let text = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\n    \"replicas\": 3,\n    \"items\": [1, 2.5, true, null, \"x\"]\n  }\n}\n";
        let doc = one(text);
        assert_eq!(
            doc.value,
            json!({"kind": "Pod", "spec": {"replicas": 3, "items": [1, 2.5, true, null, "x"]}})
        );
        let p = &doc.positions;
        assert_eq!(p.get(""), Some(pos(1, 1)));
        assert_eq!(p.get("/kind"), Some(pos(2, 3)));
        assert_eq!(p.get("/spec"), Some(pos(3, 3)));
        assert_eq!(p.get("/spec/replicas"), Some(pos(4, 5)));
        assert_eq!(p.get("/spec/items"), Some(pos(5, 5)));
        assert_eq!(p.get("/spec/items/0"), Some(pos(5, 15)));
        assert_eq!(p.get("/spec/items/1"), Some(pos(5, 18)));
        assert_eq!(p.get("/spec/items/4"), Some(pos(5, 35)));
    }

    #[test]
    fn minified_json_and_tabs() {
        let doc = one("{\"a\":[{\"b\":1}],\t\"c\":\"d\"}");
        assert_eq!(doc.value, json!({"a": [{"b": 1}], "c": "d"}));
        assert_eq!(doc.positions.get("/a/0/b"), Some(pos(1, 8)));
        assert_eq!(doc.positions.get("/c"), Some(pos(1, 17)));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let doc = one("a: \"1\"\nb: '2'\nc: \"true\"\nd: 'null'\ne: \"\"\nf: |\n  3\ng: >-\n  4\n  5\n");
        assert_eq!(
            doc.value,
            json!({"a": "1", "b": "2", "c": "true", "d": "null", "e": "", "f": "3\n", "g": "4 5"})
        );
    }

    #[test]
    fn plain_scalars_resolve_like_the_core_schema() {
        let doc = one("\
i: 42
neg: -17
plus: +5
hex: 0x1F
oct: 0o17
leading_zero: 0755
big: 9223372036854775808
huge: 123456789012345678901234567890
f: 1.5
exp: 1e3
dot: .5
negf: -2.5E-2
inf: .inf
ninf: -.Inf
nan: .NaN
t: true
T: True
TT: TRUE
fa: false
n: null
tilde: ~
empty:
yes: yes
s: hello world
ver: 1.2.3
hexneg: -0x10
under: 1_000
");
        let v = &doc.value;
        assert_eq!(v["i"], json!(42));
        assert!(v["i"].is_i64());
        assert_eq!(v["neg"], json!(-17));
        assert_eq!(v["plus"], json!(5));
        assert_eq!(v["hex"], json!(31));
        assert_eq!(v["oct"], json!(15));
        assert_eq!(v["leading_zero"], json!(755));
        assert_eq!(v["big"], json!(9_223_372_036_854_775_808_u64));
        assert!(v["big"].is_u64());
        assert!(v["huge"].is_f64());
        assert_eq!(v["f"], json!(1.5));
        assert_eq!(v["exp"], json!(1000.0));
        assert_eq!(v["dot"], json!(0.5));
        assert_eq!(v["negf"], json!(-0.025));
        assert_eq!(v["inf"], json!(".inf"));
        assert_eq!(v["ninf"], json!("-.Inf"));
        assert_eq!(v["nan"], json!(".NaN"));
        assert_eq!(v["t"], json!(true));
        assert_eq!(v["T"], json!(true));
        assert_eq!(v["TT"], json!(true));
        assert_eq!(v["fa"], json!(false));
        assert_eq!(v["n"], Value::Null);
        assert_eq!(v["tilde"], Value::Null);
        assert_eq!(v["empty"], Value::Null);
        assert_eq!(v["yes"], json!("yes"));
        assert_eq!(v["s"], json!("hello world"));
        assert_eq!(v["ver"], json!("1.2.3"));
        assert_eq!(v["hexneg"], json!("-0x10"));
        assert_eq!(v["under"], json!("1_000"));
    }

    #[test]
    fn explicit_tags() {
        let doc = one("\
a: !!str 42
b: !!int \"42\"
c: !!bool 'true'
d: !!float 3
e: !!null ''
f: !!float .inf
g: !custom 7
h: ! 8
i: !!binary aGk=
j: !<tag:yaml.org,2002:int> '9'
");
        assert_eq!(
            doc.value,
            json!({"a": "42", "b": 42, "c": true, "d": 3.0, "e": null, "f": ".inf",
                   "g": "7", "h": "8", "i": "aGk=", "j": 9})
        );
        let err = parse_documents("x: 1\ny: !!int abc\n").expect_err("invalid int");
        assert_eq!(err.to_string(), "line 2, column 10: \"abc\" is not a valid !!int value");
        assert!(parse_documents("y: !!bool yes\n").is_err());
    }

    #[test]
    fn keys_are_strings_as_written() {
        let doc = one("80: http\ntrue: yes\n~: n\n1.0: f\n\"q\": 1\n");
        assert_eq!(
            doc.value,
            json!({"80": "http", "true": "yes", "~": "n", "1.0": "f", "q": 1})
        );
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let err = parse_documents("metadata:\n  name: a\n  labels: {}\n  name: b\n").expect_err("duplicate");
        assert!(matches!(
            err,
            SourceError::DuplicateKey { ref key, line: 4, column: 3, first_line: 2, first_column: 3 }
                if key == "name"
        ));
        assert_eq!(
            err.to_string(),
            "line 4, column 3: duplicate key \"name\" in mapping (first defined at line 2, column 3)"
        );
        // JSON too, and keys that only look different as YAML.
        assert!(parse_documents("{\"a\": 1, \"a\": 2}").is_err());
        assert!(parse_documents("1: a\n\"1\": b\n").is_err());
        // The same key in different mappings is fine.
        assert!(parse_documents("a: {x: 1}\nb: {x: 2}\n").is_ok());
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse_documents("a: b\nc: d: e\n").expect_err("syntax error");
        assert_eq!(
            err.to_string(),
            "line 2, column 5: mapping values are not allowed in this context"
        );
        assert_eq!(err.position(), pos(2, 5));
        let err = parse_documents("{\"a\": [1, 2}\n").expect_err("syntax error");
        assert!(matches!(err, SourceError::Syntax { line: 1, .. }), "{err}");
        // Errors in a later document are still reported.
        assert!(parse_documents("a: 1\n---\n[\n").is_err());
    }

    /// Runs `f` on a thread with a small stack, so that recursion over input depth would fail.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no panic or overflow");
    }

    #[test]
    fn very_deep_json_is_refused_without_overflow() {
        on_small_stack(|| {
            let start = std::time::Instant::now();
            for text in [
                "[".repeat(100_000),
                "[".repeat(200),
                "{\"a\":".repeat(100_000),
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            ] {
                let err = parse_documents(&text).expect_err("too deep");
                assert!(matches!(err, SourceError::TooDeep { max: MAX_DEPTH, .. }), "{err}");
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(5));
        });
    }

    #[test]
    fn very_deep_yaml_is_refused_without_overflow() {
        on_small_stack(very_deep_yaml_checks);
    }

    fn very_deep_yaml_checks() {
        let flow = format!("key: {}\n", "{a: [".repeat(50_000));
        let err = parse_documents(&flow).expect_err("too deep");
        assert!(matches!(err, SourceError::TooDeep { .. }), "{err}");

        let block = "- ".repeat(100_000) + "x\n";
        let err = parse_documents(&block).expect_err("too deep");
        assert!(matches!(err, SourceError::TooDeep { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("nesting is deeper than the limit of 128"));

        let mut nested = String::new();
        for depth in 0..1000 {
            nested.push_str(&"  ".repeat(depth));
            nested.push_str("k:\n");
        }
        let err = parse_documents(&nested).expect_err("too deep");
        assert!(
            matches!(
                err,
                SourceError::TooDeep {
                    line: 128,
                    column: 255,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        on_small_stack(nesting_up_to_the_limit_checks);
    }

    fn nesting_up_to_the_limit_checks() {
        let text = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let doc = one(&text);
        let mut v = &doc.value;
        let mut depth = 0;
        while let Some(inner) = v.get(0) {
            v = inner;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH - 1);
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse_documents(&too_deep).is_err());
    }

    #[test]
    fn anchors_and_aliases_are_copied() {
        let doc = one("base: &b {cpu: 1, mem: 2}\nname: &n web\nx: *b\ny: [*n, *n]\n*n : key\n");
        assert_eq!(
            doc.value,
            json!({"base": {"cpu": 1, "mem": 2}, "name": "web", "x": {"cpu": 1, "mem": 2},
                   "y": ["web", "web"], "web": "key"})
        );
        // Inside an alias copy, positions fall back to the alias.
        assert_eq!(doc.positions.get("/x"), Some(pos(3, 1)));
        assert_eq!(doc.positions.get("/x/cpu"), None);
        assert_eq!(doc.positions.locate("/x/cpu"), Some(pos(3, 1)));
        assert_eq!(doc.positions.get("/y/1"), Some(pos(4, 9)));
    }

    #[test]
    fn bad_aliases_are_errors() {
        // Unknown anchor.
        let err = parse_documents("a: 1\nb: *nope\n").expect_err("unknown anchor");
        assert_eq!(err.to_string(), "line 2, column 4: alias refers to an unknown anchor");
        // Anchor from another document.
        let err = parse_documents("a: &x 1\n---\nb: *x\n").expect_err("other document");
        assert!(
            matches!(err, SourceError::Unsupported { line: 3, column: 4, .. }),
            "{err}"
        );
        // An alias inside the node it refers to.
        let err = parse_documents("a: &x [1, *x]\n").expect_err("recursive");
        assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
        // A collection as a key.
        let err = parse_documents("? [a, b]\n: c\n").expect_err("complex key");
        assert!(
            matches!(err, SourceError::Unsupported { line: 1, column: 3, .. }),
            "{err}"
        );
        let err = parse_documents("a: &x [1]\n*x : c\n").expect_err("alias key");
        assert!(matches!(err, SourceError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn alias_bomb_is_capped() {
        let mut text =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for name in names {
            let refs = vec![format!("*{prev}"); 9].join(",");
            writeln!(text, "{name}: &{name} [{refs}]").expect("writing to a String");
            prev = name;
        }
        let start = std::time::Instant::now();
        let err = parse_documents(&text).expect_err("bomb");
        assert!(matches!(err, SourceError::TooManyNodes { max: MAX_NODES, .. }), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn aliases_cannot_exceed_the_depth_limit() {
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let text = format!("a: &a {deep}\nb: {}*a{}\n", "[".repeat(40), "]".repeat(40));
        let err = parse_documents(&text).expect_err("too deep through alias");
        assert!(matches!(err, SourceError::TooDeep { line: 2, .. }), "{err}");
    }

    #[test]
    fn merge_keys() {
        let text = "\
defaults: &d
  cpu: 1
  mem: 2
extra: &e {gpu: 0, mem: 9}
one:
  <<: *d
  mem: 4
two:
  name: x
  <<: [*e, *d]
quoted:
  \"<<\": 1
";
        let doc = one(text);
        assert_eq!(doc.value["one"], json!({"cpu": 1, "mem": 4}));
        assert_eq!(doc.value["two"], json!({"name": "x", "gpu": 0, "mem": 9, "cpu": 1}));
        assert_eq!(doc.value["quoted"], json!({"<<": 1}));
        let p = &doc.positions;
        assert_eq!(p.get("/one/mem"), Some(pos(7, 3)));
        assert_eq!(p.get("/one/cpu"), Some(pos(6, 3)));
        assert_eq!(p.get("/two/gpu"), Some(pos(10, 3)));
        assert_eq!(p.get("/one/<<"), None);
        assert!(parse_documents("a:\n  <<: 1\n").is_err());
        // A merge never counts as a duplicate of an explicit key.
        assert!(parse_documents("b: &b {x: 1}\na:\n  x: 2\n  <<: *b\n").is_ok());
    }

    #[test]
    fn pointer_escaping_of_keys() {
        let doc = one("metadata:\n  annotations:\n    example.com/owner: team\n    a~b: 1\n    \"~1\": 2\n");
        let p = &doc.positions;
        assert_eq!(p.get("/metadata/annotations/example.com~1owner"), Some(pos(3, 5)));
        assert_eq!(p.get("/metadata/annotations/a~0b"), Some(pos(4, 5)));
        assert_eq!(p.get("/metadata/annotations/~01"), Some(pos(5, 5)));
        // The unescaped form names a different (missing) path.
        assert_eq!(p.get("/metadata/annotations/example.com/owner"), None);
        assert_eq!(escape_segment("a/b~c"), "a~1b~0c");
        let pointers: Vec<String> = p.entries().into_iter().map(|(ptr, _)| ptr).collect();
        assert_eq!(
            pointers,
            [
                "",
                "/metadata",
                "/metadata/annotations",
                "/metadata/annotations/a~0b",
                "/metadata/annotations/example.com~1owner",
                "/metadata/annotations/~01",
            ]
        );
        assert_eq!(unescape_segment("a~1b~0c"), "a/b~c");
        assert_eq!(unescape_segment("~01"), "~1");
    }

    #[test]
    fn locate_falls_back_to_nearest_ancestor() {
        let doc = one("spec:\n  containers:\n    - name: a\n      image: x\n");
        let p = &doc.positions;
        assert_eq!(p.locate("/spec/containers/0/image"), Some(pos(4, 7)));
        assert_eq!(
            p.locate("/spec/containers/0/securityContext/runAsNonRoot"),
            Some(pos(3, 7))
        );
        assert_eq!(p.locate("/spec/containers/5/name"), Some(pos(2, 3)));
        assert_eq!(p.locate("/spec/containers/-"), Some(pos(2, 3)));
        assert_eq!(p.locate("/spec/containers/00"), Some(pos(2, 3)));
        assert_eq!(p.locate("/spec/containers/0/image/deeper"), Some(pos(4, 7)));
        assert_eq!(p.locate("/missing"), Some(pos(1, 1)));
        assert_eq!(p.locate(""), Some(pos(1, 1)));
        assert_eq!(p.locate("no-slash"), None);
        assert_eq!(p.get("/spec/containers/0/missing"), None);
        assert_eq!(PositionMap::default().locate(""), None);
    }

    #[test]
    fn scalar_and_sequence_roots() {
        let doc = one("  hello\n");
        assert_eq!(doc.value, json!("hello"));
        assert_eq!(doc.positions.get(""), Some(pos(1, 3)));
        let doc = one("- 1\n- two\n");
        assert_eq!(doc.value, json!([1, "two"]));
        assert_eq!(doc.positions.get("/1"), Some(pos(2, 3)));
    }

    #[test]
    fn unicode_columns_count_characters() {
        let doc = one("é: {ü: 1, x: 2}\n");
        assert_eq!(doc.positions.get("/é/x"), Some(pos(1, 11)));
    }
}
