//! TLS-RPT (RFC 8460): the relay counts, per domain with an MTA-STS policy, the sessions
//! that met it and the failures by result type and MX; every `report_interval` each such
//! domain that publishes a `_smtp._tls` record gets the aggregate as gzipped JSON, by mail
//! to its `mailto:` addresses. The counts are in memory, per process: a restart forgets the
//! current period's.

use crate::Context;
use crate::net::shutdown::Shutdown;
use hermod_core::mtasts::{StsPolicy, tlsrpt_mailto};
use hermod_store::{Outbound, OutboundRecipient};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// One domain's sessions in the current period.
#[derive(Debug, Default)]
struct DomainCounts {
    policy: Option<StsPolicy>,
    successes: u64,
    /// By what failed where.
    failures: BTreeMap<Failure, u64>,
}

/// A kind of failed session: RFC 8460 4.3's result type, and (when known) the receiving MX's
/// name and address and our address.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Failure {
    pub result_type: &'static str,
    pub mx: Option<String>,
    pub receiving_ip: Option<String>,
    pub sending_ip: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct TlsReports {
    period: Mutex<(i64, BTreeMap<String, DomainCounts>)>,
}

impl TlsReports {
    fn with(&self, domain: &str, policy: Option<&StsPolicy>, f: impl FnOnce(&mut DomainCounts)) {
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        if period.0 == 0 {
            period.0 = hermod_message::unix_now();
        }
        let counts = period.1.entry(domain.to_owned()).or_default();
        if let Some(policy) = policy {
            counts.policy = Some(policy.clone());
        }
        f(counts);
    }

    pub fn success(&self, domain: &str, policy: &StsPolicy) {
        self.with(domain, Some(policy), |c| c.successes += 1);
    }

    pub fn failure(&self, domain: &str, policy: Option<&StsPolicy>, failure: Failure) {
        self.with(domain, policy, |c| {
            *c.failures.entry(failure).or_default() += 1
        });
    }

    /// The period's counts, and its start; a new period begins.
    fn take(&self) -> (i64, BTreeMap<String, DomainCounts>) {
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *period)
    }
}

/// Sends the reports every `[outbound_tls] report_interval` until shutdown.
pub(crate) async fn run(ctx: Arc<Context>, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ctx.config.outbound_tls.report_interval) => {}
            _ = shutdown.wait() => return,
        }
        let sent = send_reports(&ctx).await;
        if sent > 0 {
            ctx.outbound_wake.notify_one();
        }
    }
}

/// Queues one report per domain that asks for them; how many were queued.
async fn send_reports(ctx: &Context) -> usize {
    let (start, domains) = ctx.tls_reports.take();
    if domains.is_empty() {
        return 0;
    }
    let end = hermod_message::unix_now();
    let Some(from) = report_sender(ctx).await else {
        tracing::warn!("no sender for TLS reports: set [outbound_tls] report_from");
        return 0;
    };
    let mut sent = 0;
    for (domain, counts) in domains {
        let rua = tlsrpt_mailto(&ctx.sts.txt(&format!("_smtp._tls.{domain}")).await);
        if rua.is_empty() {
            continue;
        }
        let report = Report {
            submitter: &ctx.config.hostname,
            domain: &domain,
            counts: &counts,
            start,
            end,
        };
        match queue_report(ctx, &from, &rua, &report).await {
            Ok(()) => sent += 1,
            Err(e) => tracing::warn!(domain, error = %e, "queueing a TLS report failed"),
        }
    }
    sent
}

async fn report_sender(ctx: &Context) -> Option<String> {
    if let Some(from) = &ctx.config.outbound_tls.report_from {
        return Some(from.clone());
    }
    let domains = ctx.store.domains().await.ok()?;
    domains.first().map(|d| format!("postmaster@{d}"))
}

struct Report<'a> {
    submitter: &'a str,
    domain: &'a str,
    counts: &'a DomainCounts,
    start: i64,
    end: i64,
}

impl Report<'_> {
    fn id(&self) -> String {
        format!(
            "{}.{}.{}@{}",
            self.start, self.end, self.domain, self.submitter
        )
    }

    /// RFC 8460 4.4's JSON.
    fn json(&self, contact: &str) -> String {
        let date = |t: i64| rfc3339(t);
        let policy = match &self.counts.policy {
            Some(policy) => serde_json::json!({
                "policy-type": "sts",
                "policy-string": policy.lines,
                "policy-domain": self.domain,
                "mx-host": policy.mx,
            }),
            // Its record named a policy that could not be had.
            None => serde_json::json!({
                "policy-type": "sts",
                "policy-domain": self.domain,
            }),
        };
        let failed: u64 = self.counts.failures.values().sum();
        let details: Vec<_> = self
            .counts
            .failures
            .iter()
            .map(|(failure, n)| {
                let mut detail = serde_json::json!({
                    "result-type": failure.result_type,
                    "failed-session-count": n,
                });
                let optional = [
                    ("sending-mta-ip", &failure.sending_ip),
                    ("receiving-mx-hostname", &failure.mx),
                    ("receiving-ip", &failure.receiving_ip),
                ];
                for (key, value) in optional {
                    if let Some(value) = value {
                        detail[key] = serde_json::json!(value);
                    }
                }
                detail
            })
            .collect();
        serde_json::json!({
            "organization-name": self.submitter,
            "date-range": {"start-datetime": date(self.start), "end-datetime": date(self.end)},
            "contact-info": contact,
            "report-id": self.id(),
            "policies": [{
                "policy": policy,
                "summary": {
                    "total-successful-session-count": self.counts.successes,
                    "total-failure-session-count": failed,
                },
                "failure-details": details,
            }],
        })
        .to_string()
    }
}

/// `2026-11-30T06:00:00Z`.
fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// RFC 8460 5.3's message: a `multipart/report; report-type="tlsrpt"` with the gzipped
/// JSON as `application/tlsrpt+gzip`, queued from `from` to the domain's addresses.
async fn queue_report(
    ctx: &Context,
    from: &str,
    rua: &[String],
    report: &Report<'_>,
) -> Result<(), String> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(report.json(from).as_bytes())
        .map_err(|e| e.to_string())?;
    let gz = gz.finish().map_err(|e| e.to_string())?;
    let message = report_message(from, rua, report, &gz);
    let store = &ctx.store;
    let (writer, _) = store
        .blob_writer()
        .map_err(|e| e.to_string())?
        .append(message)
        .await
        .map_err(|e| e.to_string())?;
    let blob = writer.seal_async().await.map_err(|e| e.to_string())?;
    let recipients = rua
        .iter()
        .map(|address| OutboundRecipient {
            address: address.clone(),
            notify: None,
            orcpt: None,
        })
        .collect();
    let outbound = Outbound {
        sender: Some(from.to_owned()),
        recipients,
        envid: None,
        ret: None,
        smtputf8: false,
        held: None,
    };
    store
        .submit(blob, &[], Some(&outbound))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(domain = report.domain, to = ?rua, "TLS report queued");
    Ok(())
}

fn report_message(from: &str, rua: &[String], report: &Report<'_>, gz: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let id = report.id();
    let (submitter, domain) = (report.submitter, report.domain);
    let boundary = format!("tlsrpt-{}-{}", report.start, report.end);
    let file = format!(
        "{submitter}!{domain}!{}!{}!{}.json.gz",
        report.start, report.end, report.start
    );
    let date = hermod_message::rfc5322_date(std::time::SystemTime::now());
    let encoded = base64::engine::general_purpose::STANDARD.encode(gz);
    let mut out = format!(
        "From: <{from}>\r\nTo: {to}\r\nDate: {date}\r\n\
         Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{id}>\r\n\
         Message-ID: <{id}>\r\nTLS-Report-Domain: {domain}\r\nTLS-Report-Submitter: {submitter}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         This is an aggregate TLS report from {submitter} for {domain} (RFC 8460).\r\n\r\n\
         --{boundary}\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{file}\"\r\n\r\n",
        to = rua
            .iter()
            .map(|a| format!("<{a}>"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc_3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_921_200), "2026-11-29T03:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn reports_count_successes_and_failures_by_kind() {
        let reports = TlsReports::default();
        let policy = hermod_core::mtasts::parse_policy(
            "version: STSv1\nmode: enforce\nmx: mx.far.test\nmax_age: 86400\n",
        )
        .unwrap();
        reports.success("far.test", &policy);
        reports.success("far.test", &policy);
        let failure = Failure {
            result_type: "certificate-host-mismatch",
            mx: Some("mx.far.test".into()),
            receiving_ip: Some("192.0.2.1".into()),
            sending_ip: Some("198.51.100.1".into()),
        };
        for _ in 0..3 {
            reports.failure("far.test", Some(&policy), failure.clone());
        }
        let (start, domains) = reports.take();
        let report = Report {
            submitter: "mx.a.test",
            domain: "far.test",
            counts: &domains["far.test"],
            start,
            end: start + 86_400,
        };
        let json: serde_json::Value = serde_json::from_str(&report.json("p@a.test")).unwrap();
        let policy = &json["policies"][0];
        assert_eq!(policy["policy"]["policy-type"], "sts");
        assert_eq!(policy["policy"]["mx-host"][0], "mx.far.test");
        assert_eq!(policy["summary"]["total-successful-session-count"], 2);
        assert_eq!(policy["summary"]["total-failure-session-count"], 3);
        let detail = &policy["failure-details"][0];
        assert_eq!(detail["result-type"], "certificate-host-mismatch");
        assert_eq!(detail["failed-session-count"], 3);
        assert_eq!(detail["receiving-ip"], "192.0.2.1");
        assert_eq!(detail["sending-mta-ip"], "198.51.100.1");
        assert!(reports.take().1.is_empty(), "a new period starts empty");
    }
}
