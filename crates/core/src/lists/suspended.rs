//! Members suspended for bouncing are removed once their suspension has lasted
//! `remove_suspended_after`; the owner is told which.

use super::{ListDeps, ListEngine};
use hermod_store::{ListRecord, Result};

impl ListEngine {
    /// Removes, in every list, the members suspended longer than the configured time (none
    /// when it is zero), telling each list's owner. Returns how many were removed.
    pub async fn remove_long_suspended(&self, deps: ListDeps<'_>, now: i64) -> Result<usize> {
        if self.remove_suspended_after <= 0 {
            return Ok(0);
        }
        let before = now - self.remove_suspended_after;
        let mut removed = 0;
        for list in deps.store.lists().await? {
            let gone = deps.store.list_remove_suspended(list.id, before).await?;
            if gone.is_empty() {
                continue;
            }
            tracing::info!(list = list.address, members = ?gone, "suspended members removed");
            removed += gone.len();
            self.tell_owner_removed(deps, &list, &gone).await?;
        }
        Ok(removed)
    }

    async fn tell_owner_removed(
        &self,
        deps: ListDeps<'_>,
        list: &ListRecord,
        gone: &[String],
    ) -> Result<()> {
        let mut body = format!(
            "These members of {} stayed suspended for bouncing longer than {} \
             and were removed:\n\n",
            list.address,
            span(self.remove_suspended_after)
        );
        for member in gone {
            body.push_str(&format!("  {member}\n"));
        }
        body.push_str(&format!(
            "\nTo add one again: hermod list add {} ADDRESS\n",
            list.address
        ));
        let owner = &list.settings.owner;
        let subject = format!("{}: {} suspended members removed", list.address, gone.len());
        let notice = super::text::notice(&self.hostname, list, owner, &subject, &[], &body);
        super::send(deps, owner, notice).await
    }
}

/// "30 days", "5 hours", "90 seconds".
fn span(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_naturally() {
        assert_eq!(super::span(30 * 86_400), "30 days");
        assert_eq!(super::span(3600), "1 hour");
        assert_eq!(super::span(90), "90 seconds");
    }
}
