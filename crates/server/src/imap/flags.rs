//! STORE, COPY and MOVE with their UID forms (RFC 9051 6.4.6 to 6.4.8, UIDPLUS COPYUID,
//! RFC 6851 MOVE).

use super::{Done, Session, convert, reply};
use hermod_proto::imap::{Code, CommandBody, Mailbox, SequenceSet, Status, StoreMode};
use hermod_store::{CopyOutcome, FlagChange, FlagOp, MessageState, UidSet};
use tokio::io::{AsyncRead, AsyncWrite};

fn uid_list(uids: impl Iterator<Item = u32>) -> SequenceSet {
    let set: UidSet = uids.filter_map(hermod_types::Uid::new).collect();
    let ranges = set.ranges().iter();
    SequenceSet::Ranges(
        ranges
            .map(|&(a, b)| {
                use hermod_proto::imap::SeqNum::Value;
                (Value(a), Value(b))
            })
            .collect(),
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn store(&mut self, body: CommandBody) -> Done {
        let CommandBody::Store {
            uid,
            set,
            unchanged_since,
            mode,
            silent,
            flags,
        } = body
        else {
            return Done::bad(reply::NOT_SUPPORTED);
        };
        // RFC 7162 3.1: a conditional STORE is a CONDSTORE-enabling command.
        if unchanged_since.is_some() {
            self.condstore_on();
        }
        let flags = match convert::store_flags(&flags) {
            Ok(flags) => flags,
            Err(why) => return Done::bad(why),
        };
        let Some(view) = self.selected.as_ref() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let Some(positions) = view.resolve(uid, &set) else {
            return Done::bad(reply::BAD_SEQUENCE);
        };
        if positions.is_empty() {
            return Done::ok("STORE completed");
        }
        let op = match mode {
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
            StoreMode::Replace => FlagOp::Replace,
        };
        let change = FlagChange {
            op,
            flags,
            unchanged_since,
        };
        let uids = view.uid_set(&positions);
        let outcome = match self
            .ctx
            .store
            .store_flags(view.info.id, &uids, &change)
            .await
        {
            Ok(outcome) => outcome,
            Err(e) => return Done::store_error(&e),
        };
        // RFC 7162 3.1.3: with UNCHANGEDSINCE, the new MODSEQs are told even when silent.
        let silent = silent && unchanged_since.is_none();
        self.report_stored(outcome.updated, uid, silent);
        match self.modified_code(&outcome.modified, uid) {
            Some(code) => Done::ok_code(code, "conditional STORE failed for some messages"),
            None => Done::ok("STORE completed"),
        }
    }

    /// Records the flags STORE left and tells them (FETCH FLAGS, with the UID for UID
    /// STORE) unless the client asked for silence.
    fn report_stored(&mut self, updated: Vec<MessageState>, uid: bool, silent: bool) {
        let mut responses = Vec::new();
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        for state in updated {
            let Some(at) = view.position(state.uid) else {
                continue;
            };
            view.flags[at] = state.flags.clone();
            if !silent {
                responses.push((at as u32 + 1, state));
            }
        }
        for (seq, state) in responses {
            let response = self.flags_response(seq, &state, uid);
            self.send(&response);
        }
    }

    /// COPY or MOVE to `target`; TRYCREATE when it does not exist.
    pub(super) async fn copy(
        &mut self,
        uid: bool,
        set: SequenceSet,
        target: Mailbox,
        moving: bool,
    ) -> Done {
        let Some(user) = self.user.as_ref().map(|u| u.id) else {
            return Done::bad(reply::WRONG_STATE);
        };
        let Some(view) = self.selected.as_ref() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if moving && view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let Some(positions) = view.resolve(uid, &set) else {
            return Done::bad(reply::BAD_SEQUENCE);
        };
        let (from, uids) = (view.info.id, view.uid_set(&positions));
        let store = self.ctx.store.clone();
        let to = match convert::mailbox_name(&target) {
            Some(name) => store.mailbox(user, &name).await,
            None => Ok(None),
        };
        let to = match to {
            Ok(Some(info)) => info,
            Ok(None) => return Done::no(Some(Code::TryCreate), reply::NO_MAILBOX),
            Err(e) => return Done::store_error(&e),
        };
        if uids.is_empty() {
            return Done::ok("nothing to copy");
        }
        // Into or out of Junk: read which bodies before a move takes them from here.
        let lesson = super::learn::lesson(view.info.special_use, to.special_use);
        let blobs = match lesson {
            Some(_) => match store.messages_in(from, &uids).await {
                Ok(metas) => metas.into_iter().map(|m| m.blob).collect(),
                Err(e) => return Done::store_error(&e),
            },
            None => Vec::new(),
        };
        let outcome = if moving {
            store.move_messages(from, &uids, to.id).await
        } else {
            store.copy_messages(from, &uids, to.id).await
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => return Done::store_error(&e),
        };
        if let Some(class) = lesson {
            super::learn::learn_later(self.ctx.clone(), user, blobs, class);
        }
        let code = copy_uid(&outcome);
        if !moving {
            return match code {
                Some(code) => Done::ok_code(code, "COPY completed"),
                None => Done::ok("COPY completed"),
            };
        }
        // RFC 6851 4.3: COPYUID comes untagged, before the EXPUNGEs.
        if let Some(code) = code {
            self.send(&reply::untagged(Status::Ok, Some(code), "moved"));
        }
        let moved: Vec<_> = outcome.mapping.iter().map(|&(from, _)| from).collect();
        self.report_expunged(&moved);
        Done::ok("MOVE completed")
    }
}

fn copy_uid(outcome: &CopyOutcome) -> Option<Code> {
    if outcome.mapping.is_empty() {
        return None;
    }
    // Listed pair by pair in source order: the two sets must correspond one to one, so
    // each is written as given rather than re-sorted.
    let seq = |uids: Vec<u32>| {
        SequenceSet::Ranges(
            uids.into_iter()
                .map(|u| {
                    use hermod_proto::imap::SeqNum::Value;
                    (Value(u), Value(u))
                })
                .collect(),
        )
    };
    let (source, dest): (Vec<u32>, Vec<u32>) = outcome
        .mapping
        .iter()
        .map(|(a, b)| (a.get(), b.get()))
        .unzip();
    let ascending = dest.windows(2).all(|w| w[0] < w[1]);
    let (source, dest) = if ascending {
        (uid_list(source.into_iter()), uid_list(dest.into_iter()))
    } else {
        (seq(source), seq(dest))
    };
    Some(Code::CopyUid {
        uidvalidity: outcome.uid_validity.get(),
        source,
        dest,
    })
}
