//! The HTTP(S) listeners: account settings for email programs (`autoconfig`), the MTA-STS
//! policy, lists' one-click unsubscribe (`unsubscribe`), and Prometheus metrics on their own
//! listener. HTTP/1.1 by hyper; a handful of
//! fixed paths are routed by hand. Every request is bounded: header size, time, body size.

mod autoconfig;
mod unsubscribe;

use crate::{Context, Service};
use autoconfig::Offer;
use hermod_types::{Address, Domain};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Request line and header fields together (hyper's smallest read buffer).
const MAX_HEADER: usize = 8 * 1024;
/// An autodiscover request is a few hundred bytes, a one-click unsubscribe fewer.
const MAX_BODY: usize = 16 * 1024;
/// The time a request may take to arrive, header and body (and an HTTPS handshake).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection is closed after this long, whatever it is doing.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

type Reply = Response<Full<Bytes>>;

/// Where HTTP-01 (RFC 8555 8.3) looks for a token's key authorization.
const ACME_CHALLENGE: &str = "/.well-known/acme-challenge/";

/// Serves HTTP/1.1 on an accepted (and, for HTTPS, handshaken) connection until the client
/// closes it, its time is up, or the server shuts down (requests in flight finish first).
pub(crate) async fn serve<S>(
    ctx: Arc<Context>,
    service: Service,
    stream: S,
    peer: SocketAddr,
    mut shutdown: crate::shutdown::Shutdown,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handler = hyper::service::service_fn(move |request| {
        let ctx = ctx.clone();
        async move {
            let path = request.uri().path().to_ascii_lowercase();
            if service != Service::Metrics && crate::web::is_web_path(&path) {
                return Ok::<_, Infallible>(crate::web::handle(ctx, service, peer, request).await);
            }
            Ok::<_, Infallible>(respond(&ctx, service, request).await)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .max_buf_size(MAX_HEADER)
        .max_headers(64)
        .serve_connection(TokioIo::new(stream), handler);
    tokio::pin!(connection);
    let deadline = tokio::time::sleep(CONNECTION_LIFETIME);
    tokio::pin!(deadline);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(service = service.name(), %peer, error = %e, "HTTP connection");
            }
            return;
        }
        _ = &mut deadline => {}
        _ = shutdown.wait() => {}
    }
    // Finish the request in flight (bounded), then close.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection).await;
}

async fn respond(ctx: &Context, service: Service, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_ascii_lowercase();
    let method = request.method().clone();
    let reply = match (service, path.as_str()) {
        (Service::Metrics, "/metrics") => get(&method, || metrics(ctx)).await,
        (Service::Metrics, _) => not_found(),
        (_, p) if p.starts_with(ACME_CHALLENGE) => {
            // Tokens are case-sensitive: the path as sent, not lowercased.
            let token = &request.uri().path()[ACME_CHALLENGE.len()..];
            get(&method, || async { acme_challenge(ctx, token) }).await
        }
        (_, "/.well-known/autoconfig/mail/config-v1.1.xml" | "/mail/config-v1.1.xml") => {
            get(&method, || thunderbird(ctx, &request)).await
        }
        (_, "/autodiscover/autodiscover.xml") if method == Method::POST => {
            outlook(ctx, request).await
        }
        (_, "/autodiscover/autodiscover.xml") => method_not_allowed("POST"),
        (_, "/apple/profile.mobileconfig") => get(&method, || apple(ctx, &request)).await,
        (_, "/.well-known/mta-sts.txt") => get(&method, || async { mta_sts(ctx) }).await,
        (_, p) if unsubscribe::routes(p) => unsubscribe::respond(ctx, request).await,
        _ => not_found(),
    };
    tracing::debug!(service = service.name(), %method, %path, status = %reply.status(), "HTTP");
    reply
}

/// Runs `handler` for GET and HEAD (hyper leaves the body out of a HEAD reply).
async fn get<F, Fut>(method: &Method, handler: F) -> Reply
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    match *method {
        Method::GET | Method::HEAD => handler().await,
        _ => method_not_allowed("GET, HEAD"),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn text(status: StatusCode, message: &str) -> Reply {
    let body = format!("{message}\n");
    reply(status, "text/plain; charset=utf-8", body)
}

fn not_found() -> Reply {
    text(StatusCode::NOT_FOUND, "not found")
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    let allow = HeaderValue::from_static(allow);
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

fn offer(ctx: &Context) -> (String, Vec<hermod_core::selfhost::ClientService>) {
    (ctx.config.hostname.clone(), ctx.client_services.clone())
}

/// A request refused before any settings were made: its status and a line of text.
struct Refused(StatusCode, &'static str);

impl Refused {
    fn reply(self) -> Reply {
        text(self.0, self.1)
    }
}

/// The value of query parameter `name`, percent-decoded.
fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The domain a request is about: the `emailaddress` parameter's, else the Host name less
/// its `autoconfig.` label. Only local domains get settings: anything else is not ours.
async fn local_domain(ctx: &Context, request: &Request<Incoming>) -> Result<Domain, Refused> {
    let domain = match query_param(request, "emailaddress") {
        Some(address) => parse_address(&address)?.domain().clone(),
        None => {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let host = host.rsplit_once(':').map_or(host, |(name, _)| name);
            let host = host.strip_prefix("autoconfig.").unwrap_or(host);
            Domain::parse(host).map_err(|_| {
                Refused(
                    StatusCode::BAD_REQUEST,
                    "give ?emailaddress=, or ask autoconfig.DOMAIN",
                )
            })?
        }
    };
    require_local(ctx, domain).await
}

async fn require_local(ctx: &Context, domain: Domain) -> Result<Domain, Refused> {
    match ctx.store.is_local_domain(&domain).await {
        Ok(true) => Ok(domain),
        Ok(false) => Err(Refused(
            StatusCode::NOT_FOUND,
            "not a domain of this server",
        )),
        Err(e) => {
            tracing::warn!(error = %e, "autoconfig: store lookup failed");
            Err(Refused(StatusCode::SERVICE_UNAVAILABLE, "try again later"))
        }
    }
}

fn parse_address(text: &str) -> Result<Address, Refused> {
    Address::parse(text.trim())
        .map_err(|_| Refused(StatusCode::BAD_REQUEST, "not an email address"))
}

async fn thunderbird(ctx: &Context, request: &Request<Incoming>) -> Reply {
    let domain = match local_domain(ctx, request).await {
        Ok(domain) => domain,
        Err(refused) => return refused.reply(),
    };
    let (hostname, services) = offer(ctx);
    let offer = Offer {
        hostname: &hostname,
        services: &services,
    };
    let body = autoconfig::thunderbird(&offer, domain.as_str());
    reply(StatusCode::OK, "text/xml; charset=utf-8", body)
}

async fn outlook(ctx: &Context, request: Request<Incoming>) -> Reply {
    let limited = Limited::new(request.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "request body too slow"),
    };
    let body = String::from_utf8_lossy(&body);
    let Some(address) = autoconfig::autodiscover_address(&body) else {
        return text(StatusCode::BAD_REQUEST, "no <EMailAddress> in the request");
    };
    let address = match parse_address(&address) {
        Ok(address) => address,
        Err(refused) => return refused.reply(),
    };
    if let Err(refused) = require_local(ctx, address.domain().clone()).await {
        return refused.reply();
    }
    let (hostname, services) = offer(ctx);
    let offer = Offer {
        hostname: &hostname,
        services: &services,
    };
    let body = autoconfig::autodiscover(&offer, &address);
    reply(StatusCode::OK, "application/xml; charset=utf-8", body)
}

async fn apple(ctx: &Context, request: &Request<Incoming>) -> Reply {
    let Some(address) = query_param(request, "emailaddress") else {
        return text(StatusCode::BAD_REQUEST, "give ?emailaddress=");
    };
    let address = match parse_address(&address) {
        Ok(address) => address,
        Err(refused) => return refused.reply(),
    };
    if let Err(refused) = require_local(ctx, address.domain().clone()).await {
        return refused.reply();
    }
    let (hostname, services) = offer(ctx);
    let offer = Offer {
        hostname: &hostname,
        services: &services,
    };
    let Some(profile) = autoconfig::apple_profile(&offer, &address) else {
        return text(
            StatusCode::NOT_FOUND,
            "this server offers no incoming or no outgoing mail service",
        );
    };
    let mut response = reply(StatusCode::OK, "application/x-apple-aspen-config", profile);
    let disposition = HeaderValue::from_static("attachment; filename=\"mail.mobileconfig\"");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    response
}

/// An HTTP-01 answer while its challenge is pending (the CA may follow a redirect from
/// port 80 to HTTPS, so both listeners answer).
fn acme_challenge(ctx: &Context, token: &str) -> Reply {
    match ctx.certificate.http_challenge(token) {
        Some(answer) => reply(StatusCode::OK, "application/octet-stream", answer),
        None => not_found(),
    }
}

fn mta_sts(ctx: &Context) -> Reply {
    let policy = crate::mta_sts_policy(&ctx.config);
    let mut response = reply(StatusCode::OK, "text/plain", policy);
    // Senders cache by max_age; the HTTP cache should not outlive an edit by much.
    let cache = HeaderValue::from_static("max-age=300");
    response.headers_mut().insert(header::CACHE_CONTROL, cache);
    response
}

async fn metrics(ctx: &Context) -> Reply {
    let gauges = match ctx.store.queue().await {
        Ok(entries) => queue_gauges(&entries),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the queue");
            Vec::new()
        }
    };
    let body = hermod_types::metrics::metrics().render(&gauges);
    reply(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        body,
    )
}

fn queue_gauges(entries: &[hermod_store::QueueEntry]) -> Vec<hermod_types::metrics::Gauge> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let oldest = entries.iter().map(|e| e.created).min();
    let recipients: usize = entries.iter().map(|e| e.recipients.len()).sum();
    vec![
        hermod_types::metrics::Gauge {
            name: "hermod_queue_messages",
            help: "Messages in the outbound queue.",
            value: entries.len() as f64,
        },
        hermod_types::metrics::Gauge {
            name: "hermod_queue_recipients",
            help: "Recipients of messages in the outbound queue.",
            value: recipients as f64,
        },
        hermod_types::metrics::Gauge {
            name: "hermod_queue_oldest_age_seconds",
            help: "Age of the oldest message in the outbound queue (0 when empty).",
            value: oldest.map_or(0, |created| (now - created).max(0)) as f64,
        },
    ]
}

/// The services email programs may use, as this configuration offers them: a port for each
/// one hermod listens on (the first address's), `None` for the others. Autoconfiguration,
/// SRV records and `hermod check` all advertise from this one list.
pub fn client_services(
    config: &hermod_config::Config,
) -> Vec<hermod_core::selfhost::ClientService> {
    services_on(config, |_, addrs| addrs.first().map(|a| a.port()))
}

/// [`client_services`] with the port of each service as `port` says (the server passes the
/// ports it bound, which differ from the configuration's when it says port 0).
pub(crate) fn services_on(
    config: &hermod_config::Config,
    port: impl Fn(Service, &[SocketAddr]) -> Option<u16>,
) -> Vec<hermod_core::selfhost::ClientService> {
    let offered = |service: Service, addrs: &[SocketAddr]| port(service, addrs);
    let l = &config.listen;
    let services: [(&'static str, Service, &[SocketAddr]); 6] = [
        ("submissions", Service::Submissions, &l.submissions),
        ("submission", Service::Submission, &l.submission),
        ("imaps", Service::Imaps, &l.imaps),
        ("imap", Service::Imap, &l.imap),
        ("pop3s", Service::Pop3s, &l.pop3s),
        ("pop3", Service::Pop3, &l.pop3),
    ];
    services
        .into_iter()
        .map(
            |(srv_name, service, addrs)| hermod_core::selfhost::ClientService {
                srv_name,
                port: offered(service, addrs),
                implicit_tls: service.implicit_tls(),
            },
        )
        .collect()
}

/// The zone-file text a local domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV,
/// autoconfig) as this configuration serves it: what `hermod domain dns` prints and the web's
/// domain page shows. `dkim_keys`: the domain's keys from the store.
pub fn domain_records(
    config: &hermod_config::Config,
    domain: &Domain,
    dkim_keys: &[hermod_store::DkimKeyRecord],
    public_ips: &[std::net::IpAddr],
) -> String {
    let services = client_services(config);
    let policy = mta_sts_policy(config);
    let serves_policy =
        !config.listen.https.is_empty() && config.mta_sts.mode != hermod_config::MtaStsMode::None;
    hermod_core::selfhost::dns_records(&hermod_core::selfhost::DomainSetup {
        domain: domain.as_str(),
        hostname: &config.hostname,
        dkim_keys,
        public_ips,
        services: &services,
        mta_sts_policy: serves_policy.then_some(policy.as_str()),
    })
}

/// The MTA-STS policy this configuration serves.
pub fn mta_sts_policy(config: &hermod_config::Config) -> String {
    let sts = &config.mta_sts;
    hermod_core::selfhost::mta_sts_policy(
        sts.mode.as_str(),
        &sts.mx_names(&config.hostname),
        sts.max_age.as_secs(),
    )
}
