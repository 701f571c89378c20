#!/usr/bin/env python3
"""Interop: hermod relays submitted mail to another SMTP server (a sink on loopback), and
the DKIM signatures it adds verify with dkimpy against the records `hermod domain dns` prints.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import re
import smtplib
import socket
import sys
import threading
import time
import unittest

import dkim

from hermod_harness import Hermod, insecure


class Sink:
    """A minimal SMTP server that accepts everything and keeps the messages."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        f = conn.makefile("rb")
        conn.sendall(b"220 sink.test ESMTP\r\n")
        while True:
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go\r\n")
                data = b""
                while True:
                    l = f.readline()
                    if l in (b".\r\n", b""):
                        break
                    data += l[1:] if l.startswith(b".") else l
                self.messages.append(data)
                conn.sendall(b"250 2.0.0 kept\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")


class RelayInterop(unittest.TestCase):
    def test_relayed_mail_is_dkim_signed_and_verifies(self):
        sink = Sink()
        server = Hermod('[outbound]\nsmarthost = "127.0.0.1:%d"\n' % sink.port)
        try:
            records = server.cli("domain", "dns", "example.test")
            txt = {}
            for name, value in re.findall(r"^(\S+)\t3600\tIN\tTXT\t(.*)$", records, re.M):
                txt[name] = "".join(re.findall(r'"([^"]*)"', value)).encode()
            self.assertIn("hermod-rsa._domainkey.example.test.", txt, records)

            with smtplib.SMTP("127.0.0.1", server.ports["submission"], timeout=20) as s:
                s.starttls(context=insecure())
                s.login("alice@example.test", "s3cret")
                s.sendmail("alice@example.test", ["friend@far.test"],
                           b"From: alice@example.test\r\nTo: friend@far.test\r\nSubject: signed\r\n\r\nHello there.\r\n")
            for _ in range(200):
                if sink.messages:
                    break
                time.sleep(0.05)
            self.assertEqual(len(sink.messages), 1, "the message reached the other server")
            message = sink.messages[0]
            self.assertNotIn(b"Return-Path:", message)

            def dnsfunc(name, timeout=5):
                return txt.get(name.decode() if isinstance(name, bytes) else name, b"")

            checker = dkim.DKIM(message)
            signatures = message.count(b"DKIM-Signature:")
            self.assertEqual(signatures, 2)
            for idx in range(signatures):
                self.assertTrue(checker.verify(idx=idx, dnsfunc=dnsfunc), "signature %d does not verify" % idx)
            tampered = message.replace(b"Hello there.", b"Hello th3re.")
            try:
                verified = dkim.DKIM(tampered).verify(idx=0, dnsfunc=dnsfunc)
            except dkim.ValidationError:
                verified = False
            self.assertFalse(verified, "a changed body must not verify")
        finally:
            server.stop()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
