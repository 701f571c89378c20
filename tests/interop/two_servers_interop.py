#!/usr/bin/env python3
"""Interop: two hermod servers on loopback. A DNS server on loopback (dnslib) says b.test's
mail goes to 127.0.0.1; mail submitted on A for bob@b.test arrives in bob's mailbox on B,
DKIM-signed for a.test, and the signatures verify against the keys A publishes.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import re
import smtplib
import sys
import time
import unittest

import dkim
from dnslib import A, MX, QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from hermod_harness import Hermod, insecure


class Zone(BaseResolver):
    """Answers for b.test's MX and its host, and for a.test's DKIM keys; NXDOMAIN else."""

    def __init__(self):
        self.txt = {}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower()
        qtype = QTYPE[request.q.qtype]
        if name == "b.test." and qtype == "MX":
            reply.add_answer(RR(name, QTYPE.MX, rdata=MX("mx.b.test."), ttl=60))
        elif name == "mx.b.test." and qtype == "A":
            reply.add_answer(RR(name, QTYPE.A, rdata=A("127.0.0.1"), ttl=60))
        elif name in self.txt and qtype == "TXT":
            value = self.txt[name]
            chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
            reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif name not in ("mx.b.test.", "b.test."):
            reply.header.rcode = 3
        return reply


class TwoServers(unittest.TestCase):
    def test_mail_from_a_reaches_b_signed(self):
        zone = Zone()
        quiet = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
        dns = DNSServer(zone, port=0, address="127.0.0.1", logger=quiet)
        dns.start_thread()
        dns_port = dns.server.server_address[1]
        b = Hermod(domain="b.test", user="bob")
        a = Hermod('[dns]\nnameservers = ["127.0.0.1:%d"]\n[outbound]\nport = %d\n' % (dns_port, b.ports["smtp"]),
                   domain="a.test", user="alice")
        try:
            records = a.cli("domain", "dns", "a.test")
            for name, value in re.findall(r"^(\S+)\t3600\tIN\tTXT\t(.*)$", records, re.M):
                zone.txt[name] = "".join(re.findall(r'"([^"]*)"', value))
            with smtplib.SMTP("127.0.0.1", a.ports["submission"], timeout=20) as s:
                s.starttls(context=insecure())
                s.login("alice@a.test", "s3cret")
                s.sendmail("alice@a.test", ["bob@b.test"],
                           b"From: alice@a.test\r\nTo: bob@b.test\r\nSubject: across\r\n\r\nFrom A to B.\r\n")
            inbox = []
            for _ in range(200):
                inbox = b.inbox()
                if inbox:
                    break
                time.sleep(0.1)
            self.assertEqual(len(inbox), 1, "the message reached B")
            message = inbox[0].replace(b"\n", b"\r\n")
            self.assertIn(b"Subject: across", message)
            self.assertIn(b"by mx.b.test (hermod)", message)

            def dnsfunc(name, timeout=5):
                name = name.decode() if isinstance(name, bytes) else name
                return zone.txt.get(name, "").encode()

            checker = dkim.DKIM(message)
            self.assertEqual(message.count(b"DKIM-Signature:"), 2)
            for idx in range(2):
                self.assertTrue(checker.verify(idx=idx, dnsfunc=dnsfunc), "signature %d" % idx)
        finally:
            a.stop()
            b.stop()
            dns.stop()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
