//! A connection's DEFLATE layer (IMAP COMPRESS=DEFLATE, RFC 4978): raw DEFLATE (RFC 1951,
//! no zlib header) in each direction, one stream per direction for the rest of the
//! connection. What is written is flushed with a sync flush, so each reply reaches the
//! client whole; what is read is inflated a bounded amount at a time, so a small hostile
//! burst cannot make the server hold megabytes.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::io;

/// The most one call inflates: about what one plain read may bring.
const INFLATE_MAX: usize = 64 * 1024;
/// Room added to a buffer before each step.
const STEP: usize = 16 * 1024;

pub(crate) struct Deflate {
    inflater: Decompress,
    deflater: Compress,
    /// Compressed input read from the stream, not inflated yet.
    pub raw: Vec<u8>,
    /// The compressed form of what is being written.
    pub wire: Vec<u8>,
}

fn corrupt(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("DEFLATE: {e}"))
}

impl Deflate {
    pub fn new() -> Deflate {
        Deflate {
            inflater: Decompress::new(false),
            deflater: Compress::new(Compression::default(), false),
            raw: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Inflates pending input onto `out`, at most about [`INFLATE_MAX`] octets; returns how
    /// many it added (0: more compressed input is needed).
    pub fn inflate_into(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut produced = 0;
        // A fixed step, not the spare room of `out` (which can be any size): the bound holds.
        let mut step = vec![0u8; STEP];
        // Asked even without new input: the inflater may hold output a full step left over.
        while produced < INFLATE_MAX {
            let room = STEP.min(INFLATE_MAX - produced);
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress(&self.raw, &mut step[..room], FlushDecompress::Sync)
                .map_err(corrupt)?;
            let used = (self.inflater.total_in() - in_before) as usize;
            let made = (self.inflater.total_out() - out_before) as usize;
            self.raw.drain(..used);
            out.extend_from_slice(&step[..made]);
            produced += made;
            if status == Status::StreamEnd {
                // RFC 4978: the stream lasts as long as the connection.
                return Err(corrupt("the client ended its stream"));
            }
            // Done with what there is, or stuck until more input comes.
            if (made < room && self.raw.is_empty()) || (used == 0 && made == 0) {
                break;
            }
        }
        Ok(produced)
    }

    /// Compresses `data` into [`Deflate::wire`] (replacing what was there), ending with a
    /// sync flush so the peer can inflate all of it now.
    pub fn deflate(&mut self, data: &[u8]) -> io::Result<()> {
        self.wire.clear();
        // What a large response grew it to is not kept by an idle connection.
        if self.wire.capacity() > 4 * STEP && data.len() < STEP {
            self.wire.shrink_to(STEP);
        }
        let mut consumed = 0;
        loop {
            self.wire.reserve(STEP.max(data.len() - consumed + 64));
            let before = self.deflater.total_in();
            self.deflater
                .compress_vec(&data[consumed..], &mut self.wire, FlushCompress::Sync)
                .map_err(corrupt)?;
            consumed += (self.deflater.total_in() - before) as usize;
            // The flush is complete once the output has room to spare.
            if consumed == data.len() && self.wire.len() < self.wire.capacity() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_round_trip_in_pieces_and_inflation_is_bounded() {
        let mut server = Deflate::new();
        let mut client = Deflate::new();
        let text = b"a1 FETCH 1:* (FLAGS)\r\n".repeat(10_000);
        client.deflate(&text).unwrap();
        let compressed = client.wire.clone();
        assert!(compressed.len() < text.len() / 20);
        let mut out = Vec::new();
        // Fed a few bytes at a time, as reads may come.
        for piece in compressed.chunks(7) {
            server.raw.extend_from_slice(piece);
            while server.inflate_into(&mut out).unwrap() > 0 {}
        }
        assert_eq!(out, text);

        // A large inflation comes out in bounded pieces.
        let zeros = vec![0u8; 4 * 1024 * 1024];
        client.deflate(&zeros).unwrap();
        server.raw.extend_from_slice(&client.wire);
        let mut out = Vec::new();
        let first = server.inflate_into(&mut out).unwrap();
        assert!(first > 0 && first <= INFLATE_MAX, "{first}");
        while server.inflate_into(&mut out).unwrap() > 0 {}
        assert_eq!(out.len(), zeros.len());

        server.raw.extend_from_slice(b"\xff\xff\xff garbage");
        assert!(server.inflate_into(&mut Vec::new()).is_err());
    }
}
