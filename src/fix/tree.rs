//! A concrete syntax tree of YAML (or JSON) text: where every node starts and ends, in bytes,
//! and how it is written (block or flow, scalar style), which is what editing the text in place
//! needs. Built from `yaml-rust2`'s events, whose markers give where each node starts; where it
//! ends is read from the text ([`super::scan`]).

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::scan;

/// One node of the text.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// Byte offset of its first character: for a scalar with a tag or anchor, of the first of
    /// those; for a block mapping, of its first key; for a block sequence, of its first `-`.
    pub start: usize,
    /// Byte offset just after its last character (equal to `start` for an empty scalar).
    pub end: usize,
    /// The id of its anchor (`&name`), 0 for none.
    pub anchor: usize,
    /// What it is.
    pub kind: Kind,
}

/// The kinds of node.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// A scalar, in its style; `empty` for the empty (null) scalar, which has no text.
    Scalar { style: TScalarStyle, empty: bool },
    /// An alias (`*name`), a copy of the node whose anchor has this id.
    Alias(usize),
    /// A mapping, in flow (`{}`) or block style.
    Map { flow: bool, entries: Vec<Entry> },
    /// A sequence, in flow (`[]`) or block style.
    Seq { flow: bool, items: Vec<Item> },
}

/// One entry of a mapping.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The key as read.
    pub key: String,
    /// Byte offset of the key's first character.
    pub key_start: usize,
    /// Byte offset of the `:` after the key, when there is one.
    pub colon: Option<usize>,
    /// The value.
    pub value: Node,
}

/// One item of a sequence.
#[derive(Debug, Clone)]
pub(super) struct Item {
    /// Byte offset of its `-` (block sequences), when known.
    pub dash: Option<usize>,
    /// The item.
    pub value: Node,
}

/// The documents of a text, by index (counting empty ones, as [`crate::source::parse_documents`]
/// does); `None` for an empty document.
pub(super) fn parse(text: &str) -> Option<Vec<Option<Node>>> {
    let mut parser = Parser::new_from_str(text);
    let mut events = Vec::new();
    loop {
        let (event, mark) = parser.next_token().ok()?;
        if event == Event::StreamEnd {
            break;
        }
        events.push((event, mark));
    }
    let bytes = ByteIndex::new(text);
    let mut builder = Builder {
        text,
        events: &events,
        at: 0,
        bytes,
    };
    let mut docs = Vec::new();
    while builder.at < events.len() {
        match &events[builder.at].0 {
            Event::DocumentStart => {
                builder.at += 1;
                let root = if matches!(events.get(builder.at), Some((Event::DocumentEnd, _))) {
                    None
                } else {
                    // A document this tree cannot describe has no tree; the others still do.
                    builder
                        .node(false, 0)
                        .filter(|node| !matches!(node.kind, Kind::Scalar { empty: true, .. }))
                };
                while builder.at < events.len() && !matches!(events[builder.at].0, Event::DocumentEnd) {
                    builder.at += 1;
                }
                builder.at += 1;
                docs.push(root);
            }
            _ => builder.at += 1,
        }
    }
    Some(docs)
}

/// Converts the markers' character indexes to byte offsets.
struct ByteIndex {
    /// Byte offset of each character, when the text is not ASCII.
    offsets: Option<Vec<u32>>,
    len: usize,
}

impl ByteIndex {
    fn new(text: &str) -> Self {
        let offsets = (!text.is_ascii()).then(|| {
            text.char_indices()
                .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                .collect()
        });
        ByteIndex {
            offsets,
            len: text.len(),
        }
    }

    fn of(&self, mark: Marker) -> usize {
        match &self.offsets {
            None => mark.index().min(self.len),
            Some(offsets) => offsets.get(mark.index()).map_or(self.len, |&o| o as usize),
        }
    }
}

struct Builder<'a> {
    text: &'a str,
    events: &'a [(Event, Marker)],
    at: usize,
    bytes: ByteIndex,
}

impl Builder<'_> {
    /// The node whose first event is the current one; `flow` inside a flow collection. `None`
    /// for what this tree does not describe (complex keys, malformed event streams).
    fn node(&mut self, flow: bool, depth: usize) -> Option<Node> {
        if depth > crate::source::MAX_DEPTH + 1 {
            return None;
        }
        let (event, mark) = self.events.get(self.at)?.clone();
        self.at += 1;
        let start = self.bytes.of(mark);
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let mut node = self.scalar(&value, style, start, anchor != 0 || tag.is_some())?;
                node.anchor = anchor;
                Some(node)
            }
            Event::Alias(id) => Some(self.alias(id, start)),
            Event::SequenceStart(anchor, _) => {
                self.sequence(anchor, start, flow || self.opens_flow(start, b'[', mark), depth)
            }
            Event::MappingStart(anchor, _) => {
                self.mapping(anchor, start, flow || self.opens_flow(start, b'{', mark), depth)
            }
            _ => None,
        }
    }

    /// An alias (`*name`) starting at `start`: it ends at the first blank or flow indicator.
    fn alias(&self, id: usize, start: usize) -> Node {
        let end = self.text[start..]
            .find(|c: char| c.is_whitespace() || ",[]{}".contains(c))
            .map_or(self.text.len(), |i| start + i);
        Node {
            start,
            end,
            anchor: 0,
            kind: Kind::Alias(id),
        }
    }

    /// A sequence whose start event (at `start`) was just read, up to and including its end
    /// event; `is_flow` for a flow sequence.
    fn sequence(&mut self, anchor: usize, start: usize, is_flow: bool, depth: usize) -> Option<Node> {
        let mut items = Vec::new();
        loop {
            if let Some((Event::SequenceEnd, end_mark)) = self.events.get(self.at) {
                self.at += 1;
                let end = if is_flow {
                    self.closing(*end_mark) + 1
                } else {
                    items.last().map_or(start, |i: &Item| i.value.end)
                };
                let start = if is_flow {
                    start
                } else {
                    items.first().and_then(|i| i.dash).unwrap_or(start)
                };
                return Some(Node {
                    start: self.props_start(start, anchor != 0),
                    end: end.min(self.text.len()),
                    anchor,
                    kind: Kind::Seq { flow: is_flow, items },
                });
            }
            let value = self.node(is_flow, depth + 1)?;
            let dash = if is_flow || matches!(value.kind, Kind::Scalar { empty: true, .. }) {
                None
            } else {
                scan::before_blank(self.text, value.start).filter(|&d| self.text.as_bytes()[d] == b'-')
            };
            items.push(Item { dash, value });
        }
    }

    /// A mapping whose start event (at `start`) was just read, up to and including its end
    /// event; `is_flow` for a flow mapping.
    fn mapping(&mut self, anchor: usize, start: usize, is_flow: bool, depth: usize) -> Option<Node> {
        let mut entries = Vec::new();
        loop {
            if let Some((Event::MappingEnd, end_mark)) = self.events.get(self.at) {
                self.at += 1;
                let end = if is_flow {
                    self.closing(*end_mark) + 1
                } else {
                    entries.last().map_or(start, |e: &Entry| e.value.end)
                };
                let start = if is_flow {
                    start
                } else {
                    entries.first().map_or(start, |e| e.key_start)
                };
                return Some(Node {
                    start: self.props_start(start, anchor != 0),
                    end: end.min(self.text.len()),
                    anchor,
                    kind: Kind::Map { flow: is_flow, entries },
                });
            }
            entries.push(self.entry(is_flow, depth)?);
        }
    }

    /// One mapping entry: a scalar key and its value.
    fn entry(&mut self, flow: bool, depth: usize) -> Option<Entry> {
        let (Event::Scalar(key, style, _, _), mark) = self.events.get(self.at)?.clone() else {
            return None;
        };
        self.at += 1;
        let key_start = self.bytes.of(mark);
        let key_end = match style {
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => scan::quoted_end(self.text, key_start)?,
            TScalarStyle::Plain => scan::content_end(self.text, key_start, &key)?,
            _ => return None,
        };
        let after = scan::skip_blank(self.text, key_end);
        let colon = (self.text.as_bytes().get(after) == Some(&b':')).then_some(after);
        let mut value = self.node(flow, depth + 1)?;
        if let (Kind::Scalar { empty: true, .. }, Some(colon)) = (&value.kind, colon) {
            value.start = colon + 1;
            value.end = colon + 1;
        }
        Some(Entry {
            key,
            key_start,
            colon,
            value,
        })
    }

    /// A scalar starting (its text, after any tag or anchor) at `start`.
    fn scalar(&self, value: &str, style: TScalarStyle, start: usize, props: bool) -> Option<Node> {
        let text = self.text;
        let (begin, end, empty) = match style {
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => (start, scan::quoted_end(text, start)?, false),
            TScalarStyle::Literal | TScalarStyle::Folded => {
                if matches!(text.as_bytes().get(start), Some(b'|' | b'>')) {
                    (start, scan::line_end(text, start), false)
                } else {
                    let header = scan::block_header(text, start)?;
                    (header, scan::content_end(text, start, value)?, false)
                }
            }
            _ if value.is_empty() => (start, start, true),
            TScalarStyle::Plain => (start, scan::content_end(text, start, value)?, false),
        };
        Some(Node {
            start: if empty { begin } else { self.props_start(begin, props) },
            end,
            anchor: 0,
            kind: Kind::Scalar { style, empty },
        })
    }

    /// Whether the collection starting at `start` is a flow one opened by `open`: a block
    /// sequence whose first item is a flow collection starts at the same place, and is followed
    /// by that collection's own start event.
    fn opens_flow(&self, start: usize, open: u8, mark: Marker) -> bool {
        if self.text.as_bytes().get(start) != Some(&open) {
            return false;
        }
        !matches!(
            self.events.get(self.at),
            Some((Event::SequenceStart(..) | Event::MappingStart(..), next)) if next.index() == mark.index()
        )
    }

    /// Byte offset of the bracket closing a flow collection whose end event is at `mark`: the
    /// event is at a trailing comma when there is one (`{a: 1,}`).
    fn closing(&self, mark: Marker) -> usize {
        let at = self.bytes.of(mark);
        if self.text.as_bytes().get(at) == Some(&b',') {
            scan::skip_blank(self.text, at + 1)
        } else {
            at
        }
    }

    /// Where a node whose text starts at `start` really starts: before its tag and anchor.
    fn props_start(&self, start: usize, props: bool) -> usize {
        if !props {
            return start;
        }
        let mut start = start;
        while let Some(last) = scan::before_blank(self.text, start) {
            let token_start = self.text[..=last]
                .rfind(|c: char| c.is_whitespace())
                .map_or(0, |i| i + 1);
            if matches!(self.text.as_bytes().get(token_start), Some(b'!' | b'&')) {
                start = token_start;
            } else {
                break;
            }
        }
        start
    }
}

impl Node {
    /// The anchor ids of the anchored nodes under (and including) this one whose text `touched`
    /// says an edit reaches.
    pub(super) fn touched_anchors(&self, touched: &dyn Fn(usize, usize) -> bool, out: &mut Vec<usize>) {
        let mut pending = vec![self];
        while let Some(node) = pending.pop() {
            if !touched(node.start, node.end) {
                continue;
            }
            if node.anchor != 0 {
                out.push(node.anchor);
            }
            match &node.kind {
                Kind::Map { entries, .. } => pending.extend(entries.iter().map(|e| &e.value)),
                Kind::Seq { items, .. } => pending.extend(items.iter().map(|i| &i.value)),
                Kind::Scalar { .. } | Kind::Alias(_) => {}
            }
        }
    }
}
