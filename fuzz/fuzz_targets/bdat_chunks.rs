//! BDAT content and the relay's output against SMTP smuggling: any bytes cut into any
//! chunks get the same line-ending verdict as a plain scan of the whole, and whatever the
//! dot-stuffer sends decodes (with the DATA decoder) back to the content with every line
//! ending made CRLF, ending exactly at the terminator.
#![no_main]

use hermod_proto::pop3::DotStuffer;
use hermod_proto::smtp::{DataDecoder, DataEnd, LineEndingCheck};
use libfuzzer_sys::fuzz_target;

/// The content with each bare CR or LF (and each CRLF) as CRLF.
fn normalised(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match (data[i], data.get(i + 1)) {
            (b'\r', Some(b'\n')) => i += 1,
            (b'\r' | b'\n', _) => {}
            (b, _) => {
                out.push(b);
                i += 1;
                continue;
            }
        }
        out.extend_from_slice(b"\r\n");
        i += 1;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, content)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(cut % 16) + 1;
    let mut check = LineEndingCheck::default();
    for piece in content.chunks(chunk) {
        check.feed(piece);
    }
    assert_eq!(check.is_clean(), normalised(content) == content);

    let mut stuffer = DotStuffer::default();
    let mut wire = Vec::new();
    for piece in content.chunks(chunk) {
        stuffer.encode(piece, &mut wire);
    }
    stuffer.finish(&mut wire);
    let mut decoder = DataDecoder::new(u64::MAX, usize::MAX);
    let mut back = Vec::new();
    let (used, end) = decoder.feed(&wire, &mut back);
    assert_eq!(end, Some(DataEnd::Ok), "the relay's output is clean DATA");
    assert_eq!(used, wire.len(), "the end marker is the last thing sent");
    let mut expected = normalised(content);
    if !expected.is_empty() && !expected.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    assert_eq!(back, expected);
});
