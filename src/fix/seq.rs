//! Edits to sequences: which items of the old and new lists correspond (equal items, or
//! mappings with the same `name`, as Kubernetes lists of containers, volumes and ports are
//! keyed), then items removed and inserted as whole lines (block) or entries (flow), and the
//! corresponding items edited in place.

use serde_json::Value;
use yaml_rust2::scanner::TScalarStyle;

use super::diff::{after_last, line_indent, surround, trim_break, Edit, Planner, Slot, Unfit};
use super::render;
use super::scan;
use super::tree::{Item, Node};

/// Above this many old × new items, lists are compared by position only.
const MAX_ALIGNED: usize = 250_000;

impl Planner<'_> {
    /// Plans the edits that turn the sequence `node` (with `items`, reading as `o`) into `n`.
    pub(super) fn seq(
        &mut self,
        node: &Node,
        flow: bool,
        items: &[Item],
        o: &[Value],
        n: &[Value],
    ) -> Result<(), Unfit> {
        if items.len() != o.len() {
            return Err(Unfit);
        }
        let mut anchors = align(o, n);
        anchors.push((o.len(), n.len()));
        let (mut old_at, mut new_at) = (0, 0);
        for (old_next, new_next) in anchors {
            // The unmatched run before this pair: paired by position, the rest removed or
            // inserted before the next matched item.
            let old_gap = old_next - old_at;
            let new_gap = new_next - new_at;
            let pairs = old_gap.min(new_gap);
            for j in 0..pairs {
                self.item(flow, items, o, n, old_at + j, new_at + j)?;
            }
            for j in pairs..old_gap {
                self.remove_item(flow, items, old_at + j)?;
            }
            if new_gap > pairs {
                self.insert_items(node, flow, items, old_next, &n[new_at + pairs..new_next])?;
            }
            if old_next < o.len() {
                self.item(flow, items, o, n, old_next, new_next)?;
            }
            (old_at, new_at) = (old_next + 1, new_next + 1);
        }
        Ok(())
    }

    /// Edits item `i` of the old list into item `j` of the new one.
    fn item(&mut self, flow: bool, items: &[Item], o: &[Value], n: &[Value], i: usize, j: usize) -> Result<(), Unfit> {
        let item = &items[i];
        let slot = if flow { Slot::Flow } else { Slot::BlockItem(item) };
        self.diff(&item.value, &o[i], &n[j], slot)
    }

    pub(super) fn remove_item(&mut self, flow: bool, items: &[Item], i: usize) -> Result<(), Unfit> {
        let text = self.text;
        let item = &items[i];
        let (start, end) = if flow {
            if let Some(next) = items.get(i + 1) {
                (item.value.start, next.value.start)
            } else if i > 0 {
                (items[i - 1].value.end, item.value.end)
            } else {
                return Err(Unfit);
            }
        } else {
            let dash = item.dash.ok_or(Unfit)?;
            if !scan::first_on_line(text, dash) {
                return Err(Unfit);
            }
            (
                scan::line_start(text, dash),
                scan::next_line(text, item.value.end.max(dash)),
            )
        };
        self.edits.push(Edit {
            start,
            end,
            text: String::new(),
        });
        Ok(())
    }

    /// Inserts the `new` values before item `at` of the sequence `node` (after its last item when
    /// `at` is past the end).
    pub(super) fn insert_items(
        &mut self,
        node: &Node,
        flow: bool,
        items: &[Item],
        at: usize,
        new: &[Value],
    ) -> Result<(), Unfit> {
        let quote = render::shared_quote(items.iter().map(|i| &i.value));
        let edit = if flow {
            self.flow_insert(node, items, at, new, quote)
        } else {
            self.block_insert(items, at, new, quote)?
        };
        self.edits.push(edit);
        Ok(())
    }

    /// The edit inserting `new` into a flow sequence: one line or one item a line, as it is.
    fn flow_insert(&self, node: &Node, items: &[Item], at: usize, new: &[Value], quote: Option<TScalarStyle>) -> Edit {
        let text = self.text;
        let style = self.style;
        let multi_line = items
            .first()
            .is_some_and(|first| text[node.start..first.value.start].contains('\n'));
        let col = items.first().map_or(0, |first| scan::column(text, first.value.start));
        let indent = items.first().map_or(0, |first| line_indent(text, first.value.start));
        let rendered: Vec<String> = new
            .iter()
            .map(|v| {
                if style.json {
                    render::json(v, multi_line.then_some(indent), style)
                } else {
                    render::flow_like(v, quote, style)
                }
            })
            .collect();
        let separator = if multi_line {
            format!(",\n{}", " ".repeat(col))
        } else {
            ", ".to_owned()
        };
        match (items.get(at), items.last()) {
            (_, None) => Edit {
                start: node.start + 1,
                end: node.start + 1,
                text: rendered.join(", "),
            },
            (Some(before), _) => Edit {
                start: before.value.start,
                end: before.value.start,
                text: surround(&rendered, "", &separator),
            },
            (None, Some(last)) => after_last(text, last.value.end, multi_line, col, &rendered),
        }
    }

    /// The edit inserting `new` into a block sequence, as whole `- ` lines at the column of its
    /// first dash.
    fn block_insert(
        &self,
        items: &[Item],
        at: usize,
        new: &[Value],
        quote: Option<TScalarStyle>,
    ) -> Result<Edit, Unfit> {
        let text = self.text;
        let style = self.style;
        let first_dash = items.first().and_then(|i| i.dash).ok_or(Unfit)?;
        let col = scan::column(text, first_dash);
        let item_text = |v: &Value| {
            let body = if render::needs_block(v) {
                render::block(v, col + 2, true, style)
            } else {
                format!("{}\n", render::scalar(v, col + 2, quote, style))
            };
            format!("{}- {body}", " ".repeat(col))
        };
        if let Some(before) = items.get(at) {
            let dash = before.dash.ok_or(Unfit)?;
            if !scan::first_on_line(text, dash) {
                return Err(Unfit);
            }
            let start = scan::line_start(text, dash);
            Ok(Edit {
                start,
                end: start,
                text: new.iter().map(item_text).collect(),
            })
        } else {
            let last = items.last().ok_or(Unfit)?;
            let end = scan::line_end(text, last.value.end.max(last.dash.unwrap_or(0)));
            let rendered: Vec<String> = new.iter().map(|v| trim_break(item_text(v))).collect();
            Ok(Edit {
                start: end,
                end,
                text: surround(&rendered, "\n", ""),
            })
        }
    }
}

/// The `name` of a mapping item.
fn name_of(value: &Value) -> Option<&str> {
    value.get("name")?.as_str()
}

/// Whether old item `a` and new item `b` are the same item (perhaps changed).
fn corresponds(a: &Value, b: &Value) -> bool {
    a == b || matches!((name_of(a), name_of(b)), (Some(x), Some(y)) if x == y)
}

/// The (old, new) index pairs of corresponding items, in order: a longest common subsequence
/// under [`corresponds`].
fn align(o: &[Value], n: &[Value]) -> Vec<(usize, usize)> {
    if o.len().saturating_mul(n.len()) > MAX_ALIGNED {
        return Vec::new();
    }
    let width = n.len() + 1;
    // lengths[i * width + j]: longest common run of o[i..] and n[j..].
    let mut lengths = vec![0_u32; (o.len() + 1) * width];
    for i in (0..o.len()).rev() {
        for j in (0..n.len()).rev() {
            lengths[i * width + j] = if corresponds(&o[i], &n[j]) {
                lengths[(i + 1) * width + j + 1] + 1
            } else {
                lengths[(i + 1) * width + j].max(lengths[i * width + j + 1])
            };
        }
    }
    let mut pairs = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < o.len() && j < n.len() {
        if corresponds(&o[i], &n[j]) && lengths[i * width + j] == lengths[(i + 1) * width + j + 1] + 1 {
            pairs.push((i, j));
            i += 1;
            j += 1;
        } else if lengths[(i + 1) * width + j] >= lengths[i * width + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    pairs
}
