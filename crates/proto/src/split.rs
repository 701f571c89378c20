//! Test helper: feed input whole, byte by byte and in random pieces.

/// Feeds `input` in every way the tests care about: whole, one byte at a time, and in
/// pseudo-random pieces; `run` gets the pieces and returns a comparable outcome.
pub fn all_splits<T: PartialEq + std::fmt::Debug>(input: &[u8], run: impl Fn(&[&[u8]]) -> T) -> T {
    let whole = run(&[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(&bytes),
        whole,
        "byte-at-a-time differs for {:?}",
        String::from_utf8_lossy(input)
    );
    let mut seed = 0x2545_f491_u32;
    for _ in 0..8 {
        let mut pieces = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let n = (seed as usize % 7 + 1).min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(run(&pieces), whole, "random split differs");
    }
    whole
}
