//! Any bytes, in any pieces, through the ManageSieve decoder and command parser: no panic,
//! never more held than the limits allow, and every string a command carried comes back
//! unchanged through the response encoder and the decoder.
#![no_main]

use hermod_proto::managesieve::{
    Decoder, Limits, Token, parse_command, parse_sasl_response, render_string,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&knob, data)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_line: 16 + usize::from(knob & 0x3f),
        max_literal: usize::from(knob >> 4) * 8,
        max_command: 96,
        max_skip: 512,
    };
    let mut decoder = Decoder::new(limits);
    let mut buf = Vec::new();
    let piece = usize::from(knob % 7) + 1;
    for chunk in data.chunks(piece) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.next(&mut buf) {
            let Ok(tokens) = frame else { continue };
            round_trip(&tokens);
            let _ = parse_sasl_response(tokens.clone());
            let _ = parse_command(tokens);
        }
        assert!(decoder.buffered() <= limits.max_command + limits.max_line);
        assert!(buf.len() < limits.max_line + piece);
    }
});

fn round_trip(tokens: &[Token]) {
    for token in tokens {
        let Token::String(value) = token else { continue };
        let mut wire = b"NOOP ".to_vec();
        render_string(value, &mut wire);
        wire.extend_from_slice(b"\r\n");
        let mut decoder = Decoder::new(Limits::default());
        let again = decoder.next(&mut wire).expect("whole").expect("valid");
        assert_eq!(again[1], Token::String(value.clone()));
    }
}
