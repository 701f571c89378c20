//! Commands by mail (RFC 2369 addresses): subscribe and unsubscribe with a confirmation
//! (double opt-in), help, confirmations, and the bounces of members' copies.

use super::post::author_of;
use super::text::{self, command_address};
use super::{ListArrival, ListDeps, ListEngine, ListOutcome, send};
use hermod_message::{field_value, header_section};
use hermod_store::{ListRecord, MemberState, Result, TokenAction};
use hermod_types::Address;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Subscribe,
    Unsubscribe,
    Help,
    Confirm(String),
}

/// The command in the subject (after any `Re:`), else in the first non-empty body line.
/// A confirmation token anywhere in the subject counts: a reply keeps it there.
pub(crate) fn parse_command(message: &[u8]) -> Option<Command> {
    let head = header_section(message);
    let subject = field_value(head, "Subject").unwrap_or_default();
    if let Some(token) = subject.split_whitespace().find(|w| is_token(w)) {
        return Some(Command::Confirm(token.to_ascii_lowercase()));
    }
    let body = String::from_utf8_lossy(&message[head.len()..]);
    let first_line = body.lines().map(str::trim).find(|l| !l.is_empty());
    [subject.as_str(), first_line.unwrap_or("")]
        .iter()
        .find_map(|text| command_word(text))
}

fn command_word(text: &str) -> Option<Command> {
    let mut words = text
        .split_whitespace()
        .skip_while(|w| w.ends_with(':') && w.len() <= 4);
    match words.next()?.to_ascii_lowercase().as_str() {
        "subscribe" | "join" => Some(Command::Subscribe),
        "unsubscribe" | "leave" | "remove" => Some(Command::Unsubscribe),
        "help" => Some(Command::Help),
        "confirm" => words
            .next()
            .filter(|w| is_token(w))
            .map(|w| Command::Confirm(w.to_ascii_lowercase())),
        _ => None,
    }
}

fn is_token(word: &str) -> bool {
    word.len() == 32 && word.bytes().all(|b| b.is_ascii_hexdigit())
}

impl ListEngine {
    pub(super) async fn request(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        let command = parse_command(arrival.message).unwrap_or(Command::Help);
        self.command(deps, list, arrival, command).await
    }

    pub(super) async fn command(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        arrival: &ListArrival<'_>,
        command: Command,
    ) -> Result<ListOutcome> {
        let Some(who) = requester(arrival) else {
            // Commands answer their sender: never a bounce or an automatic message.
            return Ok(ListOutcome::Dropped("automatic message or null sender"));
        };
        if arrival.junk {
            // Spam's senders are forged: answering would send mail to bystanders.
            return Ok(ListOutcome::Dropped("scored as spam"));
        }
        match command {
            Command::Subscribe => self.ask(deps, list, &who, TokenAction::Subscribe).await,
            Command::Unsubscribe => self.unsubscribe(deps, list, &who, arrival).await,
            Command::Confirm(token) => self.confirm(deps, list, &token, arrival).await,
            Command::Help => {
                let subject = format!("Help for {}", list.address);
                let body = text::help(list);
                let notice = text::notice(&self.hostname, list, &who, &subject, &[], &body);
                send(deps, &who, notice).await?;
                Ok(ListOutcome::Handled)
            }
        }
    }

    async fn unsubscribe(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        who: &str,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        let store = deps.store;
        if store.list_member(list.id, who).await?.is_none() {
            // Say nothing: a stranger learns nothing of who is a member.
            tracing::info!(list = list.address, who, "unsubscribe from a non-member");
            return Ok(ListOutcome::Handled);
        }
        let own_account = arrival
            .authenticated
            .and_then(|a| Address::parse(a).ok())
            .is_some_and(|a| a.normalized() == who);
        if !own_account {
            return self.ask(deps, list, who, TokenAction::Unsubscribe).await;
        }
        store.list_remove_member(list.id, who).await?;
        tracing::info!(list = list.address, who, "unsubscribed (own account)");
        self.tell(
            deps,
            list,
            who,
            "You have left",
            &format!("You are no longer a member of {}.\n", list.address),
        )
        .await?;
        Ok(ListOutcome::Handled)
    }

    /// Sends `who` a confirmation with a fresh token; a subscriber is pending meanwhile.
    async fn ask(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        who: &str,
        action: TokenAction,
    ) -> Result<ListOutcome> {
        let store = deps.store;
        if action == TokenAction::Subscribe {
            let current = store.list_member(list.id, who).await?;
            if current.is_some_and(|m| m.state == MemberState::Active) {
                let body = format!("{who} is already a member of {}.\n", list.address);
                self.tell(deps, list, who, "Already a member", &body)
                    .await?;
                return Ok(ListOutcome::Handled);
            }
            store
                .list_set_member(list.id, who, MemberState::Pending)
                .await?;
        }
        let expires = hermod_message::unix_now() + self.confirm_expiry;
        let token = store.list_new_token(list.id, who, action, expires).await?;
        let reply_to = command_address(list, &format!("confirm-{token}"));
        // Only subscriptions and unsubscriptions are asked for this way.
        let (verb, what) = if action == TokenAction::Subscribe {
            ("join", "subscribe")
        } else {
            ("leave", "unsubscribe")
        };
        let body = format!(
            "Someone, hopefully you, asked to {what} {who} {to} {list}.\n\n\
             To {verb}, reply to this message (it goes to {reply_to}),\n\
             or send a message with the subject \"confirm {token}\" to {request}.\n\n\
             If you did not ask, ignore this message: nothing happens.\n",
            to = if action == TokenAction::Subscribe {
                "to"
            } else {
                "from"
            },
            list = list.address,
            request = text::request_address(list),
        );
        let subject = format!("confirm {token}");
        let extra = [("Reply-To", format!("<{reply_to}>"))];
        let notice = text::notice(&self.hostname, list, who, &subject, &extra, &body);
        send(deps, who, notice).await?;
        tracing::info!(list = list.address, who, what, "confirmation sent");
        Ok(ListOutcome::Handled)
    }

    /// A reply to a confirmation: the token, not who sends it, says whom it is about.
    pub(super) async fn confirm(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        token: &str,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        let store = deps.store;
        if requester(arrival).is_none() {
            return Ok(ListOutcome::Dropped("automatic message or null sender"));
        }
        let now = hermod_message::unix_now();
        let confirmed = store
            .list_take_token(&token.to_ascii_lowercase(), now)
            .await?;
        let Some(confirmed) = confirmed.filter(|c| c.list == list.id) else {
            tracing::info!(list = list.address, "unknown or expired confirmation");
            return Ok(ListOutcome::Dropped("unknown or expired token"));
        };
        let who = confirmed.address;
        match confirmed.action {
            TokenAction::Subscribe => {
                store
                    .list_set_member(list.id, &who, MemberState::Active)
                    .await?;
                let body = format!("Welcome to {}.\n\n{}", list.address, text::help(list));
                self.tell(deps, list, &who, "Welcome", &body).await?;
            }
            TokenAction::Unsubscribe => {
                store.list_remove_member(list.id, &who).await?;
                let body = format!("You are no longer a member of {}.\n", list.address);
                self.tell(deps, list, &who, "You have left", &body).await?;
            }
            // A moderator's answer to a held-post notice (the token names the post).
            TokenAction::Approve | TokenAction::Reject => {
                let Ok(id) = who.parse::<i64>() else {
                    return Ok(ListOutcome::Dropped("bad moderation token"));
                };
                if confirmed.action == TokenAction::Approve {
                    self.approve(deps, list, id).await?;
                } else {
                    self.reject(deps, list, id, None).await?;
                }
            }
        }
        tracing::info!(list = list.address, who, action = ?confirmed.action, "confirmed");
        Ok(ListOutcome::Handled)
    }

    async fn tell(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        to: &str,
        subject: &str,
        body: &str,
    ) -> Result<()> {
        let subject = format!("{}: {subject}", list.address);
        let notice = text::notice(&self.hostname, list, to, &subject, &[], body);
        send(deps, to, notice).await?;
        Ok(())
    }

    /// A report that a member's copy failed, arriving at its VERP address. Delay reports
    /// and anything that is not a failure report count nothing.
    pub(super) async fn bounce(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        member: &str,
        arrival: &ListArrival<'_>,
    ) -> Result<ListOutcome> {
        if member.is_empty() || !is_failure_report(arrival.message) {
            return Ok(ListOutcome::Dropped("not a failure report"));
        }
        self.count_bounce(deps, list, member).await?;
        Ok(ListOutcome::Handled)
    }

    /// Counts one bounce of `member`; when that suspends it, the owner is told.
    pub async fn count_bounce(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        member: &str,
    ) -> Result<()> {
        let store = deps.store;
        let after = store
            .list_bounce(list.id, member, self.suspend_after)
            .await?;
        let Some(after) = after else {
            return Ok(());
        };
        tracing::info!(
            list = list.address,
            member,
            bounces = after.bounces,
            "member bounced"
        );
        if after.state == MemberState::Suspended && after.bounces == self.suspend_after.max(1) {
            let owner = list.settings.owner.clone();
            let body = format!(
                "{member} bounced {n} posts to {list} and is suspended: it gets no posts \
                 until you add it again (hermod list add {list} {member})\n\
                 or remove it (hermod list remove {list} {member}).\n",
                n = after.bounces,
                list = list.address,
            );
            self.tell(deps, list, &owner, &format!("{member} suspended"), &body)
                .await?;
        }
        Ok(())
    }
}

/// The address a command is about (the author, else the envelope sender), unless the
/// message is automatic or from the null sender.
fn requester(arrival: &ListArrival<'_>) -> Option<String> {
    let sender = arrival.sender?;
    let head = header_section(arrival.message);
    let auto =
        field_value(head, "Auto-Submitted").is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
    if auto {
        return None;
    }
    author_of(head)
        .map(|(a, _)| a)
        .or_else(|| Address::parse(sender).ok().map(|a| a.normalized()))
}

/// An RFC 3464 report with at least one failed recipient. Other mail to the address (an
/// out-of-office reply, a non-standard bounce) counts nothing: a member is never suspended
/// on a guess.
fn is_failure_report(message: &[u8]) -> bool {
    let head = header_section(message);
    let report = field_value(head, "Content-Type").is_some_and(|v| {
        let v = v.to_ascii_lowercase();
        v.contains("multipart/report") && v.contains("delivery-status")
    });
    let text = String::from_utf8_lossy(message).to_ascii_lowercase();
    report && text.lines().any(|l| l.trim() == "action: failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_from_subject_or_body() {
        let parse = |m: &str| parse_command(m.as_bytes());
        assert_eq!(
            parse("Subject: subscribe\r\n\r\n"),
            Some(Command::Subscribe)
        );
        assert_eq!(
            parse("Subject: \r\n\r\n\r\n  Unsubscribe me\r\n"),
            Some(Command::Unsubscribe)
        );
        let token = "0123456789abcdef0123456789ABCDEF";
        let reply = format!("Subject: Re: confirm {token}\r\n\r\nok\r\n");
        assert_eq!(
            parse(&reply),
            Some(Command::Confirm(token.to_ascii_lowercase()))
        );
        assert_eq!(parse("Subject: hello\r\n\r\nwhat\r\n"), None);
        assert_eq!(parse("Subject: Re: help\r\n\r\n"), Some(Command::Help));
    }

    #[test]
    fn only_failures_count_as_bounces() {
        let dsn = b"Content-Type: multipart/report; report-type=delivery-status;\r\n boundary=x\r\n\r\n--x\r\n\r\nAction: failed\r\n--x--\r\n";
        assert!(is_failure_report(dsn));
        let delay = b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\nAction: delayed\r\n";
        assert!(!is_failure_report(delay));
        assert!(!is_failure_report(
            b"Subject: out of office\r\n\r\nAction: failed\r\n"
        ));
    }
}
