//! The DATA decoder gives the same answer however its input is split, never consumes past
//! the end marker, and never emits content beyond its size limit.
#![no_main]

use hermod_proto::smtp::{DataDecoder, DataEnd};
use libfuzzer_sys::fuzz_target;

fn run(pieces: &[&[u8]]) -> (Vec<u8>, Option<DataEnd>, usize) {
    let mut decoder = DataDecoder::new(4096, 200);
    let (mut out, mut consumed) = (Vec::new(), 0);
    let mut buf = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        let (used, end) = decoder.feed(&buf, &mut out);
        consumed += used;
        buf.drain(..used);
        if end.is_some() {
            if end != Some(DataEnd::Ok) {
                out.clear();
            }
            return (out, end, consumed);
        }
    }
    (Vec::new(), None, consumed)
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| b as usize % (data.len() + 1));
    let whole = run(&[data]);
    let split = run(&[&data[..cut], &data[cut..]]);
    assert_eq!(whole, split);
    assert!(whole.0.len() <= 4096);
    if whole.1.is_some() {
        assert!(data[..whole.2].ends_with(b"\r\n.\r\n") || data[..whole.2] == *b".\r\n");
    }
});
