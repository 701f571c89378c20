//! Any bytes through the command framer and parser: no panic, and framing never grows the
//! buffer or returns an over-long line.
#![no_main]

use hermod_proto::smtp::{LineFramer, parse_command};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 512;

fuzz_target!(|data: &[u8]| {
    let mut framer = LineFramer::new(MAX);
    let mut buf = Vec::new();
    // Feed in two pieces to exercise the "need more data" path.
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    for piece in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(piece);
        while let Some(line) = framer.next_line(&mut buf) {
            if let Ok(line) = line {
                assert!(line.len() + 2 <= MAX);
                assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
                let _ = parse_command(&line);
            }
        }
    }
});
