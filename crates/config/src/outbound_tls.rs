//! `[outbound_tls]`: what the relay demands of other servers' TLS: MTA-STS (RFC 8461) and
//! the TLS reports it sends to domains that ask for them (TLS-RPT, RFC 8460).

use crate::walker::Section;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct OutboundTls {
    /// Fetch and honour recipient domains' MTA-STS policies (not for a smarthost).
    pub mta_sts: bool,
    /// Extra CA certificates (PEM) trusted besides the system's, for policy fetches and MX
    /// certificates (private CAs, tests).
    pub ca_file: Option<PathBuf>,
    /// The port policies are fetched from (443; tests point it elsewhere).
    pub policy_port: u16,
    /// Send TLS-RPT reports to the domains whose policies the relay met.
    pub tls_rpt: bool,
    /// How often reports go out (RFC 8460 asks for daily ones).
    pub report_interval: Duration,
    /// The reports' sender; empty: `postmaster@` the first local domain (it must be a local
    /// domain with DKIM keys: RFC 8460 asks for signed reports).
    pub report_from: Option<String>,
}

impl Default for OutboundTls {
    fn default() -> OutboundTls {
        OutboundTls {
            mta_sts: true,
            ca_file: None,
            policy_port: 443,
            tls_rpt: true,
            report_interval: Duration::from_secs(86_400),
            report_from: None,
        }
    }
}

pub(crate) fn read_outbound_tls(root: &mut Section<'_>, tls: &mut OutboundTls, base: &Path) {
    let Some(mut s) = root.section("outbound_tls") else {
        return;
    };
    if let Some(v) = s.boolean("mta_sts") {
        tls.mta_sts = v;
    }
    tls.ca_file = s.path("ca_file", base);
    if let Some(port) = s.integer("policy_port", 1) {
        match u16::try_from(port) {
            Ok(port) => tls.policy_port = port,
            Err(_) => s.error("policy_port", format!("must be a port number, got {port}")),
        }
    }
    if let Some(v) = s.boolean("tls_rpt") {
        tls.tls_rpt = v;
    }
    if let Some(v) = s.duration("report_interval") {
        tls.report_interval = v;
    }
    if let Some(from) = s.string("report_from") {
        match from.as_str() {
            "" => tls.report_from = None,
            f if f.contains('@') => tls.report_from = Some(from),
            _ => s.error("report_from", format!("expected an address, got {from:?}")),
        }
    }
    root.absorb(s);
}
