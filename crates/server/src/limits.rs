//! Connection caps: in total and per client IP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub(crate) struct ConnectionLimits {
    inner: Arc<Inner>,
}

struct Inner {
    max_total: usize,
    max_per_ip: usize,
    open: Mutex<(usize, HashMap<IpAddr, usize>)>,
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
    ip: IpAddr,
}

impl ConnectionLimits {
    pub fn new(limits: &hermod_config::Limits) -> ConnectionLimits {
        ConnectionLimits {
            inner: Arc::new(Inner {
                max_total: limits.max_connections,
                max_per_ip: limits.max_connections_per_ip,
                open: Mutex::new((0, HashMap::new())),
            }),
        }
    }

    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.0 >= self.inner.max_total {
            return Err(Refusal::TooManyConnections);
        }
        let per_ip = open.1.entry(ip).or_insert(0);
        if *per_ip >= self.inner.max_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        *per_ip += 1;
        open.0 += 1;
        Ok(Permit {
            inner: self.inner.clone(),
            ip,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.inner.open.lock().unwrap_or_else(|e| e.into_inner());
        open.0 -= 1;
        if let Some(n) = open.1.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.1.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_ip_and_frees_on_drop() {
        let mut limits = hermod_config::Config::defaults("x".into(), "y".into()).limits;
        limits.max_connections = 3;
        limits.max_connections_per_ip = 2;
        let caps = ConnectionLimits::new(&limits);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = caps.admit(a).unwrap();
        let _p2 = caps.admit(a).unwrap();
        assert_eq!(caps.admit(a).err(), Some(Refusal::TooManyFromIp));
        let _p3 = caps.admit(b).unwrap();
        assert_eq!(caps.admit(b).err(), Some(Refusal::TooManyConnections));
        drop(p1);
        assert!(caps.admit(a).is_ok());
    }
}
