#!/usr/bin/env python3
"""Interop: ManageSieve clients (Debian's sieve-connect, and a small client on Python's ssl)
against the built hermod. Scripts uploaded and activated over STARTTLS must then file mail
arriving over SMTP where they say.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

from hermod_harness import Hermod, insecure

# Passwords only inside TLS, even from loopback: every login below went through STARTTLS.
TLS_ONLY = "\n[managesieve]\nallow_plaintext_auth_on_loopback = false\n"

LISTS = b'require ["fileinto", "mailbox", "imap4flags"];\n' \
    b'if header :contains "List-Id" "dev.lists.test" {\n' \
    b'    fileinto :create "Lists";\n' \
    b'} elsif address :is "from" "boss@remote.test" {\n' \
    b'    addflag "\\\\Flagged";\n' \
    b'}\n'


class SieveConnectInterop(unittest.TestCase):
    def setUp(self):
        if shutil.which("sieve-connect") is None:
            raise RuntimeError("sieve-connect is not installed (scripts/test installs it)")
        self.server = Hermod(extra_config=TLS_ONLY, managesieve=True)
        self.home = tempfile.mkdtemp(prefix="hermod-sieve-connect-")

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def sieve_connect(self, *args):
        """Runs sieve-connect with the password on a pipe, never a terminal."""
        read, write = os.pipe()
        os.write(write, b"s3cret\n")
        os.close(write)
        cmd = ["sieve-connect", "--server", "127.0.0.1", "--port", str(self.server.ports["managesieve"]),
               "--user", "alice@example.test", "--passwordfd", str(read), "--notlsverify", *args]
        try:
            return subprocess.run(cmd, pass_fds=(read,), capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, HOME=self.home))
        finally:
            os.close(read)

    def ok(self, *args):
        run = self.sieve_connect(*args)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        return run.stdout

    def test_upload_activate_then_mail_is_filed(self):
        script = os.path.join(self.home, "lists.sieve")
        with open(script, "wb") as f:
            f.write(LISTS)
        self.ok("--upload", "--localsieve", script, "--remotesieve", "lists")
        self.ok("--activate", "--remotesieve", "lists")
        self.assertEqual(self.ok("--list").split(), ['"lists"', "ACTIVE"])
        copy = os.path.join(self.home, "copy.sieve")
        self.ok("--download", "--remotesieve", "lists", "--localsieve", copy)
        with open(copy, "rb") as f:
            self.assertEqual(f.read(), LISTS)

        self.server.deliver("alice@example.test", b"List-Id: <dev.lists.test>\r\nSubject: to-lists\r\n\r\nhi\r\n")
        self.server.deliver("alice@example.test", b"From: boss@remote.test\r\nSubject: to-inbox\r\n\r\nhi\r\n")
        lists = self.server.folder("Lists")
        self.assertEqual(len(lists), 1)
        self.assertIn(b"Subject: to-lists", lists[0])
        inbox = self.server.inbox()
        self.assertEqual(len(inbox), 1)
        self.assertIn(b"Subject: to-inbox", inbox[0])

        # The active script cannot be deleted; after deactivating, it can.
        self.assertNotEqual(self.sieve_connect("--delete", "--remotesieve", "lists").returncode, 0)
        self.ok("--deactivate")
        self.ok("--delete", "--remotesieve", "lists")
        self.assertEqual(self.ok("--list").strip(), "")

    def test_checkscript_reports_the_line(self):
        bad = os.path.join(self.home, "bad.sieve")
        with open(bad, "w") as f:
            f.write('require "fileinto";\nfileinto "x"\n')
        run = self.sieve_connect("--checkscript", "--localsieve", bad)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("line", run.stdout + run.stderr)


class PythonSslClient(unittest.TestCase):
    """RFC 5804's exchanges by hand over Python's socket and ssl modules."""

    def setUp(self):
        self.server = Hermod(extra_config=TLS_ONLY, managesieve=True)
        sock = socket.create_connection(("127.0.0.1", self.server.ports["managesieve"]), timeout=20)
        self.file = sock.makefile("rb")
        self.sock = sock

    def tearDown(self):
        self.sock.close()
        self.server.stop()

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """(data lines, status line); literals read in place."""
        lines = []
        while True:
            line = self.file.readline().rstrip(b"\r\n")
            while line.endswith(b"}") and b"{" in line:
                head, size = line.rsplit(b"{", 1)
                line = head + self.file.read(int(size[:-1])) + self.file.readline().rstrip(b"\r\n")
            if line.split(b" ")[0] in (b"OK", b"NO", b"BYE") or not line:
                return lines, line
            lines.append(line)

    def test_starttls_authenticate_with_continuation_and_scripts(self):
        caps, status = self.response()
        self.assertEqual(status.split(b" ")[0], b"OK")
        self.assertIn(b'"SASL" ""', caps)
        self.assertIn(b'"STARTTLS"', caps)
        self.send(b'AUTHENTICATE "PLAIN" "AGFsaWNlQGV4YW1wbGUudGVzdABzM2NyZXQ="\r\n')
        self.assertTrue(self.response()[1].startswith(b"NO (ENCRYPT-NEEDED)"))

        self.send(b"STARTTLS\r\n")
        self.assertTrue(self.response()[1].startswith(b"OK"))
        self.sock = insecure().wrap_socket(self.sock, server_hostname="mx.example.test")
        self.file = self.sock.makefile("rb")
        caps, status = self.response()
        self.assertIn(b'"SASL" "PLAIN"', caps)
        self.assertNotIn(b'"STARTTLS"', caps)

        # AUTHENTICATE without an initial response: an empty challenge, then a literal.
        self.send(b'AUTHENTICATE "PLAIN"\r\n')
        self.assertEqual(self.file.readline(), b'""\r\n')
        creds = base64.b64encode(b"\0alice@example.test\0s3cret")
        self.send(b"{%d+}\r\n%s\r\n" % (len(creds), creds))
        self.assertEqual(self.response()[1], b'OK "logged in"')
        caps, _ = self.response_to(b"CAPABILITY\r\n")
        self.assertIn(b'"OWNER" "alice@example.test"', caps)

        script = b'require ["fileinto", "mailbox"];\r\nfileinto :create "Archive";\r\n'
        self.assertEqual(self.response_to(b'HAVESPACE "archive" %d\r\n' % len(script))[1], b"OK")
        put = b'PUTSCRIPT "archive" {%d+}\r\n%s\r\n' % (len(script), script)
        self.assertEqual(self.response_to(put)[1], b"OK")
        lines, status = self.response_to(b'GETSCRIPT "archive"\r\n')
        self.assertEqual((lines, status), ([script], b"OK"))
        self.assertTrue(self.response_to(b'SETACTIVE "missing"\r\n')[1].startswith(b"NO (NONEXISTENT)"))
        self.assertEqual(self.response_to(b'SETACTIVE "archive"\r\n')[1], b"OK")
        self.assertEqual(self.response_to(b"LISTSCRIPTS\r\n")[0], [b'"archive" ACTIVE'])
        self.assertEqual(self.response_to(b'NOOP "t1"\r\n')[1], b'OK (TAG "t1") "done"')
        self.assertEqual(self.response_to(b"LOGOUT\r\n")[1], b'OK "bye"')

        self.server.deliver("alice@example.test", b"Subject: archived\r\n\r\nhi\r\n")
        self.assertEqual(len(self.server.folder("Archive")), 1)

    def response_to(self, command):
        self.send(command)
        return self.response()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
