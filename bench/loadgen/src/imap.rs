//! A small IMAP client (tagged commands, responses with literals read by their byte count)
//! and two workloads: W3, every user downloads its whole INBOX with one FETCH; W4, idle
//! authenticated sessions, each in IDLE. W6 (one large mailbox) is in `imap_big`.

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Barrier;

/// One server response: its text with every literal's content left out (the `{n}` marker
/// stays), and how many literal bytes it carried.
pub struct Line {
    pub text: Vec<u8>,
    pub literal_bytes: usize,
    pub literals: usize,
}

impl Line {
    /// The text as a string (lossy; responses are ASCII apart from literals).
    pub fn str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.text)
    }

    /// `* <n> <word>` (EXISTS, EXPUNGE, FETCH): the number, when the word matches.
    pub fn numbered(&self, word: &str) -> Option<u64> {
        let rest = self.text.strip_prefix(b"* ")?;
        let space = rest.iter().position(|&b| b == b' ')?;
        let number = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        let after = &rest[space + 1..];
        let matches = after.len() >= word.len()
            && after[..word.len()].eq_ignore_ascii_case(word.as_bytes())
            && after
                .get(word.len())
                .is_none_or(|&b| !b.is_ascii_alphabetic());
        matches.then_some(number)
    }

    /// `* <word> ...` (SEARCH, SORT, CAPABILITY, VANISHED): what follows the word.
    pub fn keyword(&self, word: &str) -> Option<&[u8]> {
        let rest = self.text.strip_prefix(b"* ")?;
        let head = rest.get(..word.len())?;
        if !head.eq_ignore_ascii_case(word.as_bytes()) {
            return None;
        }
        match rest.get(word.len()) {
            None => Some(&[]),
            Some(b' ') => Some(&rest[word.len() + 1..]),
            Some(_) => None,
        }
    }

    /// The number in a response code `[CODE n]` (UIDVALIDITY, HIGHESTMODSEQ).
    pub fn code_number(&self, code: &str) -> Option<u64> {
        let text = self.str();
        let start = text.find(&format!("[{code} "))? + code.len() + 2;
        let end = start + text[start..].find(']')?;
        text[start..end].parse().ok()
    }
}

pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    tag: u64,
}

impl Client {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        let mut client = Client {
            reader: BufReader::with_capacity(64 * 1024, read),
            writer,
            tag: 0,
        };
        let greeting = client.line().await?;
        if !greeting.text.starts_with(b"* OK") {
            bail!("IMAP greeting: {}", greeting.str());
        }
        Ok(client)
    }

    /// Connects and logs in.
    pub async fn login(addr: SocketAddr, user: &str, password: &str) -> Result<Client> {
        let mut client = Client::connect(addr).await?;
        client
            .run(&format!("LOGIN {} {}", quoted(user), quoted(password)))
            .await
            .with_context(|| format!("LOGIN {user}"))?;
        Ok(client)
    }

    /// Reads one response, however many literals it has. A literal's content is skipped
    /// straight out of the read buffer, counted, never copied.
    pub async fn line(&mut self) -> Result<Line> {
        let mut line = Line {
            text: Vec::new(),
            literal_bytes: 0,
            literals: 0,
        };
        loop {
            if self.reader.read_until(b'\n', &mut line.text).await? == 0 {
                bail!("connection closed");
            }
            let Some(size) = literal_size(&line.text) else {
                break;
            };
            self.skip(size).await?;
            line.literal_bytes += size;
            line.literals += 1;
        }
        while line.text.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            line.text.pop();
        }
        Ok(line)
    }

    async fn skip(&mut self, mut left: usize) -> Result<()> {
        while left > 0 {
            let buf = self.reader.fill_buf().await?;
            if buf.is_empty() {
                bail!("connection closed inside a literal");
            }
            let n = buf.len().min(left);
            self.reader.consume(n);
            left -= n;
        }
        Ok(())
    }

    /// Sends a command, returns its tag (several may be in flight).
    pub async fn send(&mut self, command: &str) -> Result<String> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        Ok(tag)
    }

    /// Sends several commands in one write, returns their tags.
    pub async fn pipeline(&mut self, commands: &[String]) -> Result<Vec<String>> {
        let mut out = String::new();
        let mut tags = Vec::with_capacity(commands.len());
        for command in commands {
            self.tag += 1;
            tags.push(format!("a{}", self.tag));
            out.push_str(&format!("a{} {command}\r\n", self.tag));
        }
        self.writer.write_all(out.as_bytes()).await?;
        Ok(tags)
    }

    /// Reads up to the tagged response for `tag`, handing every untagged one to `each`;
    /// an error unless the status is OK.
    pub async fn finish(&mut self, tag: &str, mut each: impl FnMut(&Line)) -> Result<()> {
        loop {
            let line = self.line().await?;
            let Some(rest) = line
                .text
                .strip_prefix(tag.as_bytes())
                .and_then(|r| r.strip_prefix(b" "))
            else {
                each(&line);
                continue;
            };
            if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"OK") {
                return Ok(());
            }
            bail!("{}", line.str());
        }
    }

    /// Sends one command and reads up to its tagged OK, handing untagged responses to `each`.
    pub async fn run_with(&mut self, command: &str, each: impl FnMut(&Line)) -> Result<()> {
        let tag = self.send(command).await?;
        self.finish(&tag, each)
            .await
            .with_context(|| first_word(command).to_owned())
    }

    pub async fn run(&mut self, command: &str) -> Result<()> {
        self.run_with(command, |_| {}).await
    }

    /// SELECT (with `args`, e.g. a QRESYNC parameter); returns its untagged responses.
    pub async fn select(&mut self, args: &str) -> Result<Selected> {
        let mut selected = Selected::default();
        self.run_with(&format!("SELECT INBOX{args}"), |line| {
            if let Some(n) = line.numbered("EXISTS") {
                selected.exists = n;
            } else if let Some(v) = line.code_number("UIDVALIDITY") {
                selected.uidvalidity = v;
            } else if let Some(m) = line.code_number("HIGHESTMODSEQ") {
                selected.highestmodseq = m;
            } else if line.numbered("FETCH").is_some() {
                selected.fetches += 1;
            } else if let Some(uids) = line.keyword("VANISHED") {
                selected.vanished += count_set(uids);
            }
        })
        .await?;
        Ok(selected)
    }

    /// The capabilities as the server lists them now (upper case).
    pub async fn capabilities(&mut self) -> Result<Vec<String>> {
        let mut caps = Vec::new();
        self.run_with("CAPABILITY", |line| {
            if let Some(list) = line.keyword("CAPABILITY") {
                let list = String::from_utf8_lossy(list).to_ascii_uppercase();
                caps.extend(list.split_whitespace().map(String::from));
            }
        })
        .await?;
        Ok(caps)
    }

    pub async fn logout(&mut self) -> Result<()> {
        self.run("LOGOUT").await
    }
}

/// What a SELECT said.
#[derive(Default)]
pub struct Selected {
    pub exists: u64,
    pub uidvalidity: u64,
    pub highestmodseq: u64,
    /// Untagged FETCH responses (a QRESYNC SELECT's flag changes).
    pub fetches: u64,
    /// UIDs in VANISHED (EARLIER) responses.
    pub vanished: u64,
}

/// `{n}` or `{n+}` (or `~{n}`) ending a line: the size of the literal that follows.
fn literal_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n"))?;
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// How many numbers a sequence set (`1,3:5 7`) or a space-separated list names.
pub fn count_set(set: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(set);
    let text = text.trim_start_matches("(EARLIER) ");
    text.split([',', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once(':') {
            Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
                (Ok(a), Ok(b)) => a.abs_diff(b) + 1,
                _ => 0,
            },
            None => u64::from(part.parse::<u64>().is_ok()),
        })
        .sum()
}

pub fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn first_word(command: &str) -> &str {
    command.split_whitespace().next().unwrap_or(command)
}

pub fn login_name(user: usize, domain: &str) -> String {
    format!("user{user}@{domain}")
}

/// W3 for one user: logs in, waits at `ready` until every user has, then SELECT INBOX, one
/// FETCH of every message's body and flags, LOGOUT. Returns (messages, literal bytes).
async fn download_one(
    addr: SocketAddr,
    user: String,
    password: String,
    ready: Arc<Barrier>,
) -> Result<(usize, usize)> {
    let opened = Client::login(addr, &user, &password).await;
    // Wait even after a failure, or the others would wait forever.
    ready.wait().await;
    let mut client = opened?;
    let selected = client.select("").await?;
    let (mut messages, mut bytes) = (0, 0);
    if selected.exists > 0 {
        client
            .run_with("FETCH 1:* (BODY.PEEK[] FLAGS)", |line| {
                if line.literals > 0 && line.numbered("FETCH").is_some() {
                    messages += 1;
                    bytes += line.literal_bytes;
                }
            })
            .await?;
    }
    if messages as u64 != selected.exists {
        bail!(
            "{user}: FETCH returned {messages} bodies of {}",
            selected.exists
        );
    }
    client.logout().await?;
    Ok((messages, bytes))
}

/// W3: `users` users at once, each downloads its whole INBOX.
pub async fn download(addr: SocketAddr, users: usize, domain: &str, password: &str) -> Result<()> {
    let started = Instant::now();
    let ready = Arc::new(Barrier::new(users + 1));
    let mut tasks = tokio::task::JoinSet::new();
    for u in 1..=users {
        tasks.spawn(download_one(
            addr,
            login_name(u, domain),
            password.to_owned(),
            ready.clone(),
        ));
    }
    ready.wait().await;
    let logged_in = started.elapsed().as_secs_f64();
    let (mut messages, mut bytes) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (m, b) = done??;
        messages += m;
        bytes += b;
    }
    let secs = started.elapsed().as_secs_f64();
    let download = secs - logged_in;
    // As for POP3: logging in is the password hash's work, so the download is also reported
    // alone (SELECT, FETCH and LOGOUT, timed from the moment every user is logged in).
    println!(
        "workload=imap messages={messages} seconds={secs:.3} messages_per_s={:.1} mb_per_s={:.2} \
         login_seconds={logged_in:.3} download_seconds={download:.3} download_messages_per_s={:.1} \
         download_mb_per_s={:.2}",
        messages as f64 / secs,
        bytes as f64 / secs / 1e6,
        messages as f64 / download,
        bytes as f64 / download / 1e6,
    );
    Ok(())
}

/// One W4 session: logged in, INBOX selected, in IDLE (the server's `+` seen).
async fn idle_session(addr: SocketAddr, user: String, password: String) -> Result<Client> {
    let mut client = Client::login(addr, &user, &password).await?;
    client.select("").await?;
    client.send("IDLE").await?;
    loop {
        let line = client.line().await?;
        if line.text.starts_with(b"+") {
            return Ok(client);
        }
        if !line.text.starts_with(b"* ") {
            bail!("IDLE refused: {}", line.str());
        }
    }
}

/// W4: `connections` sessions, connection `c` as `user{c+1}`, opened `parallel` at a time;
/// prints its line once every one is in IDLE, then holds them `seconds`.
pub async fn idle(
    addr: SocketAddr,
    connections: usize,
    parallel: usize,
    domain: &str,
    password: &str,
    seconds: u64,
) -> Result<()> {
    let started = Instant::now();
    let mut opening = tokio::task::JoinSet::new();
    let mut held = Vec::with_capacity(connections);
    for c in 0..connections {
        if opening.len() >= parallel.max(1)
            && let Some(done) = opening.join_next().await
        {
            held.push(done??);
        }
        let user = login_name(c + 1, domain);
        opening.spawn(idle_session(addr, user, password.to_owned()));
    }
    while let Some(done) = opening.join_next().await {
        held.push(done??);
    }
    println!(
        "workload=imap-idle connections={} login_seconds={:.3}",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_sets() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {4096}\r\n"), Some(4096));
        assert_eq!(literal_size(b"* 1 FETCH (BINARY[] ~{12}\r\n"), Some(12));
        assert_eq!(literal_size(b"a1 OK {fine}\r\n"), None);
        assert_eq!(literal_size(b"* OK done\r\n"), None);
        assert_eq!(count_set(b"(EARLIER) 1:3,7,10:9"), 6);
        assert_eq!(count_set(b"4 5 6"), 3);
    }

    #[test]
    fn responses() {
        let line = |t: &str| Line {
            text: t.as_bytes().to_vec(),
            literal_bytes: 0,
            literals: 0,
        };
        assert_eq!(line("* 100000 EXISTS").numbered("EXISTS"), Some(100_000));
        assert_eq!(line("* 3 FETCH (FLAGS ())").numbered("FETCH"), Some(3));
        assert_eq!(line("* 3 EXPUNGE").numbered("EXISTS"), None);
        assert_eq!(line("* SEARCH 1 2").keyword("SEARCH"), Some(&b"1 2"[..]));
        assert_eq!(line("* SEARCH").keyword("SEARCH"), Some(&b""[..]));
        assert_eq!(line("* SEARCHES 1").keyword("SEARCH"), None);
        let ok = line("* OK [HIGHESTMODSEQ 715194045007] Highest");
        assert_eq!(ok.code_number("HIGHESTMODSEQ"), Some(715_194_045_007));
        assert_eq!(quoted(r#"a"b\"#), r#""a\"b\\""#);
    }
}
