//! COMPRESS DEFLATE (RFC 4978): after the tagged OK, which goes out uncompressed, both
//! directions of the connection are raw DEFLATE streams until it closes (`net::deflate`).

use super::{Done, Flow, Session, reply};
use hermod_proto::imap::{Code, Status};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn compress(&mut self, tag: String, mechanism: &str) -> std::io::Result<Flow> {
        let done = if mechanism != "DEFLATE" {
            Done::bad("unknown compression mechanism; DEFLATE is supported")
        } else if self.conn.deflating() {
            let code = Code::Other("COMPRESSIONACTIVE".into(), None);
            Done::no(Some(code), "DEFLATE is already active")
        } else {
            // What is pending is told first, in the clear, like any response to a command.
            self.after_command(true).await;
            self.send(&reply::tagged(&tag, Status::Ok, None, "DEFLATE active"));
            self.conn.start_deflate().await?;
            return Ok(Flow::Continue);
        };
        Ok(self.finish(&tag, done, true).await)
    }
}
