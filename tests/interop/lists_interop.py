#!/usr/bin/env python3
"""Interop: a mailing list's copy for a remote member leaves hermod with a VERP envelope
sender in the list's domain, the list's header fields, and DKIM signatures of the list's
domain that verify with dkimpy against the records `hermod domain dns` prints.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import re
import smtplib
import sys
import time
import unittest

import dkim

from hermod_harness import Hermod, insecure
from outbound_interop import Sink


class ListInterop(unittest.TestCase):
    def test_a_members_copy_is_signed_by_the_list_domain(self):
        sink = Sink()
        server = Hermod('[outbound]\nsmarthost = "127.0.0.1:%d"\n' % sink.port)
        try:
            records = server.cli("domain", "dns", "example.test")
            txt = {}
            for name, value in re.findall(r"^(\S+)\t3600\tIN\tTXT\t(.*)$", records, re.M):
                txt[name] = "".join(re.findall(r'"([^"]*)"', value)).encode()
            server.cli("list", "create", "team@example.test", "--owner", "alice@example.test")
            server.cli("list", "add", "team@example.test", "friend@far.test")

            with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as s:
                s.starttls(context=insecure())
                s.login("alice@example.test", "s3cret")
                s.sendmail("alice@example.test", ["team@example.test"],
                           b"From: Alice <alice@example.test>\r\nTo: team@example.test\r\n"
                           b"Subject: to the list\r\n\r\nHello, members.\r\n")
            for _ in range(200):
                if sink.messages:
                    break
                time.sleep(0.05)
            self.assertEqual(len(sink.messages), 1, "the member's copy reached its server")
            message = sink.messages[0]
            self.assertIn(b"List-Id: <team.example.test>\r\n", message)
            self.assertIn(b"List-Unsubscribe: <mailto:team+unsubscribe@example.test>\r\n", message)
            self.assertNotIn(b"Return-Path:", message)

            def dnsfunc(name, timeout=5):
                return txt.get(name.decode() if isinstance(name, bytes) else name, b"")

            signatures = message.count(b"DKIM-Signature:")
            self.assertEqual(signatures, 2)
            for idx in range(signatures):
                self.assertTrue(dkim.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc),
                                "signature %d does not verify" % idx)
            self.assertIn(b"d=example.test", message)
        finally:
            server.stop()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
