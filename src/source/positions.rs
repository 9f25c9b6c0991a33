//! Source positions: [`Position`], the [`PositionMap`] from JSON pointers to positions, and the
//! escaping of mapping keys as JSON pointer segments.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::scanner::Marker;

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
    pub(super) fn from_marker(mark: Marker) -> Self {
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

    /// The positions of the node at exactly `pointer` and of everything under it, as a map whose
    /// root is that node (so a list item can be read as a document of its own). Positions are
    /// unchanged: they still name lines and columns of the whole text. Empty when no node was
    /// recorded at `pointer`.
    #[must_use]
    pub fn subtree(&self, pointer: &str) -> PositionMap {
        let mut out = PositionMap::default();
        let Some((from, true)) = self.walk(pointer) else {
            return out;
        };
        let root = out.push(self.nodes[from].position);
        out.set_root(root);
        // (node here, its copy in `out`), copied without recursion.
        let mut pending = vec![(from, root)];
        while let Some((old, new)) = pending.pop() {
            let mut copy = |child: usize| {
                let id = out.push(self.nodes[child].position);
                pending.push((child, id));
                id
            };
            let children = match &self.nodes[old].children {
                Children::Leaf => Children::Leaf,
                Children::Seq(items) => Children::Seq(items.iter().map(|&child| copy(child)).collect()),
                Children::Map(entries) => {
                    Children::Map(entries.iter().map(|(key, &child)| (key.clone(), copy(child))).collect())
                }
            };
            out.nodes[new].children = children;
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
    pub(super) fn push(&mut self, position: Position) -> usize {
        self.nodes.push(PosNode {
            position,
            children: Children::Leaf,
        });
        self.nodes.len() - 1
    }

    /// Makes `child` item `index` of the sequence `parent`.
    pub(super) fn link_item(&mut self, parent: usize, index: usize, child: usize) {
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
    pub(super) fn link_entry(&mut self, parent: usize, key: &str, child: usize) {
        let node = &mut self.nodes[parent];
        if !matches!(node.children, Children::Map(_)) {
            node.children = Children::Map(HashMap::new());
        }
        if let Children::Map(entries) = &mut node.children {
            entries.insert(key.to_owned(), child);
        }
    }

    /// Makes `id` the root node.
    pub(super) fn set_root(&mut self, id: usize) {
        self.root = Some(id);
    }

    /// Changes the recorded position of node `id`.
    pub(super) fn set_position(&mut self, id: usize, position: Position) {
        self.nodes[id].position = position;
    }

    /// Position of the value of `key` in the mapping `parent`, if recorded.
    pub(super) fn entry_position(&self, parent: usize, key: &str) -> Option<Position> {
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

#[cfg(test)]
#[path = "tests/positions.rs"]
mod tests;
