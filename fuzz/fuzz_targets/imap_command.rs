//! Any bytes through the IMAP command decoder in random chunk sizes: no panic, never more
//! buffered than the limits allow, and the same events whole as split (APPEND chunks
//! joined, since where they are cut depends on the split).
#![no_main]

use hermod_proto::imap::{Event, ID_COMMAND_MAX, ImapDecoder, Limits, LiteralPlus};
use libfuzzer_sys::fuzz_target;

fn limits(mode: u8) -> Limits {
    Limits {
        max_line: 64,
        max_command: 256,
        max_append: 512,
        literal_plus: match mode % 3 {
            0 => LiteralPlus::Plus,
            1 => LiteralPlus::Minus,
            _ => LiteralPlus::Off,
        },
    }
}

/// Decodes `pieces`, acting as a server would on IDLE and AUTHENTICATE, and (when `utf8`
/// says so) switching to UTF8=ACCEPT after an ENABLE.
fn run(mode: u8, pieces: &[&[u8]]) -> Vec<Event> {
    let limits = limits(mode);
    let mut decoder = ImapDecoder::new(limits);
    let mut out: Vec<Event> = Vec::new();
    for piece in pieces {
        let mut rest = *piece;
        loop {
            let (used, event) = decoder.decode(rest);
            assert!(used <= rest.len());
            rest = &rest[used..];
            // An ID command (RFC 2971) has its own, larger allowance.
            let most = limits.max_line.max(ID_COMMAND_MAX) + limits.max_command.max(ID_COMMAND_MAX);
            assert!(decoder.buffered() <= most);
            let Some(event) = event else {
                assert!(rest.is_empty());
                break;
            };
            if let Event::Command(c) = &event {
                use hermod_proto::imap::CommandBody as C;
                match c.body {
                    C::Idle => decoder.expect_idle_done(),
                    C::Authenticate { .. } => decoder.expect_auth_response(),
                    C::Enable(_) => decoder.set_utf8(mode & 4 != 0),
                    _ => {}
                }
            }
            if let Event::Error(e) = &event {
                let _ = e.response();
            }
            match (out.last_mut(), event) {
                (Some(Event::AppendData(prev)), Event::AppendData(more)) => prev.extend(more),
                (_, event) => out.push(event),
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let whole = run(mode, &[data]);
    let mut pieces = Vec::new();
    let mut rest = data;
    let mut size = usize::from(mode >> 3) + 1;
    while !rest.is_empty() {
        let n = size.min(rest.len());
        pieces.push(&rest[..n]);
        rest = &rest[n..];
        size = size * 7 % 13 + 1;
    }
    assert_eq!(run(mode, &pieces), whole);
});
