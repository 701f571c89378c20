//! The authenticated state's script commands (RFC 5804 2.5 to 2.12), on the store's
//! `Scripts` role with the checks `hermod sieve` applies too.

use super::Session;
use hermod_core::sieve::{PutError, put_script, valid_name};
use hermod_proto::managesieve::{Code, Command, Status, render_listing, render_script};
use hermod_store::{Scripts, StoreError, UserRecord};
use tokio::io::{AsyncRead, AsyncWrite};

const BAD_NAME: &str = "invalid script name: 1 to 128 characters, no control characters";

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn script_command(&mut self, user: &UserRecord, command: Command) {
        match command {
            Command::HaveSpace { name, size } => self.have_space(user, &name, size).await,
            Command::PutScript { name, script } => self.put(user, &name, &script).await,
            Command::ListScripts => self.list(user).await,
            Command::SetActive { name } => self.set_active(user, &name).await,
            Command::GetScript { name } => self.get(user, &name).await,
            Command::DeleteScript { name } => {
                let done = self.scripts().sieve_delete(user.id, &name).await;
                self.done(user, "deleted", &name, done);
            }
            Command::RenameScript { old, new } => {
                if !valid_name(&new) {
                    return self.no(None, BAD_NAME);
                }
                let done = self.scripts().sieve_rename(user.id, &old, &new).await;
                self.done(user, "renamed", &old, done);
            }
            Command::CheckScript { script } => self.check(&script),
            // The session's own commands never get here.
            _ => self.no(None, "unexpected command"),
        }
    }

    fn scripts(&self) -> &dyn Scripts {
        self.ctx.store.as_ref()
    }

    fn max_size(&self) -> usize {
        self.ctx.sieve.limits().max_script_size
    }

    fn too_big(&mut self) {
        let text = format!("scripts may be at most {} bytes", self.max_size());
        self.no(Some(Code::QuotaMaxSize), &text);
    }

    fn too_many(&mut self) {
        let max = self.ctx.sieve.limits().max_scripts;
        let text = format!("at most {max} scripts: delete one first");
        self.no(Some(Code::QuotaMaxScripts), &text);
    }

    /// The outcome of a change: `OK`, or the store's refusal with its response code.
    fn done(&mut self, user: &UserRecord, what: &str, name: &str, result: Result<(), StoreError>) {
        match result {
            Ok(()) => {
                tracing::info!(peer = %self.peer, user = user.address, script = name, "ManageSieve: script {what}");
                self.respond(Status::Ok, None, "");
            }
            Err(e) => self.store_error(e),
        }
    }

    fn store_error(&mut self, error: StoreError) {
        let (code, text) = match error {
            StoreError::UnknownScript(_) => (Code::NonExistent, "there is no script of that name"),
            StoreError::ScriptExists(_) => (Code::AlreadyExists, "a script of that name exists"),
            StoreError::ScriptActive(_) => (
                Code::Active,
                "the active script cannot be deleted: activate another one (or none) first",
            ),
            other => {
                tracing::error!(peer = %self.peer, error = %other, "ManageSieve: the store failed");
                (Code::TryLater, "temporary failure, try again later")
            }
        };
        self.no(Some(code), text);
    }

    /// RFC 5804 2.5: would PUTSCRIPT of this name and size fit?
    async fn have_space(&mut self, user: &UserRecord, name: &str, size: u64) {
        if !valid_name(name) {
            return self.no(None, BAD_NAME);
        }
        if size > self.max_size() as u64 {
            return self.too_big();
        }
        match self.scripts().sieve_list(user.id).await {
            // Replacing a script does not add one.
            Ok(list)
                if list.len() >= self.ctx.sieve.limits().max_scripts
                    && !list.iter().any(|s| s.name == name) =>
            {
                self.too_many()
            }
            Ok(_) => self.respond(Status::Ok, None, ""),
            Err(e) => self.store_error(e),
        }
    }

    async fn put(&mut self, user: &UserRecord, name: &str, script: &[u8]) {
        let ctx = self.ctx.clone();
        let stored = put_script(
            ctx.store.as_ref(),
            &ctx.sieve,
            user.id,
            &user.address,
            name,
            script,
        )
        .await;
        match stored {
            Ok(()) => self.done(user, "stored", name, Ok(())),
            Err(PutError::BadName(_)) => self.no(None, BAD_NAME),
            Err(PutError::TooBig { .. }) => self.too_big(),
            Err(PutError::TooMany { .. }) => self.too_many(),
            Err(PutError::Invalid(e)) => self.no(None, &e.message),
            Err(PutError::Store(e)) => self.store_error(e),
        }
    }

    async fn list(&mut self, user: &UserRecord) {
        match self.scripts().sieve_list(user.id).await {
            Ok(list) => {
                let out = self.conn.output();
                for script in list {
                    render_listing(&script.name, script.active, out);
                }
                self.respond(Status::Ok, None, "");
            }
            Err(e) => self.store_error(e),
        }
    }

    /// RFC 5804 2.8: `""` deactivates.
    async fn set_active(&mut self, user: &UserRecord, name: &str) {
        let name = Some(name).filter(|n| !n.is_empty());
        let done = self.scripts().sieve_activate(user.id, name).await;
        self.done(user, "activated", name.unwrap_or("(none)"), done);
    }

    async fn get(&mut self, user: &UserRecord, name: &str) {
        match self.scripts().sieve_get(user.id, name).await {
            Ok(Some(text)) => {
                render_script(&text, self.conn.output());
                self.respond(Status::Ok, None, "");
            }
            Ok(None) => self.store_error(StoreError::UnknownScript(name.to_owned())),
            Err(e) => self.store_error(e),
        }
    }

    /// RFC 5804 2.12: compiled and checked like PUTSCRIPT's, never stored.
    fn check(&mut self, script: &[u8]) {
        if script.len() > self.max_size() {
            return self.too_big();
        }
        match self.ctx.sieve.check(script) {
            Ok(()) => self.respond(Status::Ok, None, ""),
            Err(e) => self.no(None, &e.message),
        }
    }
}
