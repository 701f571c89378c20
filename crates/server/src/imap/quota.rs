//! QUOTA (RFC 9208) over hermod's per-user quota: one quota root, `""`, covering every
//! mailbox of the account, with the STORAGE resource in units of 1024 octets. Quotas are
//! the administrator's (`hermod user add --quota`): SETQUOTA is refused.

use super::{Done, Session, convert, reply};
use hermod_proto::imap::{Code, Mailbox, QuotaResource, Response};
use hermod_store::UserRecord;
use tokio::io::{AsyncRead, AsyncWrite};

/// The name of the one quota root.
const ROOT: &str = "";

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// The account as it is now (usage changes with every delivery and expunge).
    async fn account(&self) -> Result<UserRecord, Done> {
        let Some(user) = self.user.as_ref() else {
            return Err(Done::bad(reply::WRONG_STATE));
        };
        let address = hermod_types::Address::parse(&user.address)
            .map_err(|_| Done::no(Some(Code::ServerBug), reply::TRY_LATER))?;
        match self.ctx.store.user(&address).await {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(Done::no(Some(Code::NonExistent), "no such account")),
            Err(e) => Err(Done::store_error(&e)),
        }
    }

    pub(super) async fn get_quota(&mut self, root: &str) -> Done {
        let account = match self.account().await {
            Ok(account) => account,
            Err(done) => return done,
        };
        match (root == ROOT, storage(&account)) {
            (true, Some(resource)) => {
                self.send(&quota(resource));
                Done::ok("GETQUOTA completed")
            }
            _ => Done::no(Some(Code::NonExistent), "no such quota root"),
        }
    }

    pub(super) async fn get_quota_root(&mut self, mailbox: &Mailbox) -> Done {
        let account = match self.account().await {
            Ok(account) => account,
            Err(done) => return done,
        };
        let exists = match convert::mailbox_name(mailbox) {
            Some(name) => self.ctx.store.mailbox(account.id, &name).await,
            None => Ok(None),
        };
        match exists {
            Ok(Some(_)) => {}
            Ok(None) => return Done::no(Some(Code::NonExistent), reply::NO_MAILBOX),
            Err(e) => return Done::store_error(&e),
        }
        let resource = storage(&account);
        // An account without a quota has no quota root (RFC 9208 4.3).
        let roots = resource.iter().map(|_| ROOT.to_owned()).collect();
        self.send(&Response::QuotaRoot {
            mailbox: mailbox.clone(),
            roots,
        });
        if let Some(resource) = resource {
            self.send(&quota(resource));
        }
        Done::ok("GETQUOTAROOT completed")
    }
}

/// STORAGE in KiB: usage rounded up, the limit down, so a full mailbox looks full.
fn storage(account: &UserRecord) -> Option<QuotaResource> {
    let limit = account.quota?;
    Some(QuotaResource {
        name: "STORAGE".into(),
        usage: account.used.div_ceil(1024),
        limit: limit / 1024,
    })
}

fn quota(resource: QuotaResource) -> Response {
    Response::Quota {
        root: ROOT.into(),
        resources: vec![resource],
    }
}
