//! Converting between JSON documents and CEL values.
//!
//! A document becomes a tree of CEL values that *borrows* its strings from the JSON (no copies),
//! built once per input and shared by every rule. JSON integers stay CEL `int` (the `cel` crate's
//! own conversion would make positive ones `uint`, which breaks `replicas >= 2`).

use std::collections::HashMap;

use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
use cel::common::value::Val;
use cel::Value;

/// Facts about a converted document that bound the cost of evaluating rules over it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ValueStats {
    /// Number of entries in the largest list or map of the document.
    pub max_collection: usize,
    /// Total number of nodes.
    pub nodes: usize,
    /// Bytes of the longest string (value or map key) of the document.
    pub max_string: usize,
    /// Bytes of the longest map key of the document.
    pub max_key: usize,
}

impl ValueStats {
    #[must_use]
    /// Combines the stats of two documents evaluated together.
    pub fn merge(self, other: ValueStats) -> ValueStats {
        ValueStats {
            max_collection: self.max_collection.max(other.max_collection),
            nodes: self.nodes + other.nodes,
            max_string: self.max_string.max(other.max_string),
            max_key: self.max_key.max(other.max_key),
        }
    }
}

/// Converts `json` eagerly to a CEL value borrowing from it, recording size facts in `stats`.
/// The engine binds zero-copy views instead ([`super::json_val`]); this conversion is the
/// reference the views are tested against and benchmarked with.
pub fn json_to_val<'v>(json: &'v serde_json::Value, stats: &mut ValueStats) -> Box<dyn Val + 'v> {
    stats.nodes += 1;
    match json {
        serde_json::Value::Null => Box::new(CelNull),
        serde_json::Value::Bool(b) => Box::new(CelBool::from(*b)),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Box::new(CelInt::from(i))
            } else if let Some(u) = n.as_u64() {
                Box::new(CelUInt::from(u))
            } else {
                Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN)))
            }
        }
        serde_json::Value::String(s) => {
            stats.max_string = stats.max_string.max(s.len());
            Box::new(CelString::from(s.as_str()))
        }
        serde_json::Value::Array(items) => {
            stats.max_collection = stats.max_collection.max(items.len());
            let list: Vec<Box<dyn Val + 'v>> = items.iter().map(|i| json_to_val(i, stats)).collect();
            Box::new(CelList::from(list))
        }
        serde_json::Value::Object(map) => {
            stats.max_collection = stats.max_collection.max(map.len());
            let mut entries: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = HashMap::with_capacity(map.len());
            for (k, v) in map {
                stats.max_string = stats.max_string.max(k.len());
                stats.max_key = stats.max_key.max(k.len());
                entries.insert(CelMapKey::from(k.as_str()), json_to_val(v, stats));
            }
            Box::new(CelMap::from(entries))
        }
    }
}

/// Converts a CEL result to JSON for output (`celgate eval`, messages, patch values).
///
/// Durations and timestamps become strings, bytes become base64-free lists of numbers are
/// avoided: bytes render as a UTF-8 string when valid, else as a list of byte values.
pub fn value_to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => serde_json::Value::String(s.to_owned()),
            Err(_) => serde_json::Value::Array(b.iter().map(|x| serde_json::Value::from(*x)).collect()),
        },
        Value::List(items) => serde_json::Value::Array(items.iter().map(value_to_json).collect()),
        Value::Map(map) => {
            let mut out = serde_json::Map::new();
            let mut entries: Vec<_> = map.map.iter().collect();
            entries.sort_by_key(|(k, _)| key_to_string(k));
            for (k, v) in entries {
                out.insert(key_to_string(k), value_to_json(v));
            }
            serde_json::Value::Object(out)
        }
        Value::Duration(d) => serde_json::Value::String(format_duration(*d)),
        Value::Timestamp(t) => serde_json::Value::String(
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        Value::Opaque(o) => match o.downcast_ref::<cel::objects::OptionalValue>() {
            Some(opt) => opt.value().map_or(serde_json::Value::Null, value_to_json),
            None => serde_json::Value::String(format!("<{}>", o.runtime_type_name())),
        },
        Value::Function(name, _) => serde_json::Value::String(format!("<function {name}>")),
        Value::Struct(s) => serde_json::Value::String(format!("{s:?}")),
    }
}

fn key_to_string(key: &cel::objects::Key) -> String {
    match key {
        cel::objects::Key::Int(i) => i.to_string(),
        cel::objects::Key::Uint(u) => u.to_string(),
        cel::objects::Key::Bool(b) => b.to_string(),
        cel::objects::Key::String(s) => s.as_str().to_owned(),
    }
}

fn format_duration(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    let nanos = (d - chrono::Duration::seconds(secs)).num_nanoseconds().unwrap_or(0);
    if nanos == 0 {
        format!("{secs}s")
    } else {
        let frac = format!("{:09}", nanos.unsigned_abs());
        format!("{secs}.{}s", frac.trim_end_matches('0'))
    }
}

/// Appends a CEL value to `out` the way a message shows it: strings bare, everything else as
/// JSON.
pub fn push_display(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => out.push_str(s),
        other => out.push_str(&value_to_json(other).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_stay_signed_ints() {
        let json = serde_json::json!({"replicas": 3, "big": u64::MAX, "f": 1.5, "l": [1, 2, 3]});
        let mut stats = ValueStats::default();
        let val = json_to_val(&json, &mut stats);
        assert_eq!(stats.max_collection, 4);
        assert_eq!(stats.nodes, 8);
        let value = Value::try_from(val.as_ref()).expect("convertible");
        assert_eq!(value_to_json(&value), json);
    }
}
