//! APPEND (RFC 9051 6.3.12, UIDPLUS APPENDUID, RFC 3502 MULTIAPPEND, RFC 3516 literal8,
//! RFC 6855 `UTF8 (...)`): each message streams from the decoder's chunks into a blob
//! writer, and all are filed once the command is whole. The target is checked before the
//! literal is asked for, so a client sending to a mailbox that does not exist gets
//! `NO [TRYCREATE]` without uploading anything; a message over APPENDLIMIT is refused by
//! the decoder (`NO [TOOBIG]`) the same way. A message with NUL octets (sent as a
//! `literal8`) has its binary parts stored in base64 (`crate::textual`, shared with SMTP).

use super::{Done, Flow, Session, convert, now, reply};
use crate::textual::{self, Unstored};
use hermod_proto::imap::{AppendMessage, Code, Mailbox, SeqNum, SequenceSet};
use hermod_store::{BlobWriter, DeliveryTarget, Flags, MailboxInfo, SealedBlob, UidSet};
use tokio::io::{AsyncRead, AsyncWrite};

/// An APPEND in progress.
pub(super) struct Append {
    tag: String,
    /// The target, or why the command is refused.
    target: Result<MailboxInfo, Done>,
    /// The message being received.
    current: Option<Receiving>,
    /// Messages received whole (more than one only with MULTIAPPEND syntax).
    sealed: Vec<(SealedBlob, Flags, i64)>,
}

/// A message being received, with its flags and internal date.
struct Receiving {
    writer: BlobWriter,
    flags: Flags,
    date: i64,
    /// Whether a NUL octet came: the message goes through `textual::store_textual` once whole.
    nul: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn append_start(&mut self, tag: String, mailbox: Mailbox) {
        let target = match (self.user.as_ref(), convert::mailbox_name(&mailbox)) {
            (None, _) => Err(Done::bad(reply::WRONG_STATE)),
            (Some(_), None) => Err(Done::no(Some(Code::TryCreate), reply::NO_MAILBOX)),
            (Some(user), Some(name)) => match self.ctx.store.mailbox(user.id, &name).await {
                Ok(Some(info)) => Ok(info),
                Ok(None) => Err(Done::no(Some(Code::TryCreate), reply::NO_MAILBOX)),
                Err(e) => Err(Done::store_error(&e)),
            },
        };
        self.append = Some(Append {
            tag,
            target,
            current: None,
            sealed: Vec::new(),
        });
    }

    /// A message literal is announced: accept it (its chunks follow) or refuse the command.
    pub(super) async fn append_message(&mut self, message: AppendMessage) -> Flow {
        let refusal = match self.next_message(&message).await {
            Ok(()) => return Flow::Continue,
            Err(done) => done,
        };
        self.decoder.refuse_literal();
        let Some(append) = self.append.take() else {
            return self.untagged_bad("APPEND data without APPEND");
        };
        self.finish(&append.tag, refusal, true).await
    }

    async fn next_message(&mut self, message: &AppendMessage) -> Result<(), Done> {
        self.seal_current().await?;
        let Some(append) = self.append.as_mut() else {
            return Err(Done::bad(reply::WRONG_STATE));
        };
        if let Err(refusal) = &append.target {
            return Err(refusal.clone());
        }
        // RFC 6855 4: the UTF8 form only once the client has said it understands UTF-8.
        if message.utf8 && !(self.enabled.utf8 || self.enabled.rev2) {
            return Err(Done::bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT"));
        }
        let flags = convert::store_flags(&message.flags).map_err(Done::bad)?;
        let date = message.date.as_ref().map_or_else(now, convert::epoch_of);
        let writer = self
            .ctx
            .store
            .blob_writer()
            .map_err(|e| Done::store_error(&e))?;
        append.current = Some(Receiving {
            writer,
            flags,
            date,
            nul: false,
        });
        Ok(())
    }

    async fn seal_current(&mut self) -> Result<(), Done> {
        let Some(append) = self.append.as_mut() else {
            return Ok(());
        };
        let Some(received) = append.current.take() else {
            return Ok(());
        };
        let sealed = received
            .writer
            .seal_async()
            .await
            .map_err(|e| Done::store_error(&e))?;
        let sealed = match received.nul {
            true => textual::store_textual(self.ctx.store.as_ref(), sealed)
                .await
                .map_err(unstored)?,
            false => sealed,
        };
        if let Some(append) = self.append.as_mut() {
            append.sealed.push((sealed, received.flags, received.date));
        }
        Ok(())
    }

    pub(super) async fn append_data(&mut self, chunk: Vec<u8>) {
        let Some(append) = self.append.as_mut() else {
            return;
        };
        let Some(mut received) = append.current.take() else {
            return;
        };
        received.nul |= memchr::memchr(0, &chunk).is_some();
        match received.writer.append(chunk).await {
            Ok((writer, _)) => {
                received.writer = writer;
                append.current = Some(received);
            }
            // The rest of the literal is read and dropped; the command fails at its end.
            Err(e) => append.target = Err(Done::store_error(&e)),
        }
    }

    /// The command is whole: file every message and answer.
    pub(super) async fn append_end(&mut self) -> Flow {
        let sealed = self.seal_current().await;
        let Some(append) = self.append.take() else {
            return self.untagged_bad("APPEND data without APPEND");
        };
        let done = match (sealed, append.target) {
            (Err(done), _) | (_, Err(done)) => done,
            (Ok(()), Ok(info)) => self.file(&info, append.sealed).await,
        };
        self.finish(&append.tag, done, true).await
    }

    /// Files every message of the command in one commit, or none (RFC 3502 6: MULTIAPPEND
    /// is atomic); over the quota is `NO [OVERQUOTA]` with nothing kept.
    async fn file(&mut self, info: &MailboxInfo, messages: Vec<(SealedBlob, Flags, i64)>) -> Done {
        let Some(user) = self.user.as_ref().map(|u| u.id) else {
            return Done::bad(reply::WRONG_STATE);
        };
        let batch = messages
            .into_iter()
            .map(|(blob, flags, internal_date)| {
                let target = DeliveryTarget {
                    user,
                    mailbox: info.name.clone(),
                    flags,
                    internal_date,
                };
                (blob, vec![target])
            })
            .collect();
        let submitted = match self.ctx.store.submit_all(batch, None).await {
            Ok(submitted) => submitted,
            Err(e) => return Done::store_error(&e),
        };
        // New UIDs ascend: a MULTIAPPEND's are one range.
        let set: UidSet = submitted.delivered.iter().map(|d| d.uid).collect();
        let uids = SequenceSet::Ranges(
            set.ranges()
                .iter()
                .map(|&(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
                .collect(),
        );
        let code = Code::AppendUid {
            uidvalidity: info.uid_validity.get(),
            uids,
        };
        Done::ok_code(code, "APPEND completed")
    }
}

/// A message with NUL octets that was not stored: `NO [UNKNOWN-CTE]` when a NUL is where no
/// encoding can carry it (RFC 3516 4.4), else the store's failure.
fn unstored(why: Unstored) -> Done {
    match why {
        Unstored::NotConvertible => Done::no(Some(Code::UnknownCte), reply::BINARY_UNSTORABLE),
        Unstored::Read(e) => {
            tracing::error!(error = %e, "IMAP: an appended message cannot be read back");
            Done::no(Some(Code::ServerBug), reply::TRY_LATER)
        }
        Unstored::Store(e) => Done::store_error(&e),
    }
}
