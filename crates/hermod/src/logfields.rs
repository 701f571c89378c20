//! The log's field formatting: tracing-subscriber's default text, written for less.
//!
//! The default formatter writes every field as `name=value` through one `write!` whose name
//! and `=` go through an ANSI styler even when styles are off: over a thousand instructions
//! a field, 11,500 for the fields of the line each message logs (`smtp::data::log_message`).
//! Without styles, `PlainFields` writes those fields itself, the same text. The message,
//! errors (with their sources) and `r#` names, and every field when styles are on, it hands
//! to the default visitor, so they stay exactly as they were.

use std::fmt;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};

/// Formats fields as `DefaultFields` does; for `fmt().fmt_fields(..)`.
#[derive(Debug, Default)]
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        }
    }
}

pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// No field written yet: the next one needs no separating space.
    is_empty: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Fields the default visitor skips (with tracing-subscriber's `tracing-log` feature,
    /// a default one): the `log` crate's metadata, already on the line.
    fn is_log_metadata(field: &Field) -> bool {
        field.name().starts_with("log.")
    }

    /// Whether `field` is written here rather than by the default visitor.
    fn writes_plainly(&self, field: &Field) -> bool {
        let name = field.name();
        !self.writer.has_ansi_escapes() && name != "message" && !name.starts_with("r#")
    }

    /// Has tracing-subscriber's own visitor write one field after those written so far.
    fn delegate(&mut self, record: impl FnOnce(&mut DefaultVisitor<'_>)) {
        let mut visitor = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
        record(&mut visitor);
        self.result = visitor.finish();
        self.is_empty = false;
    }

    fn write_plainly(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.is_empty {
            self.writer.write_char(' ')?;
        }
        self.is_empty = false;
        self.writer.write_str(name)?;
        self.writer.write_char('=')?;
        write!(self.writer, "{value:?}")
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() || Self::is_log_metadata(field) {
            return;
        }
        if field.name() == "message" {
            // Written unquoted and with terminal escapes defused: the default's business.
            self.delegate(|visitor| visitor.record_str(field, value));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() || Self::is_log_metadata(field) {
            return;
        }
        self.delegate(|visitor| visitor.record_error(field, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() || Self::is_log_metadata(field) {
            return;
        }
        if self.writes_plainly(field) {
            self.result = self.write_plainly(field.name(), value);
        } else {
            self.delegate(|visitor| visitor.record_debug(field, value));
        }
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// What the log would have received, shared with the subscriber's writer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// An error with a source and a terminal escape in its text.
    #[derive(Debug)]
    struct Outer(Inner);

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer \x1b[31mfailure")
        }
    }

    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("inner cause")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    impl std::error::Error for Inner {}

    /// Every kind of field the server logs, and the ones `PlainFields` hands over.
    fn emit_everything() {
        let peer: std::net::SocketAddr = "192.0.2.7:2525".parse().unwrap();
        let to = vec!["a@example.test", "b\"q@example.test"];
        let span = tracing::info_span!("session", %peer, id = "s1");
        let _entered = span.enter();
        tracing::info!(
            id = "01a2",
            %peer,
            from = "weird \"sender\"\\@x.test",
            to = ?to,
            size = 4096u64,
            delta = -3i64,
            ratio = 0.5f64,
            tls = true,
            r#type = "mx",
            "message accepted"
        );
        tracing::warn!(
            error = &Outer(Inner) as &(dyn std::error::Error + 'static),
            "cannot"
        );
        tracing::info!(
            detail = "plain \x1b[2J text",
            "escape \x1b[2J in the message"
        );
        tracing::info!(count = 1u64);
        let message = format!("built {}", 7);
        tracing::error!(message, extra = %"display");
    }

    fn render(ansi: bool, plain: bool) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let builder = tracing_subscriber::fmt()
            .with_ansi(ansi)
            .without_time()
            .with_writer(move || writer.clone());
        if plain {
            let subscriber = builder.fmt_fields(PlainFields).finish();
            tracing::subscriber::with_default(subscriber, emit_everything);
        } else {
            tracing::subscriber::with_default(builder.finish(), emit_everything);
        }
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn writes_what_the_default_fields_write() {
        for ansi in [false, true] {
            let (default, plain) = (render(ansi, false), render(ansi, true));
            assert_eq!(plain, default, "ansi {ansi}");
            assert_eq!(default.lines().count(), 5, "{default}");
        }
        let line = render(false, true);
        assert!(
            line.contains(r#"message accepted id="01a2" peer=192.0.2.7:2525 from="weird \"sender\"\\@x.test" to=["a@example.test", "b\"q@example.test"] size=4096 delta=-3 ratio=0.5 tls=true type="mx""#),
            "{line}"
        );
    }
}
