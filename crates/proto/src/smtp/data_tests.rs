use super::*;
use crate::split::{XorShift, all_splits};

type Outcome = (Vec<u8>, Option<DataEnd>, Vec<u8>);

/// Decodes pieces as a session would; returns (content, end, bytes left after the marker).
fn decode(max_size: u64, max_line: usize, pieces: &[&[u8]]) -> Outcome {
    let mut decoder = DataDecoder::new(max_size, max_line);
    let (mut out, mut buf, mut end) = (Vec::new(), Vec::new(), None);
    for piece in pieces {
        buf.extend_from_slice(piece);
        if end.is_none() {
            let (used, e) = decoder.feed(&buf, &mut out);
            buf.drain(..used);
            end = e;
        }
    }
    // Content of failed data is never used; how much of it was buffered may vary.
    if end != Some(DataEnd::Ok) {
        out.clear();
    }
    (out, end, buf)
}

fn check(input: &[u8], content: &[u8], end: Option<DataEnd>, rest: &[u8]) {
    check_with(1000, 100, input, content, end, rest);
}

fn check_with(
    max_size: u64,
    max_line: usize,
    input: &[u8],
    content: &[u8],
    end: Option<DataEnd>,
    rest: &[u8],
) {
    let got = all_splits(input, |p| decode(max_size, max_line, p));
    let shown = String::from_utf8_lossy(input);
    assert_eq!(got.1, end, "end for {shown:?}");
    assert_eq!(got.2, rest, "rest for {shown:?}");
    if end == Some(DataEnd::Ok) {
        assert_eq!(got.0, content, "content for {shown:?}");
    }
}

#[test]
fn unstuffs_and_finds_the_end() {
    let ok = Some(DataEnd::Ok);
    type Case<'a> = (&'a [u8], &'a [u8], Option<DataEnd>, &'a [u8]);
    let cases: &[Case] = &[
        // input, content, end, left over
        (b"a\r\nb\r\n.\r\nNOOP\r\n", b"a\r\nb\r\n", ok, b"NOOP\r\n"),
        (b".\r\n", b"", ok, b""),
        (b".\r\n.\r\n", b"", ok, b".\r\n"),
        (b"\r\n.\r\n", b"\r\n", ok, b""),
        (b"..x\r\n..\r\n.\r\n", b".x\r\n.\r\n", ok, b""),
        (b"...\r\n.\r\n", b"..\r\n", ok, b""),
        (b".x\r\n.\r\n", b"x\r\n", ok, b""),
        (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n", ok, b""),
        (b"a\x00\xff\t\r\n.\r\n", b"a\x00\xff\t\r\n", ok, b""),
        (b"x\r\n. \r\n.\r\n", b"x\r\n \r\n", ok, b""),
        (
            b"x\r\n.\r\nMAIL FROM:<>\r\nRCPT",
            b"x\r\n",
            ok,
            b"MAIL FROM:<>\r\nRCPT",
        ),
        // Need more data.
        (b"", b"", None, b""),
        (b"a", b"", None, b""),
        (b"a\r", b"", None, b""),
        (b"a\r\n", b"", None, b""),
        (b"a\r\n.", b"", None, b""),
        (b"a\r\n.\r", b"", None, b""),
        (b"a\r\n..\r\n", b"", None, b""),
    ];
    for (input, content, end, rest) in cases {
        check(input, content, *end, rest);
    }
}

#[test]
fn smuggling_variants_never_end_the_data() {
    for body in [
        &b"a\n.\nb"[..],
        b"a\r.\rb",
        b"a\r\n.\nb",
        b"a\n.\r\nb",
        b"a\r\n.\rb",
        b"a\r\n.\r\rb",
        b"a\r\r\n.\r\r\nb",
        b"\n.\n",
        b"\n.\r\n",
        b"a\nb",
        b"a\rb",
        b"a\r\rb",
        b"\rb",
        b"\n",
        b".\n",
        b".\r.\r\n",
        b"x\r\n.\nMAIL FROM:<evil@x.test>\r\n",
    ] {
        check(body, b"", None, b"");
        let finished = [body, b"\r\n.\r\nQUIT\r\n"].concat();
        check(&finished, b"", Some(DataEnd::BareLineEnding), b"QUIT\r\n");
    }
}

#[test]
fn limits_are_reported_at_the_end() {
    let too_long = [vec![b'x'; 150], b"\r\n.\r\nQUIT\r\n".to_vec()].concat();
    check(&too_long, b"", Some(DataEnd::LineTooLong), b"QUIT\r\n");
    let big: Vec<u8> = [b"0123456789\r\n".repeat(100), b".\r\n".to_vec()].concat();
    check(&big, b"", Some(DataEnd::TooBig), b"");
    // Exactly-full lines fit; the stuffed dot counts towards the line, not the size.
    let fits = [vec![b'y'; 98], b"\r\n.\r\n".to_vec()].concat();
    check(&fits, &fits[..100], Some(DataEnd::Ok), b"");
    let stuffed_fits = [b"..".to_vec(), vec![b'y'; 96], b"\r\n.\r\n".to_vec()].concat();
    check(&stuffed_fits, &stuffed_fits[1..100], Some(DataEnd::Ok), b"");
    let stuffed_long = [b"..".to_vec(), vec![b'y'; 97], b"\r\n.\r\n".to_vec()].concat();
    check(&stuffed_long, b"", Some(DataEnd::LineTooLong), b"");
    // A CR whose LF comes one byte too late makes the line too long.
    let cr_long = [vec![b'y'; 99], b"\r\n.\r\n".to_vec()].concat();
    check(&cr_long, b"", Some(DataEnd::LineTooLong), b"");
    // Size counts decoded content exactly.
    let exact = b"0123456\r\n.\r\n";
    check_with(9, 100, exact, b"0123456\r\n", Some(DataEnd::Ok), b"");
    check_with(8, 100, exact, b"", Some(DataEnd::TooBig), b"");
    check_with(0, 100, b".\r\n", b"", Some(DataEnd::Ok), b"");
}

#[test]
fn the_first_error_wins() {
    let e = |end| Some(end);
    let cases: &[(u64, usize, &[u8], DataEnd)] = &[
        // Size is crossed before the line limit, then the other way round.
        (5, 100, b"0123456789\r\n.\r\n", DataEnd::TooBig),
        (100, 5, b"0123456789\r\n.\r\n", DataEnd::LineTooLong),
        // Both crossed at the same byte: the line limit is named.
        (5, 5, b"0123456789\r\n.\r\n", DataEnd::LineTooLong),
        (5, 100, b"0123456789\na\r\n.\r\n", DataEnd::TooBig),
        (100, 100, b"a\nb\r\n.\r\n", DataEnd::BareLineEnding),
        (3, 100, b"a\nbbbbbb\r\n.\r\n", DataEnd::BareLineEnding),
        (100, 3, b"a\nbbbbbb\r\n.\r\n", DataEnd::BareLineEnding),
        (100, 3, b"abcdef\nb\r\n.\r\n", DataEnd::LineTooLong),
    ];
    for (size, line, input, end) in cases {
        check_with(*size, *line, input, b"", e(*end), b"");
    }
}

#[test]
fn content_is_not_buffered_after_an_error() {
    for (max_size, max_line) in [(10, 1000), (1000, 10), (1000, 1000)] {
        let mut decoder = DataDecoder::new(max_size, max_line);
        let mut out = Vec::new();
        let input = [b"\n".to_vec(), vec![b'z'; 5000], b"\r\n.\r\n".to_vec()].concat();
        let input = if max_size == 1000 && max_line == 1000 {
            &input[..]
        } else {
            &input[1..]
        };
        let (used, end) = decoder.feed(input, &mut out);
        assert_eq!(used, input.len());
        assert!(end.is_some_and(|e| e != DataEnd::Ok));
        assert!(out.len() <= 10, "{} bytes buffered", out.len());
    }
}

#[test]
fn the_decoder_is_reusable_after_the_end() {
    let mut decoder = DataDecoder::new(100, 100);
    let mut out = Vec::new();
    assert_eq!(
        decoder.feed(b"a\nb\r\n.\r\n", &mut out).1,
        Some(DataEnd::BareLineEnding)
    );
    out.clear();
    assert_eq!(
        decoder.feed(b"..ok\r\n.\r\n", &mut out),
        (9, Some(DataEnd::Ok))
    );
    assert_eq!(out, b".ok\r\n");
}

/// An independent, byte-at-a-time statement of the rules, to check the fast decoder on
/// generated inputs. Returns (content if Ok, end, bytes consumed).
fn reference(max_size: u64, max_line: usize, input: &[u8]) -> (Vec<u8>, Option<DataEnd>, usize) {
    let (mut out, mut error, mut line_len) = (Vec::new(), None, 0);
    let mut push = |b: u8, line_len: &mut usize, error: &mut Option<DataEnd>| {
        *line_len += 1;
        if *line_len > max_line {
            error.get_or_insert(DataEnd::LineTooLong);
        }
        out.push(b);
        if out.len() as u64 > max_size {
            error.get_or_insert(DataEnd::TooBig);
        }
    };
    let (mut i, mut line_start) = (0, true);
    while i < input.len() {
        if line_start && input[i..].starts_with(b".\r\n") {
            let end = error.unwrap_or(DataEnd::Ok);
            let content = if end == DataEnd::Ok { out } else { Vec::new() };
            return (content, Some(end), i + 3);
        }
        if line_start && input[i] == b'.' {
            line_len += 1;
            i += 1;
            if i == input.len() {
                break;
            }
        }
        line_start = false;
        if input[i..].starts_with(b"\r\n") {
            push(b'\r', &mut line_len, &mut error);
            push(b'\n', &mut line_len, &mut error);
            (line_start, line_len, i) = (true, 0, i + 2);
            continue;
        }
        if input[i] == b'\n' || (input[i] == b'\r' && i + 1 < input.len()) {
            error.get_or_insert(DataEnd::BareLineEnding);
        } else if input[i] == b'\r' {
            break; // a trailing CR: its LF may still come.
        }
        push(input[i], &mut line_len, &mut error);
        i += 1;
    }
    (Vec::new(), None, input.len())
}

#[test]
fn matches_the_reference_on_generated_inputs() {
    let mut rng = XorShift(0x9e37_79b9);
    let alphabet = b"ab.\r\n";
    for _ in 0..20_000 {
        let len = rng.below(24);
        let mut input: Vec<u8> = (0..len).map(|_| alphabet[rng.below(5)]).collect();
        if rng.below(2) == 0 {
            input.extend_from_slice(b"\r\n.\r\n");
        }
        let (max_size, max_line) = (rng.below(20) as u64, rng.below(12));
        let expected = reference(max_size, max_line, &input);
        let run = |pieces: &[&[u8]]| {
            let (out, end, rest) = decode(max_size, max_line, pieces);
            let used = input.len() - rest.len();
            (out, end, if end.is_some() { used } else { input.len() })
        };
        let got = all_splits(&input, run);
        assert_eq!(
            got,
            expected,
            "{:?} {max_size} {max_line}",
            String::from_utf8_lossy(&input)
        );
    }
}

#[test]
fn finds_line_ends_like_a_plain_scan() {
    let mut rng = XorShift(7);
    for _ in 0..5_000 {
        let len = rng.below(40);
        let hay: Vec<u8> = (0..len)
            .map(|_| match rng.below(30) {
                0 => b'\r',
                1 => b'\n',
                2 => 0x8d, // high bit set with CR's low bits: no false hit
                _ => rng.below(256) as u8,
            })
            .collect();
        let plain = hay.iter().position(|&b| b == b'\r' || b == b'\n');
        assert_eq!(find_cr_or_lf(&hay), plain, "{hay:?}");
    }
}

#[test]
fn bdat_content_keeps_the_crlf_rule_however_it_is_chunked() {
    let cases: &[(&[u8], bool)] = &[
        (b"", true),
        (b"Subject: x\r\n\r\nhello\r\n", true),
        (b"no final line end", true),
        (b"hello\r.\rMAIL FROM:<x@y>\r\n", false),
        (b"hello\n.\nRCPT TO:<x@y>\r\n", false),
        (b"hello\r\n.\nQUIT\r\n", false),
        (b"hello\n.\r\nQUIT\r\n", false),
        (b"a\rb\r\n", false),
        (b"a\nb\r\n", false),
        (b"ends with a bare CR\r", false),
        (b"\n", false),
        (b"\r\r\n", false),
    ];
    for (input, clean) in cases {
        let run = |pieces: &[&[u8]]| {
            let mut check = LineEndingCheck::default();
            for piece in pieces {
                check.feed(piece);
            }
            check.is_clean()
        };
        assert_eq!(
            all_splits(input, run),
            *clean,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}
