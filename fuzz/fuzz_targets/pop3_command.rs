//! Any bytes through the POP3 framer, command parser, SASL PLAIN decoder and the TOP and
//! dot-stuffing encoders: no panic, and the stuffed body always ends with the terminator.
#![no_main]

use hermod_proto::LineFramer;
use hermod_proto::pop3::{DotStuffer, MAX_COMMAND_LINE, TopLimiter, parse_command};
use hermod_proto::sasl::decode_plain;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut framer = LineFramer::new(MAX_COMMAND_LINE);
    let mut buf = data.to_vec();
    while let Some(line) = framer.next_line(&mut buf) {
        if let Ok(line) = line {
            let _ = parse_command(&line);
            if let Ok(text) = std::str::from_utf8(&line) {
                let _ = decode_plain(text);
            }
        }
    }
    let lines = data.first().copied().unwrap_or(0) as u32 % 8;
    let mut limiter = TopLimiter::new(lines);
    let mut stuffer = DotStuffer::default();
    let mut out = Vec::new();
    for piece in data.chunks(7) {
        stuffer.encode(limiter.take(piece), &mut out);
    }
    stuffer.finish(&mut out);
    assert!(out.ends_with(b".\r\n"));
    // The terminator is always alone on its line.
    assert!(out.len() == 3 || out.ends_with(b"\n.\r\n"));
});
