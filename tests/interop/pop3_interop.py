#!/usr/bin/env python3
"""Interop: real POP3 clients (Python's poplib, Debian's fetchmail) against the built hermod.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import os
import poplib
import shutil
import subprocess
import sys
import tempfile
import unittest

from hermod_harness import Hermod, insecure


class PoplibInterop(unittest.TestCase):
    def setUp(self):
        self.server = Hermod()
        self.server.deliver("alice@example.test", b"Subject: first\r\n\r\n.starts with a dot\r\nbody\r\n")
        self.server.deliver("alice@example.test", b"Subject: second\r\n\r\nl1\r\nl2\r\nl3\r\n")

    def tearDown(self):
        self.server.stop()

    def test_user_pass_list_retr_top_uidl(self):
        p = poplib.POP3("127.0.0.1", self.server.ports["pop3"], timeout=20)
        self.assertIn(b"hermod", p.getwelcome())
        caps = p.capa()
        for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "PIPELINING", "STLS", "SASL"):
            self.assertIn(cap, caps)
        p.user("alice@example.test")
        p.pass_("s3cret")
        count, size = p.stat()
        self.assertEqual(count, 2)
        _, listing, _ = p.list()
        self.assertEqual(sum(int(line.split()[1]) for line in listing), size)
        _, lines, octets = p.retr(1)
        self.assertIn(b"Subject: first", lines)
        self.assertIn(b".starts with a dot", lines)
        _, top, _ = p.top(2, 1)
        self.assertEqual(top[-3:], [b"Subject: second", b"", b"l1"])
        _, uidl, _ = p.uidl()
        first_uids = [line.split()[1] for line in uidl]
        self.assertEqual(len(set(first_uids)), 2)
        p.dele(1)
        p.quit()

        p = poplib.POP3("127.0.0.1", self.server.ports["pop3"], timeout=20)
        p.user("alice@example.test")
        p.pass_("s3cret")
        self.assertEqual(p.stat()[0], 1)
        _, uidl, _ = p.uidl()
        self.assertEqual([line.split()[1] for line in uidl], first_uids[1:])
        p.quit()

    def test_wrong_password(self):
        p = poplib.POP3("127.0.0.1", self.server.ports["pop3"], timeout=20)
        p.user("alice@example.test")
        with self.assertRaises(poplib.error_proto) as err:
            p.pass_("wrong")
        self.assertIn(b"[AUTH]", err.exception.args[0])
        p.close()

    def test_stls(self):
        p = poplib.POP3("127.0.0.1", self.server.ports["pop3"], timeout=20)
        p.stls(context=insecure())
        self.assertNotIn("STLS", p.capa())
        p.user("alice@example.test")
        p.pass_("s3cret")
        self.assertEqual(p.stat()[0], 2)
        p.quit()

    def test_pop3_ssl(self):
        p = poplib.POP3_SSL("127.0.0.1", self.server.ports["pop3s"], context=insecure(), timeout=20)
        p.user("alice@example.test")
        p.pass_("s3cret")
        _, lines, _ = p.retr(2)
        self.assertIn(b"l3", lines)
        p.quit()


class FetchmailInterop(unittest.TestCase):
    def setUp(self):
        if shutil.which("fetchmail") is None:
            raise RuntimeError("fetchmail is not installed (scripts/test installs it)")
        self.server = Hermod()
        self.server.deliver("alice@example.test", b"Subject: fm-one\r\n\r\none\r\n")
        self.server.deliver("alice@example.test", b"Subject: fm-two\r\n\r\ntwo\r\n")
        self.home = tempfile.mkdtemp(prefix="hermod-fetchmail-")
        self.out = os.path.join(self.home, "delivered")

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def fetchmail(self, options):
        rc = os.path.join(self.home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no bouncemail\n')
            f.write('poll 127.0.0.1 with proto POP3 port %d uidl\n' % self.server.ports["pop3"])
            f.write('  user "alice@example.test" there with password "s3cret" is "root" here\n')
            f.write("  options %s\n" % options)
            f.write("  mda \"/bin/sh -c 'cat >> %s'\"\n" % self.out)
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=self.home)
        cmd = ["fetchmail", "-f", rc, "--idfile", os.path.join(self.home, "ids"), "--nosyslog", "-N", "-v"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)

    def fetched_subjects(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out, errors="replace") as f:
            return [line.strip() for line in f if line.startswith("Subject: fm-")]

    def stat(self):
        p = poplib.POP3("127.0.0.1", self.server.ports["pop3"], timeout=20)
        p.user("alice@example.test")
        p.pass_("s3cret")
        count = p.stat()[0]
        p.quit()
        return count

    def test_keep_then_delete(self):
        # Keep mode, over STLS (fetchmail's own choice) without certificate checks.
        run = self.fetchmail("keep sslproto tls1.2+ no sslcertck")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(sorted(self.fetched_subjects()), ["Subject: fm-one", "Subject: fm-two"])
        self.assertEqual(self.stat(), 2, "keep leaves the mail on the server")
        # Delete mode, plaintext on loopback: fetch everything and remove it.
        run = self.fetchmail("fetchall nokeep sslproto ''")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(len(self.fetched_subjects()), 4)
        self.assertEqual(self.stat(), 0, "fetchmail deleted what it fetched")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
