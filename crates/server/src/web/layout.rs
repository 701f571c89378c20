//! The page shell every web page shares: header with navigation, a main landmark, messages,
//! the style sheet and the one script (served from `/web.css` and `/web.js`, so the
//! Content-Security-Policy allows no inline style or script). The script only adds copy
//! buttons beside text marked `data-copy`; every page works without it.

use maud::{DOCTYPE, Markup, html};

/// Who is looking at a page: shapes the navigation.
pub(crate) struct Viewer<'a> {
    pub address: &'a str,
    pub admin: bool,
    pub csrf: &'a str,
}

/// A message above the page's content.
pub(crate) enum Notice {
    Done(String),
    Problem(String),
}

/// The navigation's entries: (path, label, admins only).
const NAV: &[(&str, &str, bool)] = &[
    ("/account", "Account", false),
    ("/account/security", "Passwords", false),
    ("/account/vacation", "Vacation and filters", false),
    ("/account/spam", "Spam settings", false),
    ("/admin", "Dashboard", true),
    ("/admin/accounts", "Accounts", true),
    ("/admin/domains", "Domains", true),
    ("/admin/aliases", "Aliases", true),
    ("/admin/queue", "Queue", true),
    ("/admin/lists", "Lists", true),
    ("/admin/spam", "Spam", true),
];

pub(crate) fn page(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    current: &str,
    notice: Option<&Notice>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hermod" }
                link rel="stylesheet" href="/web.css";
                script src="/web.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    span.brand { "hermod" }
                    @if let Some(viewer) = viewer {
                        nav aria-label="Main" {
                            ul {
                                @for (path, label, admin_only) in NAV {
                                    @if !admin_only || viewer.admin {
                                        li {
                                            @if *path == current {
                                                a href=(path) aria-current="page" { (label) }
                                            } @else {
                                                a href=(path) { (label) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            span.who { (viewer.address) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    @match notice {
                        Some(Notice::Done(text)) => p.notice.done role="status" { (text) },
                        Some(Notice::Problem(text)) => p.notice.problem role="alert" { (text) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// Bytes as people read them (KiB, MiB, GiB).
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn date_time(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    // Civil from days (H. Hinnant's algorithm), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Progressive enhancement: a "Copy" button after each element with `data-copy` (its value
/// names what is copied, for the button's label), made only where the Clipboard API exists,
/// so a browser without scripts or clipboard sees the text alone.
pub(crate) const SCRIPT: &str = r#""use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard || !window.isSecureContext) { return; }
  document.querySelectorAll("[data-copy]").forEach(function (source) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary copy";
    button.textContent = "Copy";
    button.setAttribute("aria-label", "Copy " + source.getAttribute("data-copy"));
    var status = document.createElement("span");
    status.className = "copied";
    status.setAttribute("role", "status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        status.textContent = "Copied";
      }, function () {
        status.textContent = "Could not copy: select the text instead";
      });
    });
    source.insertAdjacentElement("afterend", status);
    source.insertAdjacentElement("afterend", button);
  });
});
"#;

pub(crate) const STYLE: &str = r#"
:root { --fg: #1d232b; --muted: #5b6673; --line: #d5dbe1; --bg: #f6f8fa; --accent: #1f5fae;
  --ok: #1e6b3a; --bad: #a3261c; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.45; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; z-index: 2; }
header { background: #fff; border-bottom: 1px solid var(--line); padding: .6rem 1rem;
  display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; }
.brand { font-weight: 700; font-size: 1.15rem; }
nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem .9rem; }
nav a { color: var(--accent); text-decoration: none; padding: .2rem 0; }
nav a[aria-current="page"] { font-weight: 700; border-bottom: 2px solid var(--accent); }
.logout { margin-left: auto; display: flex; align-items: center; gap: .5rem; }
.who { color: var(--muted); font-size: .9rem; overflow-wrap: anywhere; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 0 0 .75rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 1rem;
  margin-bottom: 1rem; overflow-x: auto; }
label { display: block; font-weight: 600; margin: .5rem 0 .2rem; }
input[type=text], input[type=password], input[type=email], input[type=date], input[type=number],
select, textarea { width: 100%; max-width: 28rem; padding: .45rem; font: inherit;
  border: 1px solid #8c96a1; border-radius: 4px; background: #fff; }
textarea { min-height: 6rem; max-width: 40rem; }
input:focus, select:focus, textarea:focus, button:focus, a:focus { outline: 3px solid #f0b400; outline-offset: 1px; }
.check { display: flex; gap: .5rem; align-items: center; font-weight: 600; }
.check input { width: auto; }
button { font: inherit; padding: .45rem .9rem; border-radius: 4px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; margin-top: .6rem; }
form:not(.inline):not(.logout) > button { display: block; }
details summary { cursor: pointer; color: var(--accent); margin: .3rem 0; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.inline { display: inline; }
.inline button { margin: 0 .25rem .25rem 0; padding: .25rem .6rem; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: .9rem; color: var(--muted); }
.notice { padding: .6rem .8rem; border-radius: 4px; }
.done { background: #e3f3e8; color: var(--ok); }
.problem { background: #fbe7e5; color: var(--bad); }
.secret { font-family: ui-monospace, monospace; font-size: 1.2rem; background: #fff7d6;
  padding: .4rem .6rem; display: inline-block; user-select: all; }
pre { background: var(--bg); padding: .6rem; overflow-x: auto; font-size: .85rem; }
button.copy { margin: .2rem .5rem .6rem 0; padding: .2rem .6rem; font-size: .85rem; }
.copied { color: var(--ok); font-size: .85rem; }
ul.records { list-style: none; padding: 0; margin: 0; }
ul.records li { margin-bottom: .4rem; }
ul.records code { display: block; background: var(--bg); padding: .35rem .5rem; font-size: .85rem;
  overflow-wrap: anywhere; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(13rem, 1fr)); gap: .75rem; }
.stat { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .75rem; }
.stat strong { display: block; font-size: 1.4rem; }
.muted { color: var(--muted); }
meter { width: 100%; max-width: 28rem; height: 1.2rem; }
@media (max-width: 40rem) {
  header { padding: .5rem .75rem; }
  .logout { margin-left: 0; }
  main { padding: .75rem; }
  th, td { padding: .35rem .3rem; font-size: .9rem; }
  /* Wide tables become one block per row: nothing scrolls sideways on a phone. */
  table.stack thead { position: absolute; left: -9999px; }
  table.stack tr, table.stack td { display: block; }
  table.stack td { border: none; padding: .15rem 0; }
  table.stack tr { border-bottom: 1px solid var(--line); padding: .5rem 0; }
}
"#;
