//! Mailbox commands (RFC 9051 6.3): NAMESPACE, STATUS, CREATE (with RFC 6154
//! CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE; LIST and LSUB are in `list`.
//! The hierarchy delimiter is `/`.

use super::{Done, Session, convert, reply};
use hermod_proto::imap::{Code, CommandBody, Mailbox, Namespace, Response, StatusItem};
use hermod_store::{Flags, MailboxStatus, SpecialUse, UidSet, UserId};
use hermod_types::MailboxName;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    pub(super) async fn mailbox_command(&mut self, body: CommandBody) -> Done {
        use CommandBody as C;
        let Some(user) = self.user_id() else {
            return Done::bad(reply::WRONG_STATE);
        };
        match body {
            C::List {
                selection,
                reference,
                patterns,
                returns,
            } => {
                self.list(user, &selection, &reference, &patterns, &returns)
                    .await
            }
            C::Lsub { reference, pattern } => self.lsub(user, &reference, &pattern).await,
            C::Namespace => {
                let personal = vec![Namespace {
                    prefix: String::new(),
                    delimiter: Some('/'),
                }];
                self.send(&Response::Namespace {
                    personal,
                    other: Vec::new(),
                    shared: Vec::new(),
                });
                Done::ok("NAMESPACE completed")
            }
            C::Status { mailbox, items } => self.status(user, &mailbox, &items).await,
            body => self.change_mailbox(user, body).await,
        }
    }

    /// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
    async fn change_mailbox(&mut self, user: UserId, body: CommandBody) -> Done {
        use CommandBody as C;
        let store = self.ctx.store.clone();
        let name = |m: &Mailbox| convert::mailbox_name(m);
        let result = match &body {
            C::Create {
                mailbox,
                special_use,
            } => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::Cannot), reply::BAD_NAME);
                };
                let special = match self.special_use_for_create(user, special_use).await {
                    Ok(special) => special,
                    Err(done) => return done,
                };
                store.create_mailbox(user, &n, special).await.map(|_| ())
            }
            C::Delete(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.delete_mailbox(user, &n).await
            }
            C::Rename { from, to } => {
                let (Some(f), Some(t)) = (name(from), name(to)) else {
                    return Done::no(Some(Code::Cannot), reply::BAD_NAME);
                };
                store.rename_mailbox(user, &f, &t).await
            }
            C::Subscribe(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.subscribe(user, &n).await
            }
            C::Unsubscribe(mailbox) => {
                let Some(n) = name(mailbox) else {
                    return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
                };
                store.unsubscribe(user, &n).await
            }
            _ => return Done::bad(reply::NOT_SUPPORTED),
        };
        match result {
            Ok(()) => Done::ok("completed"),
            Err(e) => Done::store_error(&e),
        }
    }

    /// CREATE's `USE (...)` (RFC 6154 3): one attribute the store knows, which no other
    /// mailbox of the user has (delivery finds Junk and Sent by it). Anything else is
    /// refused with USEATTR and nothing is created.
    async fn special_use_for_create(
        &self,
        user: UserId,
        uses: &[String],
    ) -> Result<Option<SpecialUse>, Done> {
        let refuse = |text: &'static str| Done::no(Some(Code::Other("USEATTR".into(), None)), text);
        let special = match uses {
            [] => return Ok(None),
            [one] => SpecialUse::parse(&format!("\\{one}")),
            _ => return Err(refuse("a mailbox has one special use here")),
        };
        let Some(special) = special else {
            return Err(refuse("that special use is not supported"));
        };
        match self.ctx.store.mailbox_by_special_use(user, special).await {
            Ok(None) => Ok(Some(special)),
            Ok(Some(_)) => Err(refuse("another mailbox has that special use")),
            Err(e) => Err(Done::store_error(&e)),
        }
    }

    async fn status(&mut self, user: UserId, mailbox: &Mailbox, items: &[StatusItem]) -> Done {
        let Some(name) = convert::mailbox_name(mailbox) else {
            return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
        };
        match self.send_status(user, &name, items).await {
            Ok(()) => Done::ok("STATUS completed"),
            Err(done) => done,
        }
    }

    /// `* STATUS` of one mailbox (STATUS, and LIST-STATUS for each listed mailbox).
    pub(super) async fn send_status(
        &mut self,
        user: UserId,
        name: &MailboxName,
        items: &[StatusItem],
    ) -> Result<(), Done> {
        let status = match self.ctx.store.mailbox_status(user, name).await {
            Ok(Some(status)) => status,
            Ok(None) => return Err(Done::no(Some(Code::NonExistent), reply::NO_MAILBOX)),
            Err(e) => return Err(Done::store_error(&e)),
        };
        self.note_status_items(items);
        let mut values = Vec::new();
        for &item in items {
            let value = match item {
                StatusItem::Messages => u64::from(status.messages),
                StatusItem::UidNext => u64::from(status.mailbox.uid_next),
                StatusItem::UidValidity => u64::from(status.mailbox.uid_validity.get()),
                StatusItem::Unseen => u64::from(status.unseen),
                StatusItem::Deleted => u64::from(status.deleted),
                StatusItem::Size => status.size,
                StatusItem::Recent => self.status_recent(&status).await?,
                StatusItem::HighestModSeq => status.mailbox.highest_modseq,
                StatusItem::AppendLimit => self.append_limit(),
                StatusItem::DeletedStorage => {
                    let messages = self.ctx.store.messages(status.mailbox.id).await;
                    let messages = messages.map_err(|e| Done::store_error(&e))?;
                    let deleted = messages.iter().filter(|m| m.flags.has(Flags::DELETED));
                    // RFC 9208 4.2: in the units of STORAGE, 1024 octets.
                    deleted.map(|m| m.size).sum::<u64>().div_ceil(1024)
                }
            };
            values.push((item, value));
        }
        self.send(&Response::MailboxStatus {
            mailbox: convert::wire_mailbox(name),
            items: values,
        });
        Ok(())
    }

    /// STATUS RECENT (RFC 3501 6.3.10): the messages no read-write session has claimed as
    /// `\Recent` yet (see `recent`); always 0 for IMAP4rev2, which has no such flag.
    async fn status_recent(&self, status: &MailboxStatus) -> Result<u64, Done> {
        if self.enabled.rev2 {
            return Ok(0);
        }
        let floor = self.ctx.imap_recent.floor(&status.mailbox);
        if floor <= 1 {
            return Ok(u64::from(status.messages));
        }
        let unclaimed = UidSet::range(floor, u32::MAX);
        let messages = self
            .ctx
            .store
            .messages_in(status.mailbox.id, &unclaimed)
            .await;
        messages
            .map(|m| m.len() as u64)
            .map_err(|e| Done::store_error(&e))
    }
}
