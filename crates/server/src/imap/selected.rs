//! SELECT/EXAMINE, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, and keeping the selected
//! mailbox's view in step with what others do (RFC 9051 5.2, 7.4).

use super::{Done, Session, View, convert, recent, reply};
use hermod_proto::imap::{
    Code, Flag, ListItem, Mailbox, Response, SelectParams, SequenceSet, Status,
};
use hermod_store::{Flags, MessageState, StoreError};
use hermod_types::Uid;
use tokio::io::{AsyncRead, AsyncWrite};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn select(
        &mut self,
        mailbox: Mailbox,
        params: SelectParams,
        read_only: bool,
    ) -> Done {
        // RFC 7162 3.2.5: QRESYNC parameters only after ENABLE QRESYNC.
        if params.qresync.is_some() && !self.qresync {
            return Done::bad(reply::QRESYNC_NOT_ENABLED);
        }
        self.condstore |= params.condstore;
        // Selecting deselects first, whatever happens next (RFC 9051 6.3.2).
        if self.selected.take().is_some() {
            self.send(&reply::untagged(
                Status::Ok,
                Some(Code::Closed),
                "previous mailbox closed",
            ));
        }
        let Some(user) = self.user.as_ref().map(|u| u.id) else {
            return Done::bad(reply::WRONG_STATE);
        };
        let Some(name) = convert::mailbox_name(&mailbox) else {
            return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX);
        };
        // Taken before anything is read: a change committed from here on marks the view
        // for a look, so none falls between the reads and the view.
        self.changed.take();
        let store = self.ctx.store.clone();
        let info = match store.mailbox(user, &name).await {
            Ok(Some(info)) => info,
            Ok(None) => return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX),
            Err(e) => return Done::store_error(&e),
        };
        let messages = match store.messages(info.id).await {
            Ok(messages) => messages,
            Err(e) => return Done::store_error(&e),
        };
        let mut view = View::new(info, messages, read_only);
        if !self.enabled.rev2 {
            let floors = &self.ctx.imap_recent;
            view.recent = recent::gained(floors, &view.info, &view.uids, read_only);
        }
        self.announce(&mut view);
        self.selected = Some(Box::new(view));
        if let Some(q) = &params.qresync
            && let Err(e) = self.resync(q).await
        {
            self.selected = None;
            return Done::store_error(&e);
        }
        if read_only {
            Done::ok_code(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::ok_code(Code::ReadWrite, "SELECT completed")
        }
    }

    /// The untagged responses of SELECT (RFC 9051 6.3.2, with RFC 3501 6.3.1's RECENT and
    /// UNSEEN for rev1).
    fn announce(&mut self, view: &mut View) {
        for at in 0..view.flags.len() {
            let flags = std::mem::take(&mut view.flags[at]);
            view.learn_keywords(&flags);
            view.flags[at] = flags;
        }
        self.send(&Response::Flags(defined_flags(&view.keywords)));
        self.send(&Response::Exists(view.exists()));
        // RFC 9051 appendix E 12: IMAP4rev2 has no RECENT and no UNSEEN code.
        if !self.enabled.rev2 {
            self.send(&Response::Recent(view.recent_count()));
            let unseen = view.flags.iter().position(|f| !f.has(Flags::SEEN));
            if let Some(at) = unseen {
                let code = Code::Unseen(at as u32 + 1);
                self.send(&reply::untagged(Status::Ok, Some(code), "first unseen"));
            }
        }
        let info = &view.info;
        let special = info.special_use.map(|u| u.as_str().to_owned());
        self.send(&Response::List(ListItem {
            attributes: special.into_iter().collect(),
            delimiter: Some('/'),
            mailbox: convert::wire_mailbox(&info.name),
            childinfo: Vec::new(),
            oldname: None,
        }));
        let permanent = if view.read_only {
            Vec::new()
        } else {
            convert::system_flags()
        };
        let codes = [
            Code::PermanentFlags(permanent, !view.read_only),
            Code::UidValidity(info.uid_validity.get()),
            Code::UidNext(info.uid_next),
            // Every mailbox keeps MODSEQs (RFC 7162 3.1.2.1): always told, never NOMODSEQ.
            Code::HighestModSeq(info.highest_modseq),
        ];
        for code in codes {
            self.send(&reply::untagged(Status::Ok, Some(code), "ok"));
        }
    }

    /// CLOSE (`expunge`: removes `\Deleted` messages silently, unless read-only) and
    /// UNSELECT.
    pub(super) async fn close(&mut self, expunge: bool) -> Done {
        let Some(view) = self.selected.take() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if expunge
            && !view.read_only
            && let Err(e) = self.ctx.store.expunge_deleted(view.info.id, None).await
        {
            return Done::store_error(&e);
        }
        Done::ok("mailbox closed")
    }

    /// EXPUNGE and UID EXPUNGE (RFC 4315 2.1). Once CONDSTORE is on, the tagged OK says
    /// the mailbox's HIGHESTMODSEQ after the expunge (RFC 7162 3.2.10): the changes up to
    /// it are told before the tagged response (`finish` brings the view up to date first).
    pub(super) async fn expunge(&mut self, uids: Option<SequenceSet>) -> Done {
        let Some(view) = self.selected.as_ref() else {
            return Done::bad(reply::WRONG_STATE);
        };
        if view.read_only {
            return Done::no(Some(Code::ReadOnly), reply::READ_ONLY);
        }
        let completed = |condstore: bool, modseq: u64| match condstore {
            true => Done::ok_code(Code::HighestModSeq(modseq), "EXPUNGE completed"),
            false => Done::ok("EXPUNGE completed"),
        };
        // `$` (SEARCHRES) resolves like any UID set.
        let only = uids.map(|set| view.uid_set(&view.resolve(true, &set).unwrap_or_default()));
        if only.as_ref().is_some_and(|s| s.is_empty()) {
            return completed(self.condstore, view.modseq);
        }
        let id = view.info.id;
        match self.ctx.store.expunge_deleted(id, only.as_ref()).await {
            Ok(expunged) => {
                self.report_expunged(&expunged.uids);
                completed(self.condstore, expunged.highest_modseq)
            }
            Err(e) => Done::store_error(&e),
        }
    }

    /// Sends EXPUNGE for the UIDs the view still holds, from the highest sequence number
    /// down so each number is right when the client reads it.
    pub(super) fn report_expunged(&mut self, uids: &[hermod_types::Uid]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        let mut gone: Vec<_> = uids.iter().filter_map(|&u| view.position(u)).collect();
        gone.sort_unstable();
        let mut responses = Vec::new();
        let mut vanished = hermod_store::UidSet::new();
        for &at in gone.iter().rev() {
            let uid = view.uids[at];
            if let Some(seq) = view.remove(uid) {
                vanished.insert(uid);
                responses.push(Response::Expunge(seq));
            }
        }
        // RFC 7162 3.2.10: a QRESYNC client is told UIDs, in one response.
        if self.qresync && !vanished.is_empty() {
            responses = vec![Response::Vanished {
                earlier: false,
                uids: super::condstore::wire_uids(&vanished),
            }];
        }
        responses.iter().for_each(|r| self.send(r));
    }

    /// Tells the client what others changed in the selected mailbox since it was last told:
    /// expunges (when `expunges`), new messages, flag changes.
    pub(super) async fn after_command(&mut self, expunges: bool) {
        if self.selected.is_none() || !self.changed.take() {
            return;
        }
        if let Err(e) = self.sync(expunges).await {
            tracing::warn!(peer = %self.peer, error = %e, "IMAP: cannot look for changes");
            // Look again next time.
            self.changed
                .dirty
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }

    async fn sync(&mut self, expunges: bool) -> Result<(), StoreError> {
        let Some(view) = self.selected.as_ref() else {
            return Ok(());
        };
        let changes = self
            .ctx
            .store
            .changes_since(view.info.id, view.modseq, None)
            .await?;
        let gone: Vec<_> = view
            .uids
            .iter()
            .copied()
            .filter(|&u| changes.vanished.contains(u))
            .collect();
        if expunges {
            self.report_expunged(&gone);
        } else if !gone.is_empty() {
            // Told later, when EXPUNGE responses are allowed: look at these changes again.
            self.changed
                .dirty
                .store(true, std::sync::atomic::Ordering::Release);
        }
        self.report_changed(&changes.changed);
        if let Some(view) = self.selected.as_mut()
            && (expunges || gone.is_empty())
        {
            view.modseq = changes.highest_modseq;
            // Expunges move HIGHESTMODSEQ without a FETCH MODSEQ to learn it from: a
            // CONDSTORE client is told, so its next resync starts after them.
            if self.condstore && !changes.vanished.is_empty() {
                self.announce_highest_modseq(changes.highest_modseq);
            }
        }
        Ok(())
    }

    /// New messages (EXISTS) and flag changes (FETCH FLAGS) from `changed`.
    fn report_changed(&mut self, changed: &[MessageState]) {
        let Some(view) = self.selected.as_mut() else {
            return;
        };
        let before = view.exists();
        let mut fetches = Vec::new();
        for state in changed {
            match view.position(state.uid) {
                Some(at) if !same_flags(&view.flags[at], &state.flags) => {
                    view.flags[at] = state.flags.clone();
                    fetches.push((at as u32 + 1, state));
                }
                Some(_) => {}
                None if state.uid.get() > view.last_uid() => {
                    view.uids.push(state.uid);
                    view.flags.push(state.flags.clone());
                }
                None => {}
            }
        }
        if view.exists() != before {
            let exists = view.exists();
            let mut recent = None;
            if !self.enabled.rev2 {
                let new = &view.uids[before as usize..];
                let floors = &self.ctx.imap_recent;
                let gained = recent::gained(floors, &view.info, new, view.read_only);
                gained.iter().for_each(|u| view.recent.insert(u));
                recent = Some(view.recent_count());
            }
            self.send(&Response::Exists(exists));
            // RFC 3501 7.3.2: RECENT comes with a change of the mailbox's size.
            if let Some(count) = recent {
                self.send(&Response::Recent(count));
            }
        }
        for (seq, state) in fetches {
            let response = self.flags_response(seq, state, true);
            self.send(&response);
        }
    }

    /// A message's flags as this session shows them: with `\Recent` where it is (rev1), and
    /// after a FLAGS response when they hold a keyword the client was not told of.
    pub(super) fn shown_flags(&mut self, uid: Uid, flags: &Flags) -> Vec<Flag> {
        let mut shown = convert::wire_flags(flags);
        let Some(view) = self.selected.as_mut() else {
            return shown;
        };
        if view.recent.contains(uid) {
            shown.push(Flag::Extension("Recent".into()));
        }
        if view.learn_keywords(flags) {
            let defined = defined_flags(&view.keywords);
            self.send(&Response::Flags(defined));
        }
        shown
    }
}

/// FLAGS: the system flags and the keywords in use.
fn defined_flags(keywords: &[String]) -> Vec<Flag> {
    let mut flags = convert::system_flags();
    flags.extend(keywords.iter().cloned().map(Flag::Keyword));
    flags
}

fn same_flags(a: &Flags, b: &Flags) -> bool {
    let covers = |x: &Flags, y: &Flags| {
        x.keywords
            .iter()
            .all(|k| y.keywords.iter().any(|o| o.eq_ignore_ascii_case(k)))
    };
    a.bits == b.bits && covers(a, b) && covers(b, a)
}
