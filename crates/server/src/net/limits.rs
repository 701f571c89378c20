//! Connection caps: in total, per kind of service, and per client network.

use crate::Service;
use hermod_core::throttle::network;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub(crate) struct ConnectionLimits {
    inner: Arc<Inner>,
}

/// The kinds of service capped apart: idle sessions of one must not lock out the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Smtp = 0,
    Submission = 1,
    Pop3 = 2,
    Imap = 3,
    ManageSieve = 4,
    Web = 5,
    Metrics = 6,
}

/// Connections at once on the HTTP(S) listeners: each request is bounded to seconds, so
/// programs fetching their settings never need many; a flood cannot take mail's places.
const MAX_WEB_CONNECTIONS: usize = 200;
/// The metrics listener has its own few places, so an HTTP flood cannot blind monitoring.
const MAX_METRICS_CONNECTIONS: usize = 8;

impl Class {
    fn of(service: Service) -> Class {
        match service {
            Service::Smtp => Class::Smtp,
            Service::Submission | Service::Submissions => Class::Submission,
            Service::Pop3 | Service::Pop3s => Class::Pop3,
            Service::Imap | Service::Imaps => Class::Imap,
            Service::ManageSieve => Class::ManageSieve,
            Service::Http | Service::Https => Class::Web,
            Service::Metrics => Class::Metrics,
        }
    }
}

struct Inner {
    max_total: usize,
    max_per_class: [usize; 7],
    max_per_ip: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_class: [usize; 7],
    per_network: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away; each protocol words it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooManyConnections,
    TooManyFromIp,
}

/// Holds one connection's place; dropping it frees the place.
pub(crate) struct Permit {
    inner: Arc<Inner>,
    class: Class,
    network: IpAddr,
}

impl ConnectionLimits {
    pub fn new(limits: &hermod_config::Limits) -> ConnectionLimits {
        ConnectionLimits {
            inner: Arc::new(Inner {
                max_total: limits.max_connections,
                max_per_class: [
                    limits.max_smtp_connections,
                    limits.max_submission_connections,
                    limits.max_pop3_connections,
                    limits.max_imap_connections,
                    limits.max_managesieve_connections,
                    MAX_WEB_CONNECTIONS,
                    MAX_METRICS_CONNECTIONS,
                ],
                max_per_ip: limits.max_connections_per_ip,
                open: Mutex::default(),
            }),
        }
    }

    pub fn admit(&self, service: Service, ip: IpAddr) -> Result<Permit, Refusal> {
        let class = Class::of(service);
        let network = network(ip);
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= self.inner.max_total
            || open.per_class[class as usize] >= self.inner.max_per_class[class as usize]
        {
            return Err(Refusal::TooManyConnections);
        }
        let per_network = open.per_network.entry(network).or_insert(0);
        if *per_network >= self.inner.max_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        *per_network += 1;
        open.total += 1;
        open.per_class[class as usize] += 1;
        Ok(Permit {
            inner: self.inner.clone(),
            class,
            network,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total -= 1;
        open.per_class[self.class as usize] -= 1;
        if let Some(n) = open.per_network.get_mut(&self.network) {
            *n -= 1;
            if *n == 0 {
                open.per_network.remove(&self.network);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limits() -> hermod_config::Limits {
        hermod_config::Config::defaults("x".into(), "y".into()).limits
    }

    #[test]
    fn caps_total_and_per_ip_and_frees_on_drop() {
        let mut limits = limits();
        limits.max_connections = 3;
        limits.max_connections_per_ip = 2;
        let caps = ConnectionLimits::new(&limits);
        let (a, b) = (ip("127.0.0.1"), ip("127.0.0.2"));
        let p1 = caps.admit(Service::Smtp, a).unwrap();
        let _p2 = caps.admit(Service::Pop3, a).unwrap();
        assert_eq!(
            caps.admit(Service::Smtp, a).err(),
            Some(Refusal::TooManyFromIp)
        );
        let _p3 = caps.admit(Service::Smtp, b).unwrap();
        assert_eq!(
            caps.admit(Service::Smtp, b).err(),
            Some(Refusal::TooManyConnections)
        );
        drop(p1);
        assert!(caps.admit(Service::Smtp, a).is_ok());
    }

    /// A thousand idle POP3 sessions cannot take SMTP's places.
    #[test]
    fn one_service_cannot_fill_every_place() {
        let mut limits = limits();
        limits.max_connections = 10;
        limits.max_pop3_connections = 4;
        limits.max_connections_per_ip = 100;
        let caps = ConnectionLimits::new(&limits);
        let held: Vec<_> = (0..4)
            .map(|n| {
                caps.admit(Service::Pop3, ip(&format!("10.0.0.{n}")))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            caps.admit(Service::Pop3s, ip("10.0.1.1")).err(),
            Some(Refusal::TooManyConnections),
            "pop3 and pop3s share one cap"
        );
        assert!(caps.admit(Service::Smtp, ip("10.0.1.1")).is_ok());
        drop(held);
        assert!(caps.admit(Service::Pop3, ip("10.0.1.1")).is_ok());
    }

    /// ManageSieve has its own cap: its idle sessions take no mail protocol's places.
    #[test]
    fn managesieve_is_capped_apart() {
        let mut limits = limits();
        limits.max_managesieve_connections = 1;
        let caps = ConnectionLimits::new(&limits);
        let _held = caps.admit(Service::ManageSieve, ip("10.0.0.1")).unwrap();
        assert_eq!(
            caps.admit(Service::ManageSieve, ip("10.0.0.2")).err(),
            Some(Refusal::TooManyConnections)
        );
        assert!(caps.admit(Service::Imap, ip("10.0.0.2")).is_ok());
        assert!(caps.admit(Service::Pop3, ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn an_ipv6_slash64_counts_as_one_client() {
        let mut limits = limits();
        limits.max_connections_per_ip = 2;
        let caps = ConnectionLimits::new(&limits);
        let _a = caps.admit(Service::Smtp, ip("2001:db8:1:2::1")).unwrap();
        let _b = caps
            .admit(Service::Smtp, ip("2001:db8:1:2:ffff::9"))
            .unwrap();
        assert_eq!(
            caps.admit(Service::Smtp, ip("2001:db8:1:2::abcd")).err(),
            Some(Refusal::TooManyFromIp)
        );
        assert!(caps.admit(Service::Smtp, ip("2001:db8:1:3::1")).is_ok());
    }
}
