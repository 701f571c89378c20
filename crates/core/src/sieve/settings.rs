//! The Sieve script the web interface writes for a user: a vacation reply and simple filter
//! rules, beside whatever script the user wrote by hand.
//!
//! Design: the settings live in one generated script, [`GENERATED`]. When it is saved it
//! becomes the active script, and if another script was active (a hand-written one, from
//! ManageSieve or `hermod sieve put`), the generated one ends with `include :personal` of it,
//! so both run: first the vacation reply, then the rules (a rule that files or discards ends
//! the run with `stop`), then the user's own script. The form's values are kept in the
//! script itself as `#@` comment lines, so nothing else needs storing and the page reads them
//! back. With nothing set, the generated script goes and the user's own script is active
//! again. Activating another script later (ManageSieve) switches the web settings off; the
//! page says so.

use super::SieveEngine;
use super::manage::{PutError, put_script};
use hermod_store::{Scripts, UserId};

/// The name of the generated script.
pub const GENERATED: &str = "hermod-web";

/// The header a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    From,
    To,
    Subject,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// File into the folder (created if missing) and stop.
    FileInto(String),
    /// Mark flagged, and go on.
    Flag,
    /// Drop the message and stop.
    Discard,
}

/// One rule: when `field` contains `value`, do `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub field: Field,
    pub value: String,
    pub action: Action,
}

/// The vacation reply: on between two dates (inclusive, `YYYY-MM-DD`, either may be open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vacation {
    pub enabled: bool,
    pub from: Option<String>,
    pub until: Option<String>,
    pub subject: String,
    pub text: String,
}

/// Everything the web interface sets, and the hand-written script it includes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub vacation: Vacation,
    pub rules: Vec<Rule>,
    pub include: Option<String>,
}

/// Why settings were not saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("a date is written YYYY-MM-DD: {0:?}")]
    BadDate(String),
    #[error("the vacation reply needs a text")]
    NoText,
    #[error("a rule needs a value to look for")]
    EmptyRule,
    #[error("a folder name is needed to file into")]
    NoFolder,
    #[error(transparent)]
    Put(#[from] PutError),
}

impl Field {
    pub fn name(self) -> &'static str {
        match self {
            Field::From => "from",
            Field::To => "to",
            Field::Subject => "subject",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        [Field::From, Field::To, Field::Subject]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// A Sieve quoted string (RFC 5228 2.4.2: `\` and `"` escaped).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A value kept on one `#@` line: backslash, newline, carriage return and tab escaped.
fn escape_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn valid_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

impl Settings {
    /// Checks what a form gave before anything is written.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let v = &self.vacation;
        for date in [&v.from, &v.until].into_iter().flatten() {
            if !valid_date(date) {
                return Err(SettingsError::BadDate(date.clone()));
            }
        }
        if v.enabled && v.text.trim().is_empty() {
            return Err(SettingsError::NoText);
        }
        for rule in &self.rules {
            if rule.value.trim().is_empty() {
                return Err(SettingsError::EmptyRule);
            }
            if matches!(&rule.action, Action::FileInto(f) if f.trim().is_empty()) {
                return Err(SettingsError::NoFolder);
            }
        }
        Ok(())
    }

    /// True when the generated script would do nothing but include the user's own.
    pub fn is_empty(&self) -> bool {
        !self.vacation.enabled && self.rules.is_empty()
    }

    /// The script: the settings as `#@` lines, then the Sieve that does them.
    pub fn to_script(&self) -> String {
        let mut out = String::from(
            "# Written by hermod's web interface (Account > Vacation and filters).\r\n\
             # Changes made here by hand are lost when the settings are saved there.\r\n",
        );
        self.write_settings(&mut out);
        out.push_str(
            "require [\"vacation\", \"date\", \"relational\", \"fileinto\", \"mailbox\", \
             \"imap4flags\", \"include\"];\r\n",
        );
        self.write_vacation(&mut out);
        for rule in &self.rules {
            write_rule(&mut out, rule);
        }
        if let Some(name) = &self.include {
            out.push_str(&format!("include :personal {};\r\n", quoted(name)));
        }
        out
    }

    fn write_settings(&self, out: &mut String) {
        let mut line = |key: &str, value: &str| {
            out.push_str(&format!("#@ {key}={}\r\n", escape_line(value)));
        };
        let v = &self.vacation;
        line("vacation", if v.enabled { "on" } else { "off" });
        line("from", v.from.as_deref().unwrap_or(""));
        line("until", v.until.as_deref().unwrap_or(""));
        line("subject", &v.subject);
        line("text", &v.text);
        for rule in &self.rules {
            let (action, arg) = match &rule.action {
                Action::FileInto(folder) => ("fileinto", folder.as_str()),
                Action::Flag => ("flag", ""),
                Action::Discard => ("discard", ""),
            };
            let value = format!("{}\t{}\t{action}\t{arg}", rule.field.name(), rule.value);
            line("rule", &value);
        }
        if let Some(name) = &self.include {
            line("include", name);
        }
    }

    fn write_vacation(&self, out: &mut String) {
        let v = &self.vacation;
        if !v.enabled {
            return;
        }
        let mut tests = Vec::new();
        if let Some(from) = &v.from {
            tests.push(format!(
                "currentdate :value \"ge\" \"date\" {}",
                quoted(from)
            ));
        }
        if let Some(until) = &v.until {
            tests.push(format!(
                "currentdate :value \"le\" \"date\" {}",
                quoted(until)
            ));
        }
        let subject = if v.subject.trim().is_empty() {
            String::new()
        } else {
            format!(":subject {} ", quoted(v.subject.trim()))
        };
        let reply = format!("vacation :days 1 {subject}{};\r\n", quoted(&v.text));
        if tests.is_empty() {
            out.push_str(&reply);
        } else {
            out.push_str(&format!(
                "if allof({}) {{\r\n    {reply}}}\r\n",
                tests.join(", ")
            ));
        }
    }

    /// Reads back the settings a generated script keeps; `None` for any other script.
    pub fn from_script(text: &str) -> Option<Settings> {
        if !text.starts_with("# Written by hermod's web interface") {
            return None;
        }
        let mut settings = Settings::default();
        for line in text.lines() {
            let Some((key, value)) = line.strip_prefix("#@ ").and_then(|l| l.split_once('='))
            else {
                continue;
            };
            let value = unescape_line(value.trim_end_matches('\r'));
            let v = &mut settings.vacation;
            let optional = |s: String| (!s.is_empty()).then_some(s);
            match key {
                "vacation" => v.enabled = value == "on",
                "from" => v.from = optional(value),
                "until" => v.until = optional(value),
                "subject" => v.subject = value,
                "text" => v.text = value,
                "include" => settings.include = optional(value),
                "rule" => settings.rules.extend(parse_rule(&value)),
                _ => {}
            }
        }
        Some(settings)
    }
}

fn parse_rule(value: &str) -> Option<Rule> {
    let mut parts = value.splitn(4, '\t');
    let field = Field::parse(parts.next()?)?;
    let value = parts.next()?.to_owned();
    let action = match (parts.next()?, parts.next().unwrap_or("")) {
        ("fileinto", folder) => Action::FileInto(folder.to_owned()),
        ("flag", _) => Action::Flag,
        ("discard", _) => Action::Discard,
        _ => return None,
    };
    Some(Rule {
        field,
        value,
        action,
    })
}

fn write_rule(out: &mut String, rule: &Rule) {
    let headers = match rule.field {
        Field::From => "\"from\"",
        Field::To => "[\"to\", \"cc\"]",
        Field::Subject => "\"subject\"",
    };
    let action = match &rule.action {
        Action::FileInto(folder) => format!("fileinto :create {}; stop;", quoted(folder.trim())),
        Action::Flag => "addflag \"\\\\Flagged\";".to_owned(),
        Action::Discard => "discard; stop;".to_owned(),
    };
    out.push_str(&format!(
        "if header :contains {headers} {} {{ {action} }}\r\n",
        quoted(rule.value.trim())
    ));
}

/// What the account's page shows: the saved settings, and whether they are in effect (the
/// generated script is the active one).
pub async fn load(scripts: &dyn Scripts, user: UserId) -> Result<(Settings, bool), PutError> {
    let listed = scripts.sieve_list(user).await?;
    let active = listed.iter().any(|s| s.active && s.name == GENERATED);
    let settings = match scripts.sieve_get(user, GENERATED).await? {
        Some(text) => Settings::from_script(&String::from_utf8_lossy(&text)).unwrap_or_default(),
        None => Settings::default(),
    };
    Ok((settings, active))
}

/// Saves the settings as the generated script and makes it active, including the script
/// that was active before (unless that was the generated one: then its include stays, if
/// that script still exists). Nothing set: the generated script goes and the included one
/// is active again.
pub async fn save(
    scripts: &dyn Scripts,
    engine: &SieveEngine,
    user: UserId,
    user_name: &str,
    mut settings: Settings,
) -> Result<(), SettingsError> {
    settings.validate()?;
    let listed = scripts.sieve_list(user).await.map_err(PutError::from)?;
    let exists = |name: &str| listed.iter().any(|s| s.name == name);
    settings.include = match listed.iter().find(|s| s.active) {
        Some(active) if active.name != GENERATED => Some(active.name.clone()),
        _ => {
            let (previous, _) = load(scripts, user).await?;
            previous.include.filter(|name| exists(name))
        }
    };
    if settings.is_empty() {
        let own = settings.include.as_deref();
        scripts
            .sieve_activate(user, own)
            .await
            .map_err(PutError::from)?;
        if exists(GENERATED) {
            scripts
                .sieve_delete(user, GENERATED)
                .await
                .map_err(PutError::from)?;
        }
        return Ok(());
    }
    let text = settings.to_script();
    put_script(scripts, engine, user, user_name, GENERATED, text.as_bytes()).await?;
    scripts
        .sieve_activate(user, Some(GENERATED))
        .await
        .map_err(PutError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sieve::SieveLimits;

    fn engine() -> SieveEngine {
        SieveEngine::new("mx.example.test", SieveLimits::default(), None, None).unwrap()
    }

    fn full() -> Settings {
        Settings {
            vacation: Vacation {
                enabled: true,
                from: Some("2026-01-01".into()),
                until: Some("2026-01-31".into()),
                subject: "Away \"now\"".into(),
                text: "Back soon.\nC:\\path\ttab".into(),
            },
            rules: vec![
                Rule {
                    field: Field::From,
                    value: "boss@".into(),
                    action: Action::Flag,
                },
                Rule {
                    field: Field::Subject,
                    value: "[list]".into(),
                    action: Action::FileInto("Lists/Work".into()),
                },
                Rule {
                    field: Field::To,
                    value: "spam\"trap".into(),
                    action: Action::Discard,
                },
            ],
            include: Some("mine".into()),
        }
    }

    #[test]
    fn settings_survive_their_script_and_it_compiles() {
        let settings = full();
        let script = settings.to_script();
        assert_eq!(Settings::from_script(&script), Some(settings));
        engine().check(script.as_bytes()).unwrap();
        assert!(script.contains("include :personal \"mine\";"), "{script}");
        assert!(script.contains("fileinto :create \"Lists/Work\"; stop;"));
        assert!(script.contains("\"spam\\\"trap\""), "{script}");
        assert_eq!(Settings::from_script("require \"fileinto\";"), None);
    }

    #[test]
    fn forms_are_checked() {
        let mut bad = full();
        bad.vacation.from = Some("1 Jan".into());
        assert!(matches!(bad.validate(), Err(SettingsError::BadDate(_))));
        let mut bad = full();
        bad.vacation.text = " ".into();
        assert!(matches!(bad.validate(), Err(SettingsError::NoText)));
        let mut bad = full();
        bad.rules[1].action = Action::FileInto("".into());
        assert!(matches!(bad.validate(), Err(SettingsError::NoFolder)));
    }

    /// Saving includes the hand-written active script and activates the generated one;
    /// saving again keeps the include; clearing brings the user's script back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_settings_include_the_hand_written_script() {
        use hermod_store::{Directory, EmbeddedStore};
        use hermod_types::{Address, Domain};
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .add_domain(&Domain::parse("example.test").unwrap())
            .await
            .unwrap();
        let alice = Address::parse("alice@example.test").unwrap();
        let user = store.add_user(&alice, "h", None).await.unwrap();
        let engine = engine();
        let own = b"require \"fileinto\";\r\nfileinto \"Own\";\r\n";
        put_script(&store, &engine, user, "alice", "mine", own)
            .await
            .unwrap();
        store.sieve_activate(user, Some("mine")).await.unwrap();

        let mut settings = full();
        settings.include = None;
        save(&store, &engine, user, "alice", settings.clone())
            .await
            .unwrap();
        let (loaded, active) = load(&store, user).await.unwrap();
        assert!(active);
        assert_eq!(loaded.include.as_deref(), Some("mine"));
        settings.rules.clear();
        save(&store, &engine, user, "alice", settings)
            .await
            .unwrap();
        let (loaded, _) = load(&store, user).await.unwrap();
        assert_eq!(loaded.include.as_deref(), Some("mine"), "kept on a resave");

        save(&store, &engine, user, "alice", Settings::default())
            .await
            .unwrap();
        let listed = store.sieve_list(user).await.unwrap();
        let names: Vec<(&str, bool)> = listed.iter().map(|s| (s.name.as_str(), s.active)).collect();
        assert_eq!(names, [("mine", true)]);
    }
}
