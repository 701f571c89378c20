//! The vacation and filter forms of `/account/vacation`.

use super::layout::csrf_field;
use hermod_core::sieve::settings::{Action, Field, GENERATED, Settings};
use maud::{Markup, html};

/// `shown`: what the forms hold (the saved settings, or a refused edit); `saved` tells
/// whether the include of a hand-written script is in effect.
pub(super) fn vacation_body(
    shown: &Settings,
    active: bool,
    saved: &Settings,
    csrf: &str,
) -> Markup {
    let v = &shown.vacation;
    let has_settings = !saved.is_empty();
    html! {
        @if has_settings && !active {
            p.notice.problem role="alert" {
                "Another Sieve script was made active (by an email program or the administrator), so these settings are not in effect. Saving here turns them on again, together with that script."
            }
        }
        @if let Some(own) = &saved.include {
            p.muted { "Your own Sieve script " strong { (own) } " runs after these settings." }
        }
        section aria-labelledby="vacation" {
            h2 #vacation { "Vacation reply" }
            form method="post" action="/account/vacation" {
                (csrf_field(csrf))
                label.check for="enabled" {
                    input #enabled type="checkbox" name="enabled" value="on" checked[v.enabled];
                    "Answer incoming mail with this reply"
                }
                label for="from" { "First day (optional)" }
                input #from type="date" name="from" value=(v.from.as_deref().unwrap_or(""));
                label for="until" { "Last day (optional)" }
                input #until type="date" name="until" value=(v.until.as_deref().unwrap_or(""));
                label for="subject" { "Subject (optional)" }
                input #subject type="text" name="subject" maxlength="200" value=(v.subject);
                label for="text" { "Reply" }
                textarea #text name="text" maxlength="4000" { (v.text) }
                p.muted { "Each sender gets the reply at most once a day; mailing lists and automatic mail get none." }
                button type="submit" { "Save vacation reply" }
            }
        }
        (rules_section(shown, csrf))
    }
}

/// The rules in force, each with its remove button, and the form adding one.
fn rules_section(shown: &Settings, csrf: &str) -> Markup {
    html! {
        section aria-labelledby="rules" {
            h2 #rules { "Filter rules" }
            p { "Rules run in order on arriving mail. Filing into a folder or deleting ends the rules for that message." }
            @if shown.rules.is_empty() {
                p.muted { "No rules yet." }
            } @else {
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Then" } th scope="col" { span.muted { "Action" } } } }
                    tbody {
                        @for (index, rule) in shown.rules.iter().enumerate() {
                            tr {
                                td { (field_label(rule.field)) " contains “" (rule.value) "”" }
                                td { (action_label(&rule.action)) }
                                td {
                                    form.inline method="post" action="/account/rules/remove" {
                                        (csrf_field(csrf))
                                        input type="hidden" name="index" value=(index);
                                        button.danger type="submit" aria-label={ "Remove rule " (index + 1) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Add a rule" }
            form method="post" action="/account/rules" {
                (csrf_field(csrf))
                label for="field" { "When" }
                select #field name="field" {
                    option value="from" { "From" }
                    option value="to" { "To or Cc" }
                    option value="subject" { "Subject" }
                }
                label for="value" { "contains" }
                input #value type="text" name="value" maxlength="200" required;
                label for="action" { "then" }
                select #action name="action" {
                    option value="fileinto" { "Move to folder" }
                    option value="flag" { "Flag it" }
                    option value="discard" { "Delete it" }
                }
                label for="folder" { "Folder (for “Move to folder”; made if missing)" }
                input #folder type="text" name="folder" maxlength="200";
                button type="submit" { "Add rule" }
            }
            p.muted { "These settings are the Sieve script “" (GENERATED) "”." }
        }
    }
}

fn field_label(field: Field) -> &'static str {
    match field {
        Field::From => "From",
        Field::To => "To or Cc",
        Field::Subject => "Subject",
    }
}

fn action_label(action: &Action) -> String {
    match action {
        Action::FileInto(folder) => format!("move to “{folder}”"),
        Action::Flag => "flag it".to_owned(),
        Action::Discard => "delete it".to_owned(),
    }
}
