#!/usr/bin/env python3
"""Interop: real SMTP clients (Python's smtplib, swaks) against the built hermod binary.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; all traffic stays
on 127.0.0.1.
"""
import shutil
import smtplib
import ssl
import subprocess
import sys
import unittest
from email.message import EmailMessage

from hermod_harness import Hermod


class SmtplibInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Hermod()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def connect(self):
        return smtplib.SMTP("127.0.0.1", self.server.port, local_hostname="client.test", timeout=20)

    def test_extensions_and_plain_delivery(self):
        with self.connect() as s:
            s.ehlo()
            for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "chunking", "starttls"):
                self.assertTrue(s.has_extn(ext), ext)
            before = len(self.server.inbox())
            refused = s.sendmail("bob@remote.test", ["alice@example.test"], b"Subject: smtplib\r\n\r\n.leading dot\r\n")
            self.assertEqual(refused, {})
        msgs = self.server.inbox()
        self.assertEqual(len(msgs), before + 1)
        self.assertTrue(any(m.endswith(b"Subject: smtplib\n\n.leading dot\n") for m in msgs))

    def test_starttls_then_send_message(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with self.connect() as s:
            s.starttls(context=ctx)
            s.ehlo()
            self.assertFalse(s.has_extn("starttls"))
            msg = EmailMessage()
            msg["From"] = "bob@remote.test"
            msg["To"] = "alice@example.test"
            msg["Subject"] = "over tls"
            msg.set_content("sent over TLS\n")
            s.send_message(msg)
        self.assertTrue(any(b"with ESMTPS" in m and b"Subject: over tls" in m for m in self.server.inbox()))

    def test_smtputf8(self):
        with self.connect() as s:
            s.ehlo()
            body = "Subject: Grüße\r\n\r\nÜmlaut\r\n".encode()
            s.sendmail("jörg@remote.test", ["alice@example.test"], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        self.assertTrue(any("Grüße".encode() in m for m in self.server.inbox()))

    def test_refusals(self):
        with self.connect() as s:
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as unknown:
                s.sendmail("bob@remote.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
            self.assertEqual(unknown.exception.recipients["nobody@example.test"][0], 550)
            with self.assertRaises(smtplib.SMTPRecipientsRefused) as relay:
                s.sendmail("bob@remote.test", ["victim@elsewhere.test"], b"Subject: x\r\n\r\nx\r\n")
            code, text = relay.exception.recipients["victim@elsewhere.test"]
            self.assertEqual((code, text[:5]), (550, b"5.7.1"))


class SwaksInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("swaks") is None:
            raise RuntimeError("swaks is not installed (scripts/test installs it)")
        cls.server = Hermod()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def swaks(self, *args):
        cmd = ["swaks", "--server", "127.0.0.1:%d" % self.server.port, "--helo", "client.test", "--from", "bob@remote.test", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def test_plain_pipelined_and_tls(self):
        before = len(self.server.inbox())
        for extra in ([], ["--pipeline"], ["--tls"], ["--to", "postmaster@example.test"]):
            args = ["--to", "alice@example.test", *extra] if "--to" not in extra else extra
            run = self.swaks(*args, "--header", "Subject: swaks %s" % " ".join(extra))
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(len(self.server.inbox()), before + 4)

    def test_unknown_user_fails(self):
        run = self.swaks("--to", "nobody@example.test")
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("550 5.1.1", run.stdout)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
