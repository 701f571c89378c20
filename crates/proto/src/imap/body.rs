//! ENVELOPE and BODY/BODYSTRUCTURE rendering (RFC 9051 7.5.2): typed trees the server
//! fills from the parsed message.

use super::encode::{Encoder, join, push_num};
use super::response::{Address, BodyExt, BodyFields, BodyStructure, Envelope, SingleKind};

impl Encoder {
    pub(super) fn envelope(&self, out: &mut Vec<u8>, env: &Envelope) {
        out.push(b'(');
        self.nstring(out, env.date.as_deref());
        out.push(b' ');
        self.nstring(out, env.subject.as_deref());
        for list in [
            &env.from,
            &env.sender,
            &env.reply_to,
            &env.to,
            &env.cc,
            &env.bcc,
        ] {
            out.push(b' ');
            self.addresses(out, list);
        }
        out.push(b' ');
        self.nstring(out, env.in_reply_to.as_deref());
        out.push(b' ');
        self.nstring(out, env.message_id.as_deref());
        out.push(b')');
    }

    fn addresses(&self, out: &mut Vec<u8>, list: &[Address]) {
        if list.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        for a in list {
            out.push(b'(');
            join(out, &[&a.name, &a.adl, &a.mailbox, &a.host], |out, f| {
                self.nstring(out, f.as_deref())
            });
            out.push(b')');
        }
        out.push(b')');
    }

    fn params(&self, out: &mut Vec<u8>, params: &[(String, String)]) {
        if params.is_empty() {
            out.extend_from_slice(b"NIL");
            return;
        }
        out.push(b'(');
        join(out, params, |out, (k, v)| {
            self.string(out, k.as_bytes());
            out.push(b' ');
            self.string(out, v.as_bytes());
        });
        out.push(b')');
    }

    fn fields(&self, out: &mut Vec<u8>, f: &BodyFields) {
        self.params(out, &f.params);
        out.push(b' ');
        self.nstring(out, f.id.as_deref().map(str::as_bytes));
        out.push(b' ');
        self.nstring(out, f.description.as_deref().map(str::as_bytes));
        out.push(b' ');
        self.string(out, f.encoding.as_bytes());
        out.extend_from_slice(format!(" {}", f.size).as_bytes());
    }

    /// BODY (`ext` false) or BODYSTRUCTURE (`ext` true).
    pub(super) fn body(&self, out: &mut Vec<u8>, b: &BodyStructure, ext: bool) {
        out.push(b'(');
        match b {
            BodyStructure::Single {
                media_type,
                subtype,
                fields,
                kind,
                ext: extension,
            } => {
                self.string(out, media_type.as_bytes());
                out.push(b' ');
                self.string(out, subtype.as_bytes());
                out.push(b' ');
                self.fields(out, fields);
                match kind {
                    SingleKind::Basic => {}
                    SingleKind::Text { lines } => push_num(out, format!(" {lines}")),
                    SingleKind::Message {
                        envelope,
                        body,
                        lines,
                    } => {
                        out.push(b' ');
                        self.envelope(out, envelope);
                        out.push(b' ');
                        self.body(out, body, ext);
                        push_num(out, format!(" {lines}"));
                    }
                }
                if let (true, Some(x)) = (ext, extension) {
                    out.push(b' ');
                    self.nstring(out, x.md5.as_deref().map(str::as_bytes));
                    self.body_ext(out, x);
                }
            }
            BodyStructure::Multi {
                parts,
                subtype,
                params,
                ext: extension,
            } => {
                parts.iter().for_each(|p| self.body(out, p, ext));
                out.push(b' ');
                self.string(out, subtype.as_bytes());
                if let (true, Some(x)) = (ext, extension) {
                    out.push(b' ');
                    self.params(out, params);
                    self.body_ext(out, x);
                }
            }
        }
        out.push(b')');
    }

    /// ` dsp lang loc`, shared by single and multipart extension data.
    fn body_ext(&self, out: &mut Vec<u8>, x: &BodyExt) {
        out.push(b' ');
        match &x.disposition {
            Some((kind, params)) => {
                out.push(b'(');
                self.string(out, kind.as_bytes());
                out.push(b' ');
                self.params(out, params);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }
        out.push(b' ');
        match x.language.as_slice() {
            [] => out.extend_from_slice(b"NIL"),
            [one] => self.string(out, one.as_bytes()),
            many => {
                out.push(b'(');
                join(out, many, |out, l| self.string(out, l.as_bytes()));
                out.push(b')');
            }
        }
        out.push(b' ');
        self.nstring(out, x.location.as_deref().map(str::as_bytes));
    }
}
