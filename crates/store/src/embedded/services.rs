//! The roles beside mail and the queue on the embedded backend: spam data, Sieve scripts,
//! mailing lists and the web interface's accounts, each a blocking [`SqliteStore`] call on
//! tokio's blocking threads.

use super::EmbeddedStore;
use crate::AppPassword;
use crate::roles::{Accounts, Lists, Scripts, SpamData};
use crate::{
    BayesCounts, BlockingStore, BulkCount, BulkSighting, Confirmed, GreylistState, LearnedMessage,
    ListMember, ListPost, ListRecord, ListSettings, MemberState, Result, SieveScriptInfo,
    TokenAction, UserId,
};
use async_trait::async_trait;
use hermod_types::Address;

#[async_trait]
impl SpamData for EmbeddedStore {
    async fn bayes_load(&self, owner: Option<UserId>) -> Result<BayesCounts> {
        self.run(move |s| s.bayes_load(owner)).await
    }

    async fn bayes_learn(
        &self,
        owner: Option<UserId>,
        update: &BayesCounts,
        seen: &[LearnedMessage],
    ) -> Result<()> {
        let (update, seen) = (update.clone(), seen.to_vec());
        self.run(move |s| s.bayes_learn(owner, &update, &seen))
            .await
    }

    async fn bayes_seen(
        &self,
        owner: Option<UserId>,
        digests: &[Vec<u8>],
    ) -> Result<Vec<Option<bool>>> {
        let digests = digests.to_vec();
        self.run(move |s| s.bayes_seen(owner, &digests)).await
    }

    async fn bayes_generation(&self) -> Result<i64> {
        self.run(|s| s.bayes_generation()).await
    }

    async fn bayes_calibration(&self) -> Result<Option<String>> {
        self.run(|s| s.bayes_calibration()).await
    }

    async fn bayes_set_calibration(&self, params: &str) -> Result<()> {
        let params = params.to_owned();
        self.run(move |s| s.bayes_set_calibration(&params)).await
    }

    async fn greylist(&self, key: &str, now: i64, delay: i64) -> Result<GreylistState> {
        let key = key.to_owned();
        self.run(move |s| s.greylist(&key, now, delay)).await
    }

    async fn bulk_observe(&self, sighting: &BulkSighting) -> Result<BulkCount> {
        let sighting = sighting.clone();
        self.run(move |s| s.bulk_observe(&sighting)).await
    }

    async fn correspondents_note(
        &self,
        user: UserId,
        addresses: &[String],
        now: i64,
    ) -> Result<()> {
        let addresses = addresses.to_vec();
        self.run(move |s| s.correspondents_note(user, &addresses, now))
            .await
    }

    async fn correspondents_of(&self, address: &str, users: &[UserId]) -> Result<Vec<UserId>> {
        let (address, users) = (address.to_owned(), users.to_vec());
        self.run(move |s| s.correspondents_of(&address, &users))
            .await
    }

    async fn correspondents_list(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<(u64, Vec<(String, i64)>)> {
        self.run(move |s| s.correspondents_list(user, limit)).await
    }

    async fn correspondents_forget(&self, user: UserId, addresses: &[String]) -> Result<()> {
        let addresses = addresses.to_vec();
        self.run(move |s| s.correspondents_forget(user, &addresses))
            .await
    }
}

#[async_trait]
impl Scripts for EmbeddedStore {
    async fn sieve_list(&self, user: UserId) -> Result<Vec<SieveScriptInfo>> {
        self.run(move |s| s.sieve_list(user)).await
    }

    async fn sieve_get(&self, user: UserId, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.run(move |s| s.sieve_get(user, &name)).await
    }

    async fn sieve_put(&self, user: UserId, name: &str, content: &[u8]) -> Result<()> {
        let (name, content) = (name.to_owned(), content.to_vec());
        self.run(move |s| s.sieve_put(user, &name, &content)).await
    }

    async fn sieve_rename(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.run(move |s| s.sieve_rename(user, &from, &to)).await
    }

    async fn sieve_delete(&self, user: UserId, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.run(move |s| s.sieve_delete(user, &name)).await
    }

    async fn sieve_activate(&self, user: UserId, name: Option<&str>) -> Result<()> {
        let name = name.map(str::to_owned);
        self.run(move |s| s.sieve_activate(user, name.as_deref()))
            .await
    }

    async fn sieve_script(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.run(move |s| s.sieve_script(id)).await
    }

    async fn sieve_seen(
        &self,
        user: UserId,
        key: &str,
        now: i64,
        expiry: i64,
        last: bool,
    ) -> Result<bool> {
        let key = key.to_owned();
        self.run(move |s| s.sieve_seen(user, &key, now, expiry, last))
            .await
    }
}

#[async_trait]
impl Lists for EmbeddedStore {
    async fn list_create(&self, address: &Address, settings: &ListSettings) -> Result<i64> {
        let (address, settings) = (address.clone(), settings.clone());
        self.run(move |s| s.list_create(&address, &settings)).await
    }

    async fn list_delete(&self, address: &str) -> Result<()> {
        let address = address.to_owned();
        self.run(move |s| s.list_delete(&address)).await
    }

    async fn list(&self, address: &str) -> Result<Option<ListRecord>> {
        let address = address.to_owned();
        self.run(move |s| s.list(&address)).await
    }

    async fn list_by_id(&self, id: i64) -> Result<Option<ListRecord>> {
        self.run(move |s| s.list_by_id(id)).await
    }

    async fn lists(&self) -> Result<Vec<ListRecord>> {
        self.run(|s| s.lists()).await
    }

    async fn list_members(&self, list: i64) -> Result<Vec<ListMember>> {
        self.run(move |s| s.list_members(list)).await
    }

    async fn list_member(&self, list: i64, address: &str) -> Result<Option<ListMember>> {
        let address = address.to_owned();
        self.run(move |s| s.list_member(list, &address)).await
    }

    async fn list_set_member(&self, list: i64, address: &str, state: MemberState) -> Result<()> {
        let address = address.to_owned();
        self.run(move |s| s.list_set_member(list, &address, state))
            .await
    }

    async fn list_remove_member(&self, list: i64, address: &str) -> Result<bool> {
        let address = address.to_owned();
        self.run(move |s| s.list_remove_member(list, &address))
            .await
    }

    async fn list_bounce(
        &self,
        list: i64,
        address: &str,
        suspend_after: u32,
    ) -> Result<Option<ListMember>> {
        let address = address.to_owned();
        self.run(move |s| s.list_bounce(list, &address, suspend_after))
            .await
    }

    async fn list_remove_suspended(&self, list: i64, before: i64) -> Result<Vec<String>> {
        self.run(move |s| s.list_remove_suspended(list, before))
            .await
    }

    async fn list_moderators(&self, list: i64) -> Result<Vec<String>> {
        self.run(move |s| s.list_moderators(list)).await
    }

    async fn list_set_moderators(
        &self,
        list: i64,
        addresses: &[String],
        remove: bool,
    ) -> Result<()> {
        let addresses = addresses.to_vec();
        self.run(move |s| s.list_set_moderators(list, &addresses, remove))
            .await
    }

    async fn list_hold(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        let (sender, subject) = (sender.map(str::to_owned), subject.to_owned());
        let content = content.to_vec();
        self.run(move |s| s.list_hold(list, sender.as_deref(), &subject, &content))
            .await
    }

    async fn list_held(&self, list: i64, with_content: bool) -> Result<Vec<ListPost>> {
        self.run(move |s| s.list_held(list, with_content)).await
    }

    async fn list_take_held(&self, list: i64, id: i64) -> Result<Option<ListPost>> {
        self.run(move |s| s.list_take_held(list, id)).await
    }

    async fn list_archive_post(
        &self,
        list: i64,
        sender: Option<&str>,
        subject: &str,
        content: &[u8],
    ) -> Result<i64> {
        let (sender, subject) = (sender.map(str::to_owned), subject.to_owned());
        let content = content.to_vec();
        self.run(move |s| s.list_archive_post(list, sender.as_deref(), &subject, &content))
            .await
    }

    async fn list_posts(&self, list: i64) -> Result<Vec<ListPost>> {
        self.run(move |s| s.list_posts(list)).await
    }

    async fn list_new_token(
        &self,
        list: i64,
        address: &str,
        action: TokenAction,
        expires: i64,
    ) -> Result<String> {
        let address = address.to_owned();
        self.run(move |s| s.list_new_token(list, &address, action, expires))
            .await
    }

    async fn list_take_token(&self, token: &str, at: i64) -> Result<Option<Confirmed>> {
        let token = token.to_owned();
        self.run(move |s| s.list_take_token(&token, at)).await
    }
}

#[async_trait]
impl Accounts for EmbeddedStore {
    async fn set_admin(&self, address: &Address, admin: bool) -> Result<()> {
        let address = address.clone();
        self.run(move |s| s.set_admin(&address, admin)).await
    }

    async fn is_admin(&self, address: &Address) -> Result<bool> {
        let address = address.clone();
        self.run(move |s| s.is_admin(&address)).await
    }

    async fn admins(&self) -> Result<Vec<String>> {
        self.run(|s| s.admins()).await
    }

    async fn add_app_password(
        &self,
        user: UserId,
        name: &str,
        hash: &str,
        created: i64,
    ) -> Result<i64> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.run(move |s| s.add_app_password(user, &name, &hash, created))
            .await
    }

    async fn app_passwords(&self, user: UserId) -> Result<Vec<AppPassword>> {
        self.run(move |s| s.app_passwords(user)).await
    }

    async fn revoke_app_password(&self, user: UserId, id: i64) -> Result<bool> {
        self.run(move |s| s.revoke_app_password(user, id)).await
    }

    async fn app_password_hashes(&self, user: UserId) -> Result<Vec<String>> {
        self.run(move |s| s.app_password_hashes(user)).await
    }

    async fn set_quota(&self, address: &Address, quota: Option<u64>) -> Result<()> {
        let address = address.clone();
        self.run(move |s| s.set_quota(&address, quota)).await
    }
}
