//! Mailing lists as the store keeps them: the list, its members, moderators, posts held for
//! moderation and the tokens that confirm a subscription by mail.

/// Who may post to a list without moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMode {
    /// Members post.
    Discussion,
    /// Only the owner and the moderators post.
    Announce,
}

impl ListMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ListMode::Discussion => "discussion",
            ListMode::Announce => "announce",
        }
    }

    pub fn parse(s: &str) -> Option<ListMode> {
        match s {
            "discussion" => Some(ListMode::Discussion),
            "announce" => Some(ListMode::Announce),
            _ => None,
        }
    }
}

/// A list's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSettings {
    /// The owner's address: told of suspensions and held posts, may always post.
    pub owner: String,
    pub mode: ListMode,
    /// Every post from a member (not a moderator or the owner) waits for a moderator.
    pub moderated: bool,
    /// Posts from non-members are refused (the sender is told) instead of held.
    pub refuse_non_members: bool,
    /// Every distributed post is kept (`hermod list archive` writes them as an mbox).
    pub archive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRecord {
    pub id: i64,
    /// The list's normalized address (`team@example.test`).
    pub address: String,
    pub settings: ListSettings,
}

impl ListRecord {
    /// The local part of the list's address.
    pub fn local(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or(&*self.address, |(l, _)| l)
    }

    /// The list's domain.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// Where a member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Asked to join by mail; gets nothing until the confirmation comes back.
    Pending,
    Active,
    /// Bounced too often: gets nothing until the owner adds the address again.
    Suspended,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Pending => "pending",
            MemberState::Active => "active",
            MemberState::Suspended => "suspended",
        }
    }

    pub(crate) fn parse(s: &str) -> MemberState {
        match s {
            "active" => MemberState::Active,
            "suspended" => MemberState::Suspended,
            _ => MemberState::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMember {
    pub address: String,
    pub state: MemberState,
    /// Bounces since the member last joined.
    pub bounces: u32,
}

/// A post a list keeps: waiting for a moderator, or archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPost {
    pub id: i64,
    /// The envelope sender (`None`: the null sender).
    pub sender: Option<String>,
    pub subject: String,
    /// Seconds since the Unix epoch.
    pub received: i64,
    /// The whole message (kept in the index).
    pub content: Vec<u8>,
}

/// What a confirmation token, once replied to, does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAction {
    Subscribe,
    Unsubscribe,
    /// A moderator approves a held post (the token's address is the post's id).
    Approve,
    /// A moderator rejects a held post (the token's address is the post's id).
    Reject,
}

impl TokenAction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenAction::Subscribe => "subscribe",
            TokenAction::Unsubscribe => "unsubscribe",
            TokenAction::Approve => "approve",
            TokenAction::Reject => "reject",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<TokenAction> {
        [
            TokenAction::Subscribe,
            TokenAction::Unsubscribe,
            TokenAction::Approve,
            TokenAction::Reject,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A confirmation token that was valid when taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub list: i64,
    pub address: String,
    pub action: TokenAction,
}
