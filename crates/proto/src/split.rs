//! Test helper: feed input whole, byte by byte, cut in two everywhere and in random pieces.

/// Feeds `input` in every way the tests care about: whole, one byte at a time, in two pieces
/// cut at every position (for short inputs), and in pseudo-random pieces. `run` gets the
/// pieces and returns a comparable outcome, which must be the same every time.
pub fn all_splits<T: PartialEq + std::fmt::Debug>(input: &[u8], run: impl Fn(&[&[u8]]) -> T) -> T {
    let shown = String::from_utf8_lossy(input);
    let whole = run(&[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "byte-at-a-time differs for {shown:?}");
    if input.len() <= 256 {
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(run(&[a, b]), whole, "cut at {cut} differs for {shown:?}");
        }
    }
    let mut rng = XorShift(0x2545_f491);
    for _ in 0..8 {
        let mut pieces = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = (rng.below(7) + 1).min(rest.len());
            pieces.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(run(&pieces), whole, "random split differs for {shown:?}");
    }
    whole
}

/// A tiny deterministic generator for split points and generated inputs.
pub struct XorShift(pub u32);

impl XorShift {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as usize % n
    }
}
