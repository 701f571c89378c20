#!/usr/bin/env python3
"""Interop: Python's imaplib against the built hermod.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import imaplib
import re
import sys
import time
import unittest
import zlib

from hermod_harness import Hermod, insecure


# imaplib only lets through the commands it knows.
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))


class DeflateIMAP4(imaplib.IMAP4):
    """imaplib with COMPRESS=DEFLATE (RFC 4978), which it lacks: raw DEFLATE both ways."""

    def compress(self):
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        if typ != "OK":
            raise self.error("COMPRESS refused: %r" % data)
        self._out = zlib.compressobj(wbits=-15)
        self._in = zlib.decompressobj(wbits=-15)
        self._plain = b""

    def send(self, data):
        if hasattr(self, "_out"):
            data = self._out.compress(data) + self._out.flush(zlib.Z_SYNC_FLUSH)
        super().send(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise self.abort("connection closed")
        self._plain += self._in.decompress(chunk)

    def read(self, size):
        if not hasattr(self, "_in"):
            return super().read(size)
        while len(self._plain) < size:
            self._fill()
        data, self._plain = self._plain[:size], self._plain[size:]
        return data

    def readline(self):
        if not hasattr(self, "_in"):
            return super().readline()
        while b"\n" not in self._plain:
            self._fill()
        at = self._plain.index(b"\n") + 1
        line, self._plain = self._plain[:at], self._plain[at:]
        return line


class ImaplibInterop(unittest.TestCase):
    def setUp(self):
        self.server = Hermod()
        self.server.deliver("alice@example.test", b"Subject: first\r\nFrom: bob@remote.test\r\n\r\nfirst body\r\n")
        self.server.deliver("alice@example.test", b"Subject: second\r\n\r\nsecond body\r\n")

    def tearDown(self):
        self.server.stop()

    def connect(self):
        m = imaplib.IMAP4("127.0.0.1", self.server.ports["imap"], timeout=20)
        self.assertIn("IMAP4REV1", m.capabilities)
        self.assertIn("IDLE", m.capabilities)
        return m

    def test_read_flag_search_copy_expunge(self):
        m = self.connect()
        m.login("alice@example.test", "s3cret")
        typ, boxes = m.list()
        self.assertEqual(typ, "OK")
        names = [b.decode() for b in boxes]
        self.assertTrue(any(n.endswith(' INBOX') for n in names), names)
        self.assertTrue(any("\\Sent" in n for n in names), names)
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"2"]))
        typ, data = m.fetch("1", "(UID RFC822.SIZE BODY.PEEK[])")
        self.assertEqual(typ, "OK")
        meta, body = data[0]
        self.assertIn(b"UID 1", meta)
        self.assertTrue(body.endswith(b"first body\r\n"), body)
        self.assertIn(b"RFC822.SIZE %d" % len(body), meta)
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertNotIn(b"\\Seen", data[0])
        m.fetch("1", "(RFC822)")
        typ, data = m.fetch("1", "(FLAGS)")
        self.assertIn(b"\\Seen", data[0], "a non-PEEK fetch sets \\Seen")
        typ, data = m.store("2", "+FLAGS", "(\\Flagged)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"\\Flagged", data[0])
        self.assertEqual(m.search(None, "FLAGGED"), ("OK", [b"2"]))
        self.assertEqual(m.search(None, "SUBJECT", "first"), ("OK", [b"1"]))
        self.assertEqual(m.uid("SEARCH", "UNSEEN"), ("OK", [b"2"]))
        typ, data = m.copy("1:2", "Trash")
        self.assertEqual(typ, "OK")
        self.assertIn(b"COPYUID", data[0])
        self.assertEqual(m.status("Trash", "(MESSAGES)")[1], [b"Trash (MESSAGES 2)"])
        m.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = m.expunge()
        self.assertEqual((typ, data), ("OK", [b"1"]))
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1"]))
        m.close()
        m.logout()
        self.assertEqual(len(self.server.inbox()), 1)

    def test_append_and_idle(self):
        m = self.connect()
        m.login("alice@example.test", "s3cret")
        message = b"Subject: drafted\r\n\r\nwritten by imaplib\r\n"
        typ, data = m.append("Drafts", "(\\Draft)", imaplib.Time2Internaldate(time.time()), message)
        self.assertEqual(typ, "OK")
        self.assertIn(b"APPENDUID", data[0])
        # The export is a Maildir: LF line endings.
        self.assertEqual(self.server.folder("Drafts"), [message.replace(b"\r\n", b"\n")])
        m.select("INBOX")
        # imaplib before Python 3.14 has no idle(): speak it directly.
        tag = m._new_tag()
        m.send(tag + b" IDLE\r\n")
        self.assertTrue(m.readline().startswith(b"+"))
        started = time.monotonic()
        self.server.deliver("alice@example.test", b"Subject: third\r\n\r\npushed\r\n")
        self.assertEqual(m.readline(), b"* 3 EXISTS\r\n")
        # IMAP4rev1: the new message is \Recent in this session, told after EXISTS.
        self.assertEqual(m.readline(), b"* 3 RECENT\r\n")
        self.assertLess(time.monotonic() - started, 5)
        m.send(b"DONE\r\n")
        self.assertTrue(m.readline().startswith(tag + b" OK"))
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1 2 3"]))
        m.logout()

    def test_condstore_qresync_sort_thread(self):
        self.server.deliver("alice@example.test", b"Subject: Re: first\r\nDate: Wed, 1 Jan 2020 00:00:00 +0000\r\n\r\nthird\r\n")
        m = self.connect()
        for cap in ("CONDSTORE", "QRESYNC", "SORT", "THREAD=REFERENCES", "COMPRESS=DEFLATE"):
            self.assertIn(cap, m.capabilities)
        m.login("alice@example.test", "s3cret")
        self.assertEqual(m.enable("QRESYNC")[0], "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"QRESYNC"])
        typ, data = m.select("INBOX")
        self.assertEqual(typ, "OK")
        uidvalidity = int(m.untagged_responses["UIDVALIDITY"][0])
        highest = int(m.untagged_responses["HIGHESTMODSEQ"][0])
        typ, data = m.store("1", "+FLAGS", "(\\Flagged)")
        self.assertRegex(data[0].decode(), r"MODSEQ \(\d+\)")
        m.store("2", "+FLAGS.SILENT", "(\\Deleted)")
        typ, data = m.expunge()
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.pop("VANISHED", None), [b"2"], "VANISHED, not EXPUNGE")
        typ, data = m.fetch("1:*", "(UID FLAGS) (CHANGEDSINCE %d)" % highest)
        self.assertEqual(len(data), 1, data)
        self.assertIn(b"UID 1 ", data[0])
        self.assertEqual(m.search(None, "MODSEQ", str(highest + 1)), ("OK", [b"1 (MODSEQ %d)" % (highest + 1)]))
        m.close()
        typ, data = m._simple_command("SELECT", "INBOX (QRESYNC (%d %d))" % (uidvalidity, highest))
        self.assertEqual(typ, "OK")
        self.assertEqual(m.untagged_responses.get("VANISHED"), [b"(EARLIER) 2"])
        m.state = "SELECTED"  # imaplib's select() cannot pass QRESYNC parameters
        self.assertEqual(m.sort("(SUBJECT REVERSE DATE)", "UTF-8", "ALL"), ("OK", [b"1 2"]))
        typ, data = m.uid("SORT", "(DATE)", "UTF-8", "ALL")
        self.assertEqual((typ, data), ("OK", [b"3 1"]))
        # No Message-IDs: the reply goes under its original by subject.
        self.assertEqual(m.thread("REFERENCES", "UTF-8", "ALL"), ("OK", [b"(1 2)"]))
        self.assertEqual(m.thread("ORDEREDSUBJECT", "UTF-8", "ALL"), ("OK", [b"(2 1)"]))
        m.logout()

    def test_compress_deflate(self):
        m = DeflateIMAP4("127.0.0.1", self.server.ports["imap"], timeout=20)
        m.login("alice@example.test", "s3cret")
        m.compress()
        self.assertEqual(m.select("INBOX"), ("OK", [b"2"]))
        typ, data = m.fetch("1", "(BODY.PEEK[])")
        self.assertTrue(data[0][1].endswith(b"first body\r\n"), data)
        typ, data = m._simple_command("COMPRESS", "DEFLATE")
        self.assertEqual(typ, "NO")
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1 2"]))
        m.logout()

    def test_mailbox_commands_and_list_extended(self):
        m = self.connect()
        self.assertIn("IMAP4REV2", m.capabilities)
        m.authenticate("PLAIN", lambda _: b"\0alice@example.test\0s3cret")
        self.assertEqual(m.namespace(), ("OK", [b'(("" "/")) NIL NIL']))
        # A new account is subscribed to its default mailboxes; this test wants only its own.
        self.assertEqual(len(m.lsub()[1]), 5)
        for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk"):
            self.assertEqual(m.unsubscribe(name)[0], "OK")
        self.assertEqual(m.create("Work/Projects")[0], "OK")
        self.assertEqual(m.rename("Work/Projects", "Work/Done")[0], "OK")
        self.assertEqual(m.subscribe("Work/Done")[0], "OK")
        self.assertEqual(m.lsub()[1], [b'() "/" Work/Done'])
        typ, data = m.list('""', "*")
        self.assertIn(b'(\\HasChildren) "/" Work', data)
        typ, data = m._simple_command("LIST", "(SUBSCRIBED RECURSIVEMATCH)", '""', "%")
        self.assertEqual(typ, "OK")
        _, lines = m._untagged_response(typ, data, "LIST")
        self.assertEqual(lines, [b'(\\HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))'])
        typ, data = m._simple_command("LIST", '""', "INBOX", "RETURN", "(STATUS (MESSAGES SIZE))")
        _, status = m._untagged_response(typ, data, "STATUS")
        self.assertTrue(status[0].startswith(b"INBOX (MESSAGES 2 SIZE "), status)
        typ, data = m._simple_command("CREATE", "Old", "(USE (\\Archive))")
        self.assertEqual(typ, "OK")
        m.untagged_responses.pop("LIST", None)  # left by LIST RETURN (STATUS) above
        self.assertEqual(m.list('""', "Old")[1], [b'(\\HasNoChildren \\Archive) "/" Old'])
        typ, data = m._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        _, lines = m._untagged_response(typ, data, "LIST")
        self.assertEqual(len(lines), 5, lines)
        self.assertEqual(m.status("INBOX", "(DELETED DELETED-STORAGE)")[1], [b"INBOX (DELETED 0 DELETED-STORAGE 0)"])
        self.assertEqual(m.unsubscribe("Work/Done")[0], "OK")
        self.assertEqual(m.delete("Work/Done")[0], "OK")
        typ, data = m.status("INBOX", "(MESSAGES UNSEEN SIZE APPENDLIMIT)")
        self.assertTrue(data[0].startswith(b"INBOX (MESSAGES 2 UNSEEN 2 SIZE "), data)
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0], [b"INBOX"], "no quota set for alice")
        self.assertEqual(m.getquota('""')[0], "NO")
        m.logout()

    def test_rev2_searchres_binary_move_multiappend(self):
        m = self.connect()
        m.login("alice@example.test", "s3cret")
        self.assertEqual(m.enable("IMAP4rev2")[0], "OK")
        self.assertEqual(m.untagged_responses.pop("ENABLED"), [b"IMAP4rev2"])
        self.assertEqual(m.select("INBOX")[0], "OK")
        self.assertNotIn("RECENT", m.untagged_responses)
        typ, data = m._simple_command("SEARCH", "ALL")
        self.assertEqual(m._untagged_response(typ, data, "ESEARCH")[1][0].split(b") ")[1], b"ALL 1:2")
        typ, data = m._simple_command("SEARCH", "RETURN", "(SAVE)", "SUBJECT", "second")
        self.assertEqual(typ, "OK")
        typ, data = m.fetch("$", "(UID BINARY.PEEK[1] BINARY.SIZE[1])")
        self.assertEqual(typ, "OK")
        self.assertIn(b"UID 2", data[0][0])
        self.assertEqual(data[0][1], b"second body\r\n")
        self.assertEqual(m.uid("MOVE", "2", "Trash")[0], "OK")
        self.assertEqual(m.check()[0], "OK")
        self.assertEqual(m.noop()[0], "OK")
        self.assertEqual(m.unselect()[0], "OK")
        # MULTIAPPEND, with imaplib's literal machinery for the first message and LITERAL+
        # for the second.
        one, two = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
        tag = m._new_tag()
        m.send(tag + b" APPEND Drafts {%d+}\r\n%s {%d+}\r\n%s\r\n" % (len(one), one, len(two), two))
        line = m.readline()
        self.assertTrue(line.startswith(tag + b" OK [APPENDUID ") and b" 1:2]" in line, line)
        self.assertEqual(m.status("Drafts", "(MESSAGES)")[1], [b"Drafts (MESSAGES 2)"])
        self.assertEqual(m.select("Drafts")[0], "OK")
        m.store("1", "+FLAGS", "(\\Deleted)")
        self.assertEqual(m.uid("EXPUNGE", "1:*")[0], "OK")
        self.assertEqual(m.close()[0], "OK")
        typ, data = m.xatom("ID", "NIL")
        self.assertEqual(typ, "OK")
        # UTF8=ACCEPT: UTF-8 names as they are, and APPEND's UTF8 form.
        self.assertEqual(m.enable("UTF8=ACCEPT")[0], "OK")
        self.assertEqual(m._simple_command("CREATE", '"Entwürfe"'.encode())[0], "OK")
        body = "Subject: Grüße\r\n\r\nhallo\r\n".encode()
        tag = m._new_tag()
        m.send(tag + b' APPEND "Entw\xc3\xbcrfe" UTF8 (~{%d+}\r\n%s)\r\n' % (len(body), body))
        self.assertTrue(m.readline().startswith(tag + b" OK [APPENDUID "))
        m.logout()
        self.assertEqual(len(self.server.folder("Drafts")), 1)

    def test_starttls_then_login(self):
        m = self.connect()
        self.assertIn("STARTTLS", m.capabilities)
        m.starttls(insecure())
        m.login("alice@example.test", "s3cret")
        self.assertEqual(m.select("INBOX", readonly=True), ("OK", [b"2"]))
        m.logout()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
