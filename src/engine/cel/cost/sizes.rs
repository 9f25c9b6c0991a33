//! The run-time sizes an expression is charged at: those of the values it reads
//! ([`super::reads`]), measured once per node of a pass.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use cel::common::types::{CelBytes, CelOptional, CelString, Kind};
use cel::common::value::Val;
use cel::Context;
use serde_json::Value as Json;

use super::reads::{ReadPath, Step, VariableReads};
use crate::engine::cel::value::ValueStats;

/// Size facts of JSON nodes, memoised by address. One memo serves one evaluation pass: every
/// document it measures (the object, the derived documents, params, `forEach` items) is
/// borrowed for the whole pass, so no address is reused while the memo lives.
#[derive(Debug, Default)]
pub struct SizeMemo {
    nodes: RefCell<AddressMap<usize, ValueStats>>,
    /// Measured pack variables, by the addresses of their pack, params and resolved reads (0 for
    /// every variable): within a pass, those decide the value.
    variables: RefCell<AddressMap<(usize, usize, usize), ValueStats>>,
    /// What each expression read, by the addresses of the expression, its `forEach` item, its
    /// params and its pack: an expression charged again (a shared result, a message) is not
    /// measured again.
    reads: RefCell<AddressMap<[usize; 4], ReadSizes>>,
}

/// A map keyed by addresses, which need no protection against chosen collisions: one multiply
/// and rotate per word instead of `SipHash`.
type AddressMap<K, V> = HashMap<K, V, BuildHasherDefault<AddressHasher>>;

/// The hasher of `AddressMap`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

impl SizeMemo {
    /// The size facts of `json`'s subtree.
    pub fn of(&self, json: &Json) -> ValueStats {
        match json {
            Json::String(s) => ValueStats {
                max_string: s.len(),
                nodes: 1,
                ..ValueStats::default()
            },
            Json::Array(_) | Json::Object(_) => {
                let key = std::ptr::from_ref(json).addr();
                if let Some(known) = self.nodes.borrow().get(&key) {
                    return *known;
                }
                let stats = crate::engine::cel::json_val::json_stats(json);
                self.nodes.borrow_mut().insert(key, stats);
                stats
            }
            _ => ValueStats {
                nodes: 1,
                ..ValueStats::default()
            },
        }
    }
}

/// The documents bound as root variables of a scope, by name.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootDocs<'a> {
    /// `object`.
    pub object: Option<&'a Json>,
    /// `oldObject`.
    pub old_object: Option<&'a Json>,
    /// `request`.
    pub request: Option<&'a Json>,
    /// `namespaceObject`.
    pub namespace_object: Option<&'a Json>,
    /// `params`.
    pub params: Option<&'a Json>,
    /// `item`, in a `forEach`.
    pub item: Option<&'a Json>,
    /// Other roots (`celgate eval --var`).
    pub extra: &'a [(String, Json)],
}

impl<'a> RootDocs<'a> {
    fn get(&self, root: &str) -> Option<&'a Json> {
        match root {
            "object" => self.object,
            "oldObject" => self.old_object,
            "request" => self.request,
            "namespaceObject" => self.namespace_object,
            "params" => self.params,
            "item" => self.item,
            other => self.extra.iter().find(|(n, _)| n == other).map(|(_, j)| j),
        }
    }

    /// The same roots with `item` bound.
    #[must_use]
    pub fn with_item(self, item: &'a Json) -> RootDocs<'a> {
        RootDocs {
            item: Some(item),
            ..self
        }
    }

    /// The same roots with `params` bound.
    #[must_use]
    pub fn with_params(self, params: &'a Json) -> RootDocs<'a> {
        RootDocs {
            params: Some(params),
            ..self
        }
    }
}

/// Where the reads of a `variables.<name>` path are looked up: the pack's variables, resolved
/// at load, by name.
pub trait VariableTable {
    /// The resolved reads of the variable `name`, if the pack has one.
    fn reads_of(&self, name: &str) -> Option<&VariableReads>;
}

/// The sizes of what an expression reads: of the input's documents, and of the params.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSizes {
    /// What it reads of the documents, `forEach` items and computed variables.
    pub doc: ValueStats,
    /// What it reads of the params.
    pub params: ValueStats,
}

impl ReadSizes {
    fn add(&mut self, root: &str, stats: ValueStats) {
        if root == "params" {
            self.params = self.params.merge(stats);
        } else {
            self.doc = self.doc.merge(stats);
        }
    }
}

/// The sizes of what the expression at address `expr` reads in `scope` (its maximal chains,
/// `paths`): each chain's subtree in the root documents, and the measured value of each computed
/// pack variable (read from `scope`'s `variables`; `None` for an expression that reads no pack
/// variable, which then needs no interpreter scope). Measured once per pass for each item,
/// params and pack it is charged with.
pub fn read_stats(
    expr: usize,
    paths: &[ReadPath],
    roots: RootDocs<'_>,
    variables: &dyn VariableTable,
    scope: Option<&Context<'_, '_>>,
    memo: &SizeMemo,
) -> ReadSizes {
    let key = [
        expr,
        roots.item.map_or(0, |i| std::ptr::from_ref(i).addr()),
        roots.params.map_or(0, |p| std::ptr::from_ref(p).addr()),
        std::ptr::from_ref(variables).cast::<()>().addr(),
    ];
    if let Some(known) = memo.reads.borrow().get(&key) {
        return *known;
    }
    let sizes = measure_reads(paths, roots, variables, scope, memo);
    memo.reads.borrow_mut().insert(key, sizes);
    sizes
}

fn measure_reads(
    paths: &[ReadPath],
    roots: RootDocs<'_>,
    variables: &dyn VariableTable,
    scope: Option<&Context<'_, '_>>,
    memo: &SizeMemo,
) -> ReadSizes {
    let mut sizes = ReadSizes::default();
    for path in paths {
        if path.root != "variables" {
            sizes.add(&path.root, path_stats(&path.root, path.path.iter(), roots, memo));
            continue;
        }
        let owner = (
            std::ptr::from_ref(variables).cast::<()>().addr(),
            roots.params.map_or(0, |p| std::ptr::from_ref(p).addr()),
        );
        let Some((Step::Field(name), rest)) = path.path.split_first() else {
            // Every variable (the whole map, or a computed key).
            sizes.doc = sizes.doc.merge(measure_variable(scope, owner, None, memo));
            continue;
        };
        let Some(var) = variables.reads_of(name) else {
            continue;
        };
        sizes.doc = sizes.doc.merge(var.floor);
        if var.measured {
            // A computed value: what the expression reaches through it lies in the value.
            sizes.doc = sizes.doc.merge(measure_variable(scope, owner, Some((name, var)), memo));
        } else {
            for p in &var.paths {
                sizes.add(&p.root, path_stats(&p.root, p.path.iter().chain(rest), roots, memo));
            }
        }
    }
    sizes
}

/// The stats of the subtree `steps` reach from `root`, or nothing when they reach nothing.
fn path_stats<'s>(
    root: &str,
    steps: impl Iterator<Item = &'s Step>,
    roots: RootDocs<'_>,
    memo: &SizeMemo,
) -> ValueStats {
    let Some(mut node) = roots.get(root) else {
        return ValueStats::default();
    };
    for step in steps {
        let next = match (step, node) {
            (Step::Field(f), Json::Object(map)) => map.get(f),
            (Step::Index(i), Json::Array(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return ValueStats::default(),
        }
    }
    memo.of(node)
}

/// The measured size of the variable `var` (every variable when `None`) bound in `scope`, of
/// the pack and params `owner` gives the addresses of.
fn measure_variable(
    scope: Option<&Context<'_, '_>>,
    owner: (usize, usize),
    var: Option<(&str, &VariableReads)>,
    memo: &SizeMemo,
) -> ValueStats {
    let key = (owner.0, owner.1, var.map_or(0, |(_, v)| std::ptr::from_ref(v).addr()));
    let name = var.map(|(n, _)| n);
    if let Some(known) = memo.variables.borrow().get(&key) {
        return *known;
    }
    let Some(variables) = scope.and_then(|s| s.get_variable("variables")) else {
        return ValueStats::default();
    };
    let mut stats = ValueStats::default();
    match name {
        None => measure(&*variables, &mut stats),
        Some(name) => {
            if let Some(indexer) = variables.as_indexer() {
                let key = CelString::from(name.to_owned());
                if let Ok(value) = indexer.get(&key) {
                    measure(&*value, &mut stats);
                }
            }
        }
    }
    memo.variables.borrow_mut().insert(key, stats);
    stats
}

/// Adds the sizes of a CEL value to `stats`: strings, lists and maps, optionals' contents.
fn measure(val: &dyn Val, stats: &mut ValueStats) {
    stats.nodes += 1;
    match val.get_type().kind() {
        Kind::String => {
            if let Some(s) = val.downcast_ref::<CelString>() {
                stats.max_string = stats.max_string.max(s.inner().len());
            }
        }
        Kind::Bytes => {
            if let Some(b) = val.downcast_ref::<CelBytes>() {
                stats.max_string = stats.max_string.max(b.inner().len());
            }
        }
        Kind::List => {
            let Some(items) = val.as_iterable() else { return };
            let mut it = items.iter();
            let mut len = 0;
            while let Some(item) = it.next() {
                len += 1;
                measure(item, stats);
            }
            stats.max_collection = stats.max_collection.max(len);
        }
        Kind::Map => {
            let (Some(keys), Some(indexer)) = (val.as_iterable(), val.as_indexer()) else {
                return;
            };
            let mut it = keys.iter();
            let mut len = 0;
            while let Some(key) = it.next() {
                len += 1;
                let mut key_stats = ValueStats::default();
                measure(key, &mut key_stats);
                stats.max_key = stats.max_key.max(key_stats.max_string);
                *stats = stats.merge(key_stats);
                if let Ok(value) = indexer.get(key) {
                    measure(&*value, stats);
                }
            }
            stats.max_collection = stats.max_collection.max(len);
        }
        Kind::Opaque => {
            if let Some(inner) = val.downcast_ref::<CelOptional>().and_then(CelOptional::option) {
                measure(inner, stats);
            }
        }
        _ => {}
    }
}
