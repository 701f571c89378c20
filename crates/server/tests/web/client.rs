//! A small HTTP/1.1 client for the web interface's tests: one request per connection, a
//! cookie jar, and the CSRF token of the last page read.

// Each test file uses its own share of these helpers.
#![allow(dead_code)]

use hermod_testkit::TestServer;
use hermod_types::Address;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
            .map(|l| l["set-cookie:".len()..].trim().to_owned())
            .collect()
    }

    /// The value of the first form's `csrf` field.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub struct Browser {
    pub addr: SocketAddr,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Browser {
        Browser {
            addr,
            cookies: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path, "").await
    }

    /// Posts form fields (URL-encoded here).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request("POST", path, &body).await
    }

    pub async fn request(&mut self, method: &str, path: &str, body: &str) -> Reply {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let cookie = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: mx.example.test\r\nConnection: close\r\n{cookie}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .expect("reply in time")
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a header");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let reply = Reply {
            status,
            head: head.to_owned(),
            body: body.to_owned(),
        };
        for set in reply.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    /// Logs in through the form; returns the reply to the POST.
    pub async fn login(&mut self, address: &str, password: &str) -> Reply {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("address", address),
                ("password", password),
            ],
        )
        .await
    }
}

/// `s` as an address (tests only name valid ones).
pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// A server with an admin (`root@`) and an account (`alice@`).
pub async fn server() -> TestServer {
    let server = TestServer::start().await;
    server.add_user("root@example.test", "root-password");
    server.add_user("alice@example.test", "alice-password");
    server
        .store
        .set_admin(&addr("root@example.test"), true)
        .unwrap();
    server
}

/// A browser logged in as `address`.
pub async fn signed_in(server: &TestServer, address: &str, password: &str) -> Browser {
    let mut browser = Browser::new(server.http);
    let reply = browser.login(address, password).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    browser
}
