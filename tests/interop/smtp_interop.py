#!/usr/bin/env python3
"""Interop: real SMTP clients (Python's smtplib, swaks) against the built hermod binary.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; all traffic stays
on 127.0.0.1.
"""
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
from email.message import EmailMessage

HERMOD = os.environ.get("HERMOD_BIN", "target/debug/hermod")

CONFIG = """hostname = "mx.example.test"
data_dir = "."
[listen]
smtp = ["127.0.0.1:0"]
submission = []
submissions = []
pop3 = []
pop3s = []
imap = []
imaps = []
"""


class Hermod:
    """A hermod server in a scratch directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hermod-interop-")
        self.config = os.path.join(self.dir, "hermod.toml")
        with open(self.config, "w") as f:
            f.write(CONFIG)
        self.cli("domain", "add", "example.test")
        self.cli("user", "add", "alice@example.test", "--password-stdin", stdin="s3cret\n")
        self.cli("alias", "add", "postmaster@example.test", "alice@example.test")
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        self.proc = subprocess.Popen([HERMOD, "--config", self.config, "serve"], stderr=subprocess.PIPE, text=True, env=env)
        self.port = None
        for line in self.proc.stderr:
            m = re.search(r"service=smtp addr=127\.0\.0\.1:(\d+)", line)
            if m and "listening" in line:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise RuntimeError("hermod did not start")
        # Keep draining the log so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def cli(self, *args, stdin=None):
        return subprocess.run([HERMOD, "--config", self.config, *args], input=stdin, text=True, check=True, capture_output=True).stdout

    def inbox(self):
        out = os.path.join(self.dir, "export-%d" % len(os.listdir(self.dir)))
        self.cli("export", "alice@example.test", out)
        messages = []
        for sub in ("cur", "new"):
            for name in sorted(os.listdir(os.path.join(out, sub))):
                with open(os.path.join(out, sub, name), "rb") as f:
                    messages.append(f.read())
        return messages

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


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
