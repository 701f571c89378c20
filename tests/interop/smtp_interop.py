#!/usr/bin/env python3
"""Interop: real SMTP clients (Python's smtplib, swaks) against the built hermod binary.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; all traffic stays
on 127.0.0.1.
"""
import shutil
import smtplib
import subprocess
import sys
import unittest
import email.policy
from email.message import EmailMessage

from hermod_harness import Hermod, insecure


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
        with self.connect() as s:
            s.starttls(context=insecure())
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


class SpamInterop(unittest.TestCase):
    """The spam filter as smtplib meets it: results on every message, Junk, refusal."""

    @classmethod
    def setUpClass(cls):
        cls.server = Hermod(spam_config="junk_threshold = 3.0\nreject_threshold = 4.5\n")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def send(self, body):
        with smtplib.SMTP("127.0.0.1", self.server.port, local_hostname="client.test", timeout=20) as s:
            s.sendmail("bob@remote.test", ["alice@example.test"], body)

    def test_good_mail_carries_results_and_spam_goes_to_junk_or_is_refused(self):
        msg = EmailMessage()
        msg["From"] = "bob@remote.test"
        msg["To"] = "alice@example.test"
        msg["Subject"] = "lunch"
        msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
        msg["Message-ID"] = "<lunch@remote.test>"
        msg.set_content("See you at noon.\n")
        self.send(msg.as_bytes(policy=email.policy.SMTP))
        stored = [m for m in self.server.inbox() if b"Subject: lunch" in m]
        self.assertEqual(len(stored), 1)
        self.assertIn(b"Authentication-Results: mx.example.test;", stored[0])
        self.assertIn(b"X-Spam-Status: No", stored[0])

        # No From, Date, Message-ID, To: 3.8 points, past junk_threshold.
        self.send(b"Subject: junk\r\n\r\nbuy\r\n")
        junk = [m for m in self.server.folder("Junk") if b"Subject: junk" in m]
        self.assertEqual(len(junk), 1)
        self.assertIn(b"X-Spam-Status: Yes", junk[0])

        # Add an all-caps subject: past reject_threshold, refused in the dialogue.
        with self.assertRaises(smtplib.SMTPDataError) as refused:
            self.send(b"Subject: BUY CHEAP WATCHES NOW\r\n\r\nbuy\r\n")
        self.assertEqual(refused.exception.smtp_code, 550)
        self.assertIn(b"5.7.1", refused.exception.smtp_error)


class SubmissionInterop(unittest.TestCase):
    """Submission on 587 (STARTTLS) and 465 (implicit TLS) with SMTP AUTH."""

    @classmethod
    def setUpClass(cls):
        cls.server = Hermod()
        cls.server.cli("user", "add", "bob@example.test", "--password-stdin", stdin="pw\n")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def submission(self):
        s = smtplib.SMTP("127.0.0.1", self.server.ports["submission"], local_hostname="client.test", timeout=20)
        s.ehlo()
        return s

    def bob_has(self, needle):
        return any(needle in m for m in self.server.inbox("bob@example.test"))

    def test_auth_before_starttls_is_refused(self):
        with self.submission() as s:
            self.assertFalse(s.has_extn("auth"))
            code, _ = s.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ=")
            self.assertEqual(code, 538)
            with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
                s.sendmail("alice@example.test", ["bob@example.test"], b"Subject: x\r\n\r\nx\r\n")
            self.assertEqual(refused.exception.smtp_code, 530)

    def test_starttls_login_and_bcc(self):
        with self.submission() as s:
            s.starttls(context=insecure())
            s.ehlo()
            s.login("alice@example.test", "s3cret")
            msg = EmailMessage()
            msg["From"] = "Alice <alice@example.test>"
            msg["To"] = "alice@example.test"
            msg["Bcc"] = "bob@example.test"
            msg["Subject"] = "submitted with bcc"
            msg.set_content("hello\n")
            s.send_message(msg)
        bob = self.server.inbox("bob@example.test")
        self.assertTrue(any(b"submitted with bcc" in m and b"Bcc:" not in m for m in bob), bob)

    def test_implicit_tls_and_wrong_password(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.server.ports["submissions"], context=insecure(), timeout=20) as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as failed:
                s.login("alice@example.test", "wrong")
            self.assertEqual(failed.exception.smtp_code, 535)
            s.login("alice@example.test", "s3cret")
            s.sendmail("alice@example.test", ["bob@example.test"], b"From: alice@example.test\r\nSubject: over 465\r\n\r\nx\r\n")
        self.assertTrue(self.bob_has(b"over 465"))

    def test_forged_sender(self):
        with self.submission() as s:
            s.starttls(context=insecure())
            s.login("alice@example.test", "s3cret")
            with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
                s.sendmail("bob@example.test", ["bob@example.test"], b"From: bob@example.test\r\n\r\nx\r\n")
            self.assertEqual(refused.exception.smtp_code, 553)
            with self.assertRaises(smtplib.SMTPDataError) as forged:
                s.sendmail("alice@example.test", ["bob@example.test"], b"From: bob@example.test\r\n\r\nx\r\n")
            self.assertEqual(forged.exception.smtp_code, 553)

    def test_msmtp(self):
        if shutil.which("msmtp") is None:
            raise RuntimeError("msmtp is not installed (scripts/test installs it)")
        cmd = ["msmtp", "--host=127.0.0.1", "--port=%d" % self.server.ports["submission"], "--tls=on",
               "--tls-starttls=on", "--tls-certcheck=off", "--auth=on", "--user=alice@example.test",
               "--passwordeval=echo s3cret", "--from=alice@example.test", "bob@example.test"]
        run = subprocess.run(cmd, input="From: alice@example.test\nSubject: via msmtp\n\nhi\n",
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertTrue(self.bob_has(b"via msmtp"))

    def test_swaks_auth_tls(self):
        cmd = ["swaks", "--server", "127.0.0.1:%d" % self.server.ports["submission"], "--tls", "--auth", "LOGIN",
               "--auth-user", "alice@example.test", "--auth-password", "s3cret", "--from", "alice@example.test",
               "--to", "bob@example.test", "--header", "From: alice@example.test",
               "--header", "Subject: via swaks auth"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertTrue(self.bob_has(b"via swaks auth"))


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
