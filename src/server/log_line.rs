//! The server's log line: one JSON object per event, in the shape of `tracing-subscriber`'s JSON
//! format with the current span and without the span list:
//!
//! `{"timestamp":…,"level":…,"fields":{…},"target":…,"span":{<its fields>,"name":…}}`
//!
//! It writes the span's fields as they were recorded (`JsonFields` keeps them as a JSON object,
//! keys sorted), where `tracing-subscriber` parses them back into a map on every event and writes
//! them again: on a server that logs a line per review, that parse was most of the line's cost.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_serde::fields::AsMap;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format of the server's log (see the module's documentation). Use it with
/// `JsonFields` as the field formatter, which keeps each span's fields as a JSON object.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line: Vec<u8> = Vec::with_capacity(512);
        line.extend_from_slice(b"{\"timestamp\":");
        json(&mut line, &timestamp)?;
        line.extend_from_slice(b",\"level\":");
        json(&mut line, meta.level().as_str())?;
        line.extend_from_slice(b",\"fields\":");
        json(&mut line, &event.field_map())?;
        line.extend_from_slice(b",\"target\":");
        json(&mut line, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            line.extend_from_slice(b",\"span\":");
            let extensions = span.extensions();
            let recorded = extensions
                .get::<FormattedFields<N>>()
                .map(|f| f.fields.as_str())
                .and_then(object_members);
            line.push(b'{');
            if let Some(members) = recorded {
                line.extend_from_slice(members.as_bytes());
                line.push(b',');
            }
            line.extend_from_slice(b"\"name\":");
            json(&mut line, span.name())?;
            line.push(b'}');
        }
        line.extend_from_slice(b"}\n");
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

/// Appends `value` as JSON.
fn json(line: &mut Vec<u8>, value: &(impl serde::Serialize + ?Sized)) -> fmt::Result {
    serde_json::to_writer(line, value).map_err(|_| fmt::Error)
}

/// The members of a recorded JSON object (`{"a":1}` gives `"a":1`); `None` when it has none or
/// is not an object.
fn object_members(fields: &str) -> Option<&str> {
    let inner = fields.strip_prefix('{')?.strip_suffix('}')?;
    (!inner.trim().is_empty()).then_some(inner)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// A writer that keeps what it is given.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Events in and out of spans, with every kind of field, escapes included.
    fn log_some_events() {
        tracing::info!(
            packs = 3,
            ratio = 0.25,
            big = u64::MAX,
            negative = -7,
            on = true,
            "rule packs loaded"
        );
        let span = tracing::info_span!(
            "review",
            route = "/validate",
            uid = %"b7e3\"c2d4\\x",
            kind = %"Deployment",
            namespace = "clinical\n",
            dry_run = false,
            duration_ms = 15.846_625,
        );
        {
            let _entered = span.enter();
            tracing::info!(findings = 2, tenant = "", environment = "prod", "admission review");
            tracing::warn!(error = %"boom: \u{1F4A5}", "admission review answered with an error");
        }
        let empty = tracing::info_span!("bare");
        let _entered = empty.enter();
        tracing::info!("inside a span without fields");
    }

    /// Each line with its timestamp cut out (the clock moves between the two runs).
    fn lines_without_timestamps(bytes: &[u8]) -> Vec<String> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|line| {
                let rest = line.split_once("\",\"level\":").map_or(line, |(_, rest)| rest);
                rest.to_owned()
            })
            .collect()
    }

    fn captured(format_ours: bool) -> Vec<u8> {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .json()
            .with_span_list(false)
            .with_writer(out.clone());
        if format_ours {
            tracing::subscriber::with_default(builder.event_format(JsonLines).finish(), log_some_events);
        } else {
            tracing::subscriber::with_default(builder.finish(), log_some_events);
        }
        let bytes = out.0.lock().expect("lock").clone();
        bytes
    }

    #[test]
    fn lines_are_those_of_the_tracing_json_format_byte_for_byte() {
        let ours = captured(true);
        let theirs = captured(false);
        let (ours, theirs) = (lines_without_timestamps(&ours), lines_without_timestamps(&theirs));
        assert_eq!(ours.len(), 4, "{ours:#?}");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn every_line_is_a_json_object_with_the_span_fields_and_name() {
        let bytes = captured(true);
        let text = String::from_utf8(bytes).expect("UTF-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert!(
            lines[0]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{}",
            lines[0]
        );
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["fields"]["packs"], 3);
        assert!(lines[0].get("span").is_none());
        let span = &lines[1]["span"];
        assert_eq!(span["name"], "review");
        assert_eq!(span["uid"], "b7e3\"c2d4\\x");
        assert_eq!(span["namespace"], "clinical\n");
        assert_eq!(span["duration_ms"], 15.846_625);
        assert_eq!(lines[2]["level"], "WARN");
        assert_eq!(lines[2]["fields"]["error"], "boom: \u{1F4A5}");
        assert_eq!(lines[3]["span"], serde_json::json!({"name": "bare"}));
    }
}
