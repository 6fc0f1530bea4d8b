//! A tracing subscriber that writes runc's (logrus') log lines, text
//! (`time="…" level=error msg="…"`) or JSON (`{"level","msg","time"}`),
//! to --log or stderr. containerd reads the last error line of the JSON log.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::cli::LogFormat;

pub struct LogrusSubscriber {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    max: Level,
}

impl LogrusSubscriber {
    pub fn new(out: Box<dyn Write + Send>, format: LogFormat, debug: bool) -> Self {
        LogrusSubscriber {
            out: Mutex::new(out),
            format,
            max: if debug { Level::DEBUG } else { Level::INFO },
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        _ => "debug",
    }
}

#[derive(Default)]
struct Fields {
    msg: String,
    extra: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.msg = v;
        } else {
            self.extra
                .push((field.name().to_string(), v.trim_matches('"').to_string()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.extra
                .push((field.name().to_string(), value.to_string()));
        }
    }
}

/// One log line in the chosen format (without the newline).
pub fn format_line(
    format: LogFormat,
    level: &str,
    time: &str,
    msg: &str,
    extra: &[(String, String)],
) -> String {
    match format {
        LogFormat::Json => {
            let mut m = serde_json::Map::new();
            for (k, v) in extra {
                m.insert(k.clone(), v.clone().into());
            }
            m.insert("level".into(), level.into());
            m.insert("msg".into(), msg.into());
            m.insert("time".into(), time.into());
            serde_json::Value::Object(m).to_string()
        }
        LogFormat::Text => {
            let mut s = format!("time={time:?} level={level} msg={msg:?}");
            for (k, v) in extra {
                let _ = write!(s, " {k}={v:?}");
            }
            s
        }
    }
}

impl Subscriber for LogrusSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.max
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let line = format_line(
            self.format,
            level_name(event.metadata().level()),
            &crate::state::time::now_rfc3339(),
            &f.msg,
            &f.extra,
        );
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrus_shapes() {
        let t = "2026-11-23T19:02:39Z";
        assert_eq!(
            format_line(LogFormat::Text, "error", t, "container does not exist", &[]),
            r#"time="2026-11-23T19:02:39Z" level=error msg="container does not exist""#
        );
        let j: serde_json::Value = serde_json::from_str(&format_line(
            LogFormat::Json,
            "error",
            t,
            "boom \"x\"",
            &[("id".into(), "c1".into())],
        ))
        .unwrap();
        assert_eq!(j["level"], "error");
        assert_eq!(j["msg"], "boom \"x\"");
        assert_eq!(j["time"], t);
        assert_eq!(j["id"], "c1");
    }
}
