//! An authoritative fake DNS server on loopback (UDP and TCP on one port), so hermod's real
//! resolvers (hickory for MX, mail-auth for SPF/DKIM/DMARC, block lists and reverse DNS) can
//! be tested without the internet. Records are added while it runs; unknown names get
//! NXDOMAIN, known names without the asked type an empty answer.

use hickory_resolver::proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, PTR, SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Default)]
struct Zone {
    records: HashMap<String, Vec<RData>>,
    failing: Vec<String>,
    silent: Vec<String>,
    queries: Vec<(String, String)>,
}

pub struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<Zone>>,
    tasks: Vec<JoinHandle<()>>,
}

/// Lowercase, no trailing dot: the key of a name.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl DnsServer {
    /// Binds UDP and TCP on the same loopback port.
    pub async fn start() -> DnsServer {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let port = udp.local_addr().expect("udp addr").port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("udp addr");
        let zone = Arc::new(Mutex::new(Zone::default()));
        let tasks = vec![
            tokio::spawn(serve_udp(udp, zone.clone())),
            tokio::spawn(serve_tcp(tcp, zone.clone())),
        ];
        DnsServer { addr, zone, tasks }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn add(&self, name: &str, data: RData) {
        let mut zone = self.zone.lock().unwrap();
        zone.records.entry(key(name)).or_default().push(data);
    }

    pub fn add_a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, RData::A(A(ip)));
    }

    pub fn add_aaaa(&self, name: &str, ip: Ipv6Addr) {
        self.add(name, RData::AAAA(AAAA(ip)));
    }

    pub fn add_mx(&self, name: &str, preference: u16, exchange: &str) {
        let exchange = Name::from_ascii(format!("{}.", key(exchange))).expect("exchange name");
        self.add(name, RData::MX(MX::new(preference, exchange)));
    }

    /// A TXT record; long text is split into 255-byte strings (resolvers join them). Split
    /// as bytes, not as `String`s: a cut inside a UTF-8 character must survive the join.
    pub fn add_txt(&self, name: &str, text: &str) {
        let chunks = text.as_bytes().chunks(255).collect();
        self.add(name, RData::TXT(TXT::from_bytes(chunks)));
    }

    /// The PTR record of `ip` (its in-addr.arpa or ip6.arpa name).
    pub fn add_ptr(&self, ip: IpAddr, name: &str) {
        let target = Name::from_ascii(format!("{}.", key(name))).expect("ptr name");
        self.add(&reverse_name(ip), RData::PTR(PTR(target)));
    }

    /// Forgets every record of `name`.
    pub fn remove(&self, name: &str) {
        self.zone.lock().unwrap().records.remove(&key(name));
    }

    /// Names ending in `suffix` get SERVFAIL (a broken or unreachable zone).
    pub fn set_failing(&self, suffix: &str) {
        self.zone.lock().unwrap().failing.push(key(suffix));
    }

    /// Every question asked so far: (name, type), e.g. ("example.test", "MX").
    /// Names under `suffix` are never answered, as from a server that is down or dropping
    /// packets: the client's own timeout is all that ends the wait.
    pub fn set_silent(&self, suffix: &str) {
        self.zone.lock().unwrap().silent.push(key(suffix));
    }

    pub fn queries(&self) -> Vec<(String, String)> {
        self.zone.lock().unwrap().queries.clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut name = String::new();
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            name + "ip6.arpa"
        }
    }
}

async fn serve_udp(socket: UdpSocket, zone: Arc<Mutex<Zone>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = answer(&buf[..n], &zone, true) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

async fn serve_tcp(listener: TcpListener, zone: Arc<Mutex<Zone>>) {
    // Connections live in this set so that aborting this task (on drop) ends them too.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        connections.spawn(serve_tcp_connection(stream, zone.clone()));
    }
}

/// Two-byte length before each message (RFC 1035 4.2.2); many queries per connection.
async fn serve_tcp_connection(mut stream: tokio::net::TcpStream, zone: Arc<Mutex<Zone>>) {
    while let Ok(len) = stream.read_u16().await {
        let mut query = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(reply) = answer(&query, &zone, false) else {
            return;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// The encoded reply to an encoded query; `None` for bytes that are not a query. Over UDP a
/// reply larger than the client accepts (512 bytes, or its EDNS size) is cut to the question
/// with TC set, as a real server does: the client retries over TCP (long DKIM keys do this).
fn answer(query: &[u8], zone: &Mutex<Zone>, udp: bool) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let reply = reply(&request, zone)?;
    let bytes = reply.to_vec().ok()?;
    if udp && bytes.len() > usize::from(request.max_payload()) {
        return reply.truncate().to_vec().ok();
    }
    Some(bytes)
}

/// The reply to a decoded query, answered from the zone (`None`: stay silent).
fn reply(request: &Message, zone: &Mutex<Zone>) -> Option<Message> {
    let question = request.queries.first()?.clone();
    let name = key(&question.name.to_ascii());
    let kind = question.query_type;
    let mut reply = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    let mut zone = zone.lock().unwrap();
    zone.queries.push((name.clone(), kind.to_string()));
    let under = |suffixes: &[String]| {
        suffixes
            .iter()
            .any(|s| name == *s || name.ends_with(&format!(".{s}")))
    };
    if under(&zone.silent) {
        return None;
    }
    if under(&zone.failing) {
        reply.metadata.response_code = ResponseCode::ServFail;
        return Some(reply);
    }
    match zone.records.get(&name) {
        None => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(negative_soa(&name));
        }
        Some(records) => {
            for data in records
                .iter()
                .filter(|d| d.record_type() == kind || kind == RecordType::ANY)
            {
                reply.add_answer(Record::from_rdata(question.name.clone(), 60, data.clone()));
            }
        }
    }
    if reply.answers.is_empty() && reply.authorities.is_empty() {
        reply.add_authority(negative_soa(&name));
    }
    Some(reply)
}

/// The SOA of a negative answer (RFC 2308): resolvers cache the "no" for its minimum TTL,
/// as they would with a real zone. The zone is the name's last label.
fn negative_soa(name: &str) -> Record {
    let apex = name.rsplit('.').next().unwrap_or("test");
    let zone = Name::from_ascii(format!("{apex}.")).unwrap_or_else(|_| Name::root());
    let host =
        |label: &str| Name::from_ascii(format!("{label}.{apex}.")).unwrap_or_else(|_| Name::root());
    let soa = SOA::new(host("ns"), host("hostmaster"), 1, 3600, 600, 86_400, 5);
    Record::from_rdata(zone, 5, RData::SOA(soa))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::TokioResolver;
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use hickory_resolver::net::runtime::TokioRuntimeProvider;

    fn resolver(addr: SocketAddr) -> TokioResolver {
        let mut server = NameServerConfig::udp_and_tcp(addr.ip());
        for connection in &mut server.connections {
            connection.port = addr.port();
        }
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
        let mut opts = ResolverOpts::default();
        opts.cache_size = 0;
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn answers_what_it_was_given() {
        let dns = DnsServer::start().await;
        dns.add_a("Host.Example.test.", Ipv4Addr::new(192, 0, 2, 1));
        dns.add_aaaa("host.example.test", "2001:db8::1".parse().unwrap());
        dns.add_mx("example.test", 10, "host.example.test");
        let long = "v=DKIM1; k=rsa; p=".to_owned() + &"A".repeat(400);
        dns.add_txt("sel._domainkey.example.test", &long);
        dns.add_ptr("192.0.2.1".parse().unwrap(), "host.example.test");
        dns.add_ptr("2001:db8::1".parse().unwrap(), "host.example.test");
        let r = resolver(dns.addr());
        let data = |lookup: hickory_resolver::lookup::Lookup| -> Vec<RData> {
            lookup.answers().iter().map(|r| r.data.clone()).collect()
        };
        let a = data(r.lookup("host.example.test.", RecordType::A).await.unwrap());
        assert_eq!(a, vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))]);
        let aaaa = data(
            r.lookup("host.example.test.", RecordType::AAAA)
                .await
                .unwrap(),
        );
        assert_eq!(
            aaaa,
            vec![RData::AAAA(AAAA("2001:db8::1".parse().unwrap()))]
        );
        let mx = data(r.lookup("example.test.", RecordType::MX).await.unwrap());
        let RData::MX(mx) = &mx[0] else {
            panic!("{mx:?}")
        };
        assert_eq!(
            (mx.preference, mx.exchange.to_ascii()),
            (10, "host.example.test.".into())
        );
        let txt = r.txt_lookup("sel._domainkey.example.test.").await.unwrap();
        assert_eq!(txt_bytes(&txt), long.as_bytes());
        // hickory builds the arpa names itself: an independent check of `reverse_name`.
        for ip in ["192.0.2.1", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            let ptr = data(r.reverse_lookup(ip).await.unwrap());
            let RData::PTR(ptr) = &ptr[0] else {
                panic!("{ptr:?}")
            };
            assert_eq!(ptr.0.to_ascii(), "host.example.test.");
        }
        assert!(
            dns.queries()
                .contains(&("example.test".into(), "MX".into()))
        );
    }

    #[tokio::test]
    async fn nxdomain_nodata_and_servfail() {
        let dns = DnsServer::start().await;
        dns.add_a("only-a.example.test", Ipv4Addr::LOCALHOST);
        dns.set_failing("broken.test");
        let r = resolver(dns.addr());
        let missing = r
            .lookup("nothing.example.test.", RecordType::A)
            .await
            .unwrap_err();
        assert!(missing.is_nx_domain(), "{missing}");
        let nodata = r
            .lookup("only-a.example.test.", RecordType::TXT)
            .await
            .unwrap_err();
        assert!(
            nodata.is_no_records_found() && !nodata.is_nx_domain(),
            "{nodata}"
        );
        let failed = r.lookup("x.broken.test.", RecordType::A).await.unwrap_err();
        assert!(
            !failed.is_nx_domain() && !failed.is_no_records_found(),
            "{failed}"
        );
        dns.remove("only-a.example.test");
        assert!(
            r.lookup("only-a.example.test.", RecordType::A)
                .await
                .unwrap_err()
                .is_nx_domain()
        );
    }

    /// The joined character-strings of the first TXT answer.
    fn txt_bytes(lookup: &hickory_resolver::lookup::Lookup) -> Vec<u8> {
        let RData::TXT(txt) = &lookup.answers()[0].data else {
            panic!("{lookup:?}")
        };
        txt.txt_data.iter().flat_map(|c| c.to_vec()).collect()
    }

    /// A raw-socket step that fails the test instead of hanging when no reply comes.
    async fn within<T>(step: impl std::future::Future<Output = T>) -> T {
        let limit = std::time::Duration::from_secs(5);
        tokio::time::timeout(limit, step).await.expect("no reply")
    }

    fn query_bytes(name: &str, kind: RecordType) -> Vec<u8> {
        let mut query = Message::new(7, MessageType::Query, OpCode::Query);
        let name = Name::from_ascii(name).unwrap();
        query.add_query(hickory_resolver::proto::op::Query::query(name, kind));
        query.to_vec().unwrap()
    }

    #[tokio::test]
    async fn too_big_for_udp_comes_over_tcp() {
        let dns = DnsServer::start().await;
        // 'é' is two bytes; at offset 254 it straddles the first 255-byte cut.
        let text = "a".repeat(254) + &"é".repeat(1500);
        dns.add_txt("big.example.test", &text);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let query = query_bytes("big.example.test.", RecordType::TXT);
        udp.send_to(&query, dns.addr()).await.unwrap();
        let mut buf = vec![0u8; 65_535];
        let n = within(udp.recv(&mut buf)).await.unwrap();
        let cut = Message::from_vec(&buf[..n]).unwrap();
        assert!(cut.metadata.truncation && cut.answers.is_empty(), "{cut:?}");
        let r = resolver(dns.addr());
        let lookup = r.txt_lookup("big.example.test.").await.unwrap();
        assert_eq!(txt_bytes(&lookup), text.as_bytes());
    }

    #[tokio::test]
    async fn tcp_serves_several_queries_per_connection() {
        let dns = DnsServer::start().await;
        dns.add_a("host.example.test", Ipv4Addr::new(192, 0, 2, 7));
        let mut tcp = tokio::net::TcpStream::connect(dns.addr()).await.unwrap();
        for kind in [RecordType::A, RecordType::MX] {
            let query = query_bytes("host.example.test.", kind);
            tcp.write_u16(query.len() as u16).await.unwrap();
            tcp.write_all(&query).await.unwrap();
            let mut reply = vec![0u8; usize::from(within(tcp.read_u16()).await.unwrap())];
            within(tcp.read_exact(&mut reply)).await.unwrap();
            let reply = Message::from_vec(&reply).unwrap();
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert!(reply.metadata.authoritative);
            assert_eq!(reply.answers.len(), usize::from(kind == RecordType::A));
        }
    }
}
