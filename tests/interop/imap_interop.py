#!/usr/bin/env python3
"""Interop: Python's imaplib against the built hermod.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
"""
import imaplib
import sys
import time
import unittest

from hermod_harness import Hermod, insecure


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
        self.assertLess(time.monotonic() - started, 5)
        m.send(b"DONE\r\n")
        self.assertTrue(m.readline().startswith(tag + b" OK"))
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1 2 3"]))
        m.logout()

    def test_mailbox_commands_and_list_extended(self):
        m = self.connect()
        self.assertIn("IMAP4REV2", m.capabilities)
        m.authenticate("PLAIN", lambda _: b"\0alice@example.test\0s3cret")
        self.assertEqual(m.namespace(), ("OK", [b'(("" "/")) NIL NIL']))
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
