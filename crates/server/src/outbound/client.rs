//! The SMTP client for relaying (RFC 5321): EHLO, opportunistic STARTTLS, MAIL, RCPT for
//! each recipient, DATA. One transaction for all recipients of a domain.

use super::mtasts::StsCheck;
use crate::net::conn::Stream;
use hermod_proto::pop3::DotStuffer;
use hermod_store::QueuedRecipient;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 5321 4.5.3.2 gives 5 minutes for most replies and 10 after the data; one bound here.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);
const BODY_CHUNK: usize = 256 * 1024;

/// A remote reply: code and text lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteReply {
    pub code: u16,
    pub text: String,
}

impl std::fmt::Display for RemoteReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// What the server said for each recipient: its RCPT reply, or the reply to the data.
pub(crate) type Outcome = Vec<(String, RemoteReply)>;

pub(crate) struct Envelope<'a> {
    pub helo: &'a str,
    pub sender: Option<&'a str>,
    pub recipients: &'a [QueuedRecipient],
    pub size: u64,
    pub smtputf8: bool,
    /// DSN (RFC 3461) parameters to pass on when the next server supports them.
    pub ret: Option<&'a str>,
    pub envid: Option<&'a str>,
    /// Smarthost credentials: AUTH PLAIN after STARTTLS.
    pub auth: Option<(&'a str, &'a str)>,
}

/// The MAIL FROM line for `envelope` given the server's extensions.
fn mail_command(envelope: &Envelope<'_>, extensions: &[String]) -> String {
    let has = |name: &str| extensions.iter().any(|e| e == name);
    let mut mail = format!("MAIL FROM:<{}>", envelope.sender.unwrap_or(""));
    if has("SIZE") {
        mail.push_str(&format!(" SIZE={}", envelope.size));
    }
    if envelope.smtputf8 {
        mail.push_str(" SMTPUTF8");
    }
    if has("DSN") {
        if let Some(ret) = envelope.ret {
            mail.push_str(&format!(" RET={ret}"));
        }
        if let Some(envid) = envelope.envid {
            mail.push_str(&format!(" ENVID={envid}"));
        }
    }
    mail
}

fn rcpt_command(rcpt: &QueuedRecipient, extensions: &[String]) -> String {
    let mut line = format!("RCPT TO:<{}>", rcpt.address);
    if extensions.iter().any(|e| e == "DSN") {
        if let Some(notify) = &rcpt.notify {
            line.push_str(&format!(" NOTIFY={notify}"));
        }
        if let Some(orcpt) = &rcpt.orcpt {
            line.push_str(&format!(" ORCPT={orcpt}"));
        }
    }
    line
}

struct Client {
    stream: Stream<TcpStream>,
    input: Vec<u8>,
}

impl Client {
    async fn reply(&mut self) -> Result<RemoteReply, String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or(format!("malformed reply {line:?}"))?;
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(RemoteReply {
                    code,
                    text: lines.join(" "),
                });
            }
        }
    }

    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(lf) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=lf).collect();
                return Ok(String::from_utf8_lossy(&line)
                    .trim_end_matches(['\r', '\n'])
                    .to_owned());
            }
            if self.input.len() > 64 * 1024 {
                return Err("reply line too long".into());
            }
            let mut buf = [0u8; 4096];
            let read = tokio::time::timeout(REPLY_TIMEOUT, self.stream.read(&mut buf)).await;
            match read {
                Ok(Ok(0)) => return Err("connection closed".into()),
                Ok(Ok(n)) => self.input.extend_from_slice(&buf[..n]),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("timeout waiting for a reply".into()),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| e.to_string())?;
        self.stream.flush().await.map_err(|e| e.to_string())
    }

    async fn cmd(&mut self, line: &str) -> Result<RemoteReply, String> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    /// EHLO (falling back to HELO); returns the extension keywords.
    async fn hello(&mut self, helo: &str) -> Result<Vec<String>, RemoteReply> {
        let temp = |e: String| RemoteReply { code: 421, text: e };
        let ehlo = self.cmd(&format!("EHLO {helo}")).await.map_err(temp)?;
        if ehlo.code == 250 {
            return Ok(ehlo
                .text
                .split(' ')
                .map(|w| w.to_ascii_uppercase())
                .collect());
        }
        let helo_reply = self.cmd(&format!("HELO {helo}")).await.map_err(temp)?;
        if helo_reply.code == 250 {
            Ok(Vec::new())
        } else {
            Err(helo_reply)
        }
    }
}

/// Open connections kept between transactions, so a burst of mail for one host does not
/// pay for TCP, TLS and EHLO every time.
#[derive(Default)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Kept>>>,
}

/// An idle connection: since when, and the extensions its server offered.
type Kept = (Instant, Client, Vec<String>);

/// How long an unused connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(10);
/// Idle connections kept per server.
const POOL_PER_HOST: usize = 4;

impl Pool {
    fn take(&self, addr: SocketAddr) -> Option<(Client, Vec<String>)> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&addr)?;
        while let Some((since, client, extensions)) = list.pop() {
            if since.elapsed() < POOL_IDLE {
                return Some((client, extensions));
            }
        }
        None
    }

    fn put(&self, addr: SocketAddr, client: Client, extensions: Vec<String>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(addr).or_default();
        if list.len() < POOL_PER_HOST {
            list.push((Instant::now(), client, extensions));
        }
    }

    /// Drops connections unused for too long.
    pub fn expire(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|(since, _, _)| since.elapsed() < POOL_IDLE);
            !list.is_empty()
        });
    }
}

/// A TCP connection to `addr` with Nagle's algorithm off. Each command group and the body
/// are already one write each, and the end of the data (`.`) is a small write right after
/// the body: with Nagle on, it waited for the receiver's delayed ACK of the body (40 ms on
/// Linux), a pause per message that capped a list's copies to one receiver at about 25/s
/// per connection (bench/lists).
async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Connects, reads the greeting, EHLO, STARTTLS when offered (required, and checked, under
/// an MTA-STS policy), AUTH for a smarthost.
async fn open(
    addr: SocketAddr,
    envelope: &Envelope<'_>,
    sts: Option<&StsCheck>,
) -> Result<(Client, Vec<String>), RemoteReply> {
    let temp = |e: String| RemoteReply {
        code: 421,
        text: format!("{addr}: {e}"),
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect(addr)).await;
    let tcp = tcp
        .map_err(|_| temp("connection timed out".into()))?
        .map_err(|e| temp(e.to_string()))?;
    if let (Some(sts), Ok(local)) = (sts, tcp.local_addr()) {
        sts.note_local(local.ip());
    }
    let mut client = Client {
        stream: Stream::Plain(tcp),
        input: Vec::new(),
    };
    let greeting = client.reply().await.map_err(temp)?;
    if greeting.code != 220 {
        return Err(greeting);
    }
    let mut extensions = client.hello(envelope.helo).await?;
    if extensions.iter().any(|e| e == "STARTTLS") {
        extensions = client.start_tls(envelope.helo, addr, sts).await?;
    } else if let Some(sts) = sts {
        sts.note_failure("starttls-not-supported");
        if sts.enforce {
            return Err(policy_refusal(sts, "offers no STARTTLS"));
        }
    }
    if let Some((user, password)) = envelope.auth {
        client.authenticate(user, password, addr).await?;
    }
    Ok((client, extensions))
}

/// Why a host cannot have the mail under an enforced MTA-STS policy: a temporary failure,
/// so the message waits for the host to be fixed (RFC 8461 5).
fn policy_refusal(sts: &StsCheck, what: &str) -> RemoteReply {
    RemoteReply {
        code: 451,
        text: format!(
            "4.7.5 {} {what}, which its domain's MTA-STS policy requires",
            sts.host
        ),
    }
}

/// Runs one transaction with the server at `addr`, on a kept connection when there is a
/// live one (not under a policy: its certificate is checked on a new one). `Err` is a
/// failure of the whole attempt (connection, greeting, EHLO or MAIL refused, or the policy
/// not met): try the next host, or defer.
pub(crate) async fn transact(
    pool: &Pool,
    addr: SocketAddr,
    envelope: &Envelope<'_>,
    body: &[u8],
    sts: Option<&StsCheck>,
) -> Result<Outcome, RemoteReply> {
    let mut reused = if sts.is_none() { pool.take(addr) } else { None };
    if let Some((client, _)) = reused.as_mut() {
        // The server may have closed it meanwhile: a NOOP tells before we start.
        if !client.cmd("NOOP").await.is_ok_and(|r| r.code == 250) {
            reused = None;
        }
    }
    let (mut client, extensions) = match reused {
        Some(kept) => kept,
        None => open(addr, envelope, sts).await?,
    };
    if envelope.smtputf8 && !extensions.iter().any(|e| e == "SMTPUTF8") {
        // RFC 6531 3.4: such a message cannot go on without the extension; say so clearly.
        let text = format!("5.6.7 {addr} does not support SMTPUTF8, which this message needs");
        pool.put(addr, client, extensions);
        return Err(RemoteReply { code: 553, text });
    }
    let outcome = client
        .transaction(addr, envelope, &extensions, body)
        .await?;
    if client.cmd("RSET").await.is_ok_and(|r| r.code == 250) {
        pool.put(addr, client, extensions);
    }
    Ok(outcome)
}

impl Client {
    async fn transaction(
        &mut self,
        addr: SocketAddr,
        envelope: &Envelope<'_>,
        extensions: &[String],
        body: &[u8],
    ) -> Result<Outcome, RemoteReply> {
        let temp = |e: String| RemoteReply {
            code: 421,
            text: format!("{addr}: {e}"),
        };
        let (mail, rcpts, data) = self.envelope(envelope, extensions).await.map_err(temp)?;
        if mail.code != 250 {
            if data.as_ref().is_some_and(|d| d.code == 354) {
                let _ = self.cmd(".").await;
            }
            return Err(mail);
        }
        let mut outcome = Vec::new();
        let mut accepted = Vec::new();
        for (rcpt, reply) in envelope.recipients.iter().zip(rcpts) {
            if reply.code == 250 || reply.code == 251 {
                accepted.push(rcpt.address.clone());
            } else {
                outcome.push((rcpt.address.clone(), reply));
            }
        }
        match data {
            Some(reply) if reply.code == 354 && accepted.is_empty() => {
                // A pipelined DATA the server took although no recipient was accepted.
                let _ = self.cmd(".").await;
            }
            Some(reply) if reply.code == 354 => {
                let reply = self.send_body(body).await.map_err(temp)?;
                outcome.extend(accepted.into_iter().map(|r| (r, reply.clone())));
            }
            Some(reply) => outcome.extend(accepted.into_iter().map(|r| (r, reply.clone()))),
            None => {}
        }
        Ok(outcome)
    }
}

impl Client {
    /// MAIL, every RCPT and DATA: in one write when the server offers PIPELINING (RFC 2920),
    /// else one at a time, stopping early when nothing more can succeed. Returns the MAIL
    /// reply, one reply per recipient, and the DATA reply if DATA was sent.
    async fn envelope(
        &mut self,
        envelope: &Envelope<'_>,
        extensions: &[String],
    ) -> Result<(RemoteReply, Vec<RemoteReply>, Option<RemoteReply>), String> {
        let mail = mail_command(envelope, extensions);
        let rcpts: Vec<String> = envelope
            .recipients
            .iter()
            .map(|r| rcpt_command(r, extensions))
            .collect();
        if extensions.iter().any(|e| e == "PIPELINING") {
            let mut batch = format!("{mail}\r\n");
            for rcpt in &rcpts {
                batch.push_str(rcpt);
                batch.push_str("\r\n");
            }
            batch.push_str("DATA\r\n");
            self.send(batch.as_bytes()).await?;
            let mail_reply = self.reply().await?;
            let mut replies = Vec::with_capacity(rcpts.len());
            for _ in &rcpts {
                replies.push(self.reply().await?);
            }
            let data = self.reply().await?;
            return Ok((mail_reply, replies, Some(data)));
        }
        let mail_reply = self.cmd(&mail).await?;
        if mail_reply.code != 250 {
            return Ok((mail_reply, Vec::new(), None));
        }
        let mut replies = Vec::with_capacity(rcpts.len());
        for rcpt in &rcpts {
            replies.push(self.cmd(rcpt).await?);
        }
        let any = replies.iter().any(|r| r.code == 250 || r.code == 251);
        let data = if any {
            Some(self.cmd("DATA").await?)
        } else {
            None
        };
        Ok((mail_reply, replies, data))
    }
}

impl Client {
    /// AUTH PLAIN to a smarthost; never in the clear.
    async fn authenticate(
        &mut self,
        user: &str,
        password: &str,
        addr: SocketAddr,
    ) -> Result<(), RemoteReply> {
        if !matches!(self.stream, Stream::ClientTls(_)) {
            let text = format!(
                "4.7.0 {addr} offers no TLS; smarthost credentials are not sent in the clear"
            );
            return Err(RemoteReply { code: 454, text });
        }
        let token = hermod_proto::sasl::encode(format!("\0{user}\0{password}").as_bytes());
        let temp = |e: String| RemoteReply {
            code: 421,
            text: format!("{addr}: {e}"),
        };
        let reply = self
            .cmd(&format!("AUTH PLAIN {token}"))
            .await
            .map_err(temp)?;
        if reply.code == 235 {
            return Ok(());
        }
        // A refused login is our configuration's fault: keep the mail and retry.
        Err(RemoteReply {
            code: 454,
            text: format!("4.7.0 smarthost refused our login: {reply}"),
        })
    }
}

impl Client {
    /// Opportunistic TLS (RFC 3207): any certificate will do, since refusing would only
    /// push the mail to plaintext or stop it. Under an MTA-STS policy the certificate must
    /// be valid for the MX name (`sts`, which refuses or only notes a bad one).
    async fn start_tls(
        &mut self,
        helo: &str,
        addr: SocketAddr,
        sts: Option<&StsCheck>,
    ) -> Result<Vec<String>, RemoteReply> {
        let temp = |e: String| RemoteReply {
            code: 421,
            text: format!("{addr}: {e}"),
        };
        let reply = self.cmd("STARTTLS").await.map_err(temp)?;
        if reply.code != 220 {
            if let Some(sts) = sts {
                sts.note_failure("starttls-not-supported");
                if sts.enforce {
                    return Err(policy_refusal(sts, "refused STARTTLS"));
                }
            }
            return self.hello(helo).await;
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(temp("TLS already active".into()));
        };
        let (config, name) = match sts {
            Some(sts) => (sts.config.clone(), sts.host.clone()),
            None => (
                crate::net::tls::opportunistic_client_config(),
                addr.ip().to_string(),
            ),
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let name = ServerName::try_from(name).map_err(|e| temp(e.to_string()))?;
        let tls = match connector.connect(name, tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                let Some(sts) = sts else {
                    return Err(temp(format!("TLS: {e}")));
                };
                if sts.failure().is_none() {
                    sts.note_failure("validation-failure");
                }
                return Err(match sts.enforce {
                    true => policy_refusal(sts, &format!("failed the TLS handshake ({e})")),
                    false => temp(format!("TLS: {e}")),
                });
            }
        };
        if let Some(sts) = sts {
            sts.note_tls();
        }
        self.stream = Stream::ClientTls(Box::new(tls));
        self.input.clear();
        self.hello(helo).await
    }

    /// The message as the runner prepared it, dot-stuffed, in pieces.
    async fn send_body(&mut self, body: &[u8]) -> Result<RemoteReply, String> {
        let mut stuffer = DotStuffer::default();
        let mut out = Vec::with_capacity(BODY_CHUNK + 1024);
        for chunk in body.chunks(BODY_CHUNK) {
            out.clear();
            stuffer.encode(chunk, &mut out);
            self.send(&out).await?;
        }
        out.clear();
        stuffer.finish(&mut out);
        self.send(&out).await?;
        self.reply().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_send_without_waiting_for_acks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(tcp.nodelay().unwrap());
    }
}
