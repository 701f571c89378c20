//! Any bytes through the command framer and parser: no panic, framing never returns an
//! over-long line or one holding CR or LF, and parsed paths survive a round trip.
#![no_main]

use hermod_proto::smtp::{Command, LineFramer, parse_command};
use libfuzzer_sys::fuzz_target;

const MAX: usize = 512;

/// A parsed MAIL or RCPT renders back to a line that parses to the same command.
fn check_round_trip(command: &Command) {
    let line = match command {
        Command::Mail { from, .. } => format!("MAIL FROM:{from}"),
        Command::Rcpt { to, .. } => format!("RCPT TO:{to}"),
        _ => return,
    };
    match (command, parse_command(line.as_bytes())) {
        (Command::Mail { from, .. }, Ok(Command::Mail { from: again, .. })) => {
            assert_eq!(from, &again)
        }
        (Command::Rcpt { to, .. }, Ok(Command::Rcpt { to: again, .. })) => assert_eq!(to, &again),
        (_, other) => panic!("{line:?} did not parse back: {other:?}"),
    }
}

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
                if let Ok(command) = parse_command(&line) {
                    check_round_trip(&command);
                }
            }
        }
    }
});
