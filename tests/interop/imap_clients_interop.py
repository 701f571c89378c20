#!/usr/bin/env python3
"""Interop: real IMAP clients from Debian (mbsync, fetchmail, curl, getmail6, and a scripted
neomutt session under a pseudo-terminal) against the built hermod.

Run by `cargo test` (crates/hermod/tests/interop.rs) with HERMOD_BIN set; loopback only.
The clients fail, never skip, when missing: scripts/test installs them.
"""
import imaplib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from hermod_harness import Hermod

USER = "alice@example.test"


def need(tool, package):
    if shutil.which(tool) is None:
        raise RuntimeError("%s is not installed (scripts/test installs %s)" % (tool, package))


def run(cmd, home, timeout=120):
    env = dict(os.environ, HOME=home)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def maildir_files(root):
    """Every message file under a Maildir tree, as {relative folder: [contents]}."""
    out = {}
    for folder, dirs, files in os.walk(root):
        if os.path.basename(folder) not in ("cur", "new"):
            continue
        name = os.path.relpath(os.path.dirname(folder), root)
        for entry in files:
            with open(os.path.join(folder, entry), "rb") as f:
                out.setdefault(name, []).append(f.read())
    return out


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.server = Hermod()
        self.server.deliver(USER, b"Subject: one\r\nFrom: bob@remote.test\r\n\r\nfirst body\r\n")
        self.server.deliver(USER, b"Subject: two\r\nFrom: bob@remote.test\r\n\r\nsecond body\r\n")
        self.home = tempfile.mkdtemp(prefix="hermod-imap-client-")
        self.port = self.server.ports["imap"]

    def tearDown(self):
        self.server.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def imap(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=20)
        m.login(USER, "s3cret")
        return m


class Mbsync(ClientTest):
    """A two-way sync of every folder, then again after changes on both sides."""

    def config(self):
        local = os.path.join(self.home, "Mail")
        os.makedirs(local, exist_ok=True)
        rc = os.path.join(self.home, "mbsyncrc")
        with open(rc, "w") as f:
            f.write(
                "IMAPAccount hermod\nHost 127.0.0.1\nPort %d\nUser %s\nPass s3cret\n"
                "SSLType None\nAuthMechs LOGIN\n\n"
                "IMAPStore remote\nAccount hermod\n\n"
                "MaildirStore local\nPath %s/\nInbox %s/INBOX\nSubFolders Verbatim\n\n"
                "Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\n"
                "Expunge Both\nSyncState *\n" % (self.port, USER, local, local)
            )
        return rc, local

    def mbsync(self, rc):
        result = run(["mbsync", "-c", rc, "-a"], self.home)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_two_way_sync_of_all_folders(self):
        need("mbsync", "isync")
        m = self.imap()
        m.create("Work/Projects")
        m.append("Work/Projects", "(\\Flagged)", None, b"Subject: plan\r\n\r\nthe plan\r\n")
        m.logout()
        rc, local = self.config()
        self.mbsync(rc)
        got = maildir_files(local)
        self.assertEqual(len(got.get("INBOX", [])), 2, got.keys())
        self.assertTrue(any(b"the plan" in b for b in got.get("Work/Projects", [])), got.keys())
        self.assertIn("Sent", got.keys() | {d for d in os.listdir(local)})

        # Changes on both sides: a new local message in Work/Projects and a local folder;
        # on the server a new delivery and a message flagged \Deleted elsewhere.
        for folder, body in (("Work/Projects", b"Subject: local\r\n\r\nwritten offline\r\n"), ("Notes", b"Subject: note\r\n\r\nnote\r\n")):
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(local, folder, sub), exist_ok=True)
            with open(os.path.join(local, folder, "new", "1700000000.1_1.host"), "wb") as f:
                f.write(body)
        self.server.deliver(USER, b"Subject: three\r\n\r\nthird body\r\n")
        m = self.imap()
        m.select("INBOX")
        m.store("1", "+FLAGS", "(\\Seen)")
        m.logout()
        self.mbsync(rc)

        got = maildir_files(local)
        self.assertEqual(len(got.get("INBOX", [])), 3, "the new delivery came down")
        m = self.imap()
        typ, data = m.select("Work/Projects")
        self.assertEqual((typ, data), ("OK", [b"2"]), "the offline message went up")
        typ, data = m.select("Notes")
        self.assertEqual((typ, data), ("OK", [b"1"]), "the new local folder was created")
        m.logout()
        seen = [n for n in os.listdir(os.path.join(local, "INBOX", "cur")) if ":2," in n and "S" in n.split(":2,")[1]]
        self.assertEqual(len(seen), 1, "\\Seen set on the server came down as the S flag")
        # A third run changes nothing.
        self.mbsync(rc)
        self.assertEqual(len(maildir_files(local).get("INBOX", [])), 3)


class Fetchmail(ClientTest):
    def test_fetch_over_imap_keep_then_delete(self):
        need("fetchmail", "fetchmail")
        out = os.path.join(self.home, "delivered")
        rc = os.path.join(self.home, "fetchmailrc")

        def fetchmail(options):
            with open(rc, "w") as f:
                f.write("set no bouncemail\n")
                f.write("poll 127.0.0.1 with proto IMAP port %d\n" % self.port)
                f.write('  user "%s" there with password "s3cret" is "root" here\n' % USER)
                f.write("  options %s\n" % options)
                f.write("  mda \"/bin/sh -c 'cat >> %s'\"\n" % out)
            os.chmod(rc, 0o600)
            cmd = ["fetchmail", "-f", rc, "--idfile", os.path.join(self.home, "ids"), "--nosyslog", "-N", "-v"]
            result = run(cmd, self.home)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

        def subjects():
            with open(out, errors="replace") as f:
                return sorted(line.strip() for line in f if line.startswith("Subject: "))

        fetchmail("keep sslproto tls1.2+ no sslcertck")
        self.assertEqual(subjects(), ["Subject: one", "Subject: two"])
        self.assertEqual(len(self.server.inbox()), 2, "keep leaves the mail on the server")
        fetchmail("fetchall nokeep sslproto ''")
        self.assertEqual(len(subjects()), 4)
        self.assertEqual(self.server.inbox(), [], "fetchmail expunged what it fetched")


class Curl(ClientTest):
    def curl(self, path, *extra):
        need("curl", "curl")
        url = "imap://127.0.0.1:%d/%s" % (self.port, path)
        result = run(["curl", "-sS", "--max-time", "60", "-u", USER + ":s3cret", url, *extra], self.home)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_list_fetch_and_search(self):
        listing = self.curl("")
        for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk"):
            self.assertTrue(any(line.endswith(" " + name) for line in listing.splitlines()), listing)
        body = self.curl("INBOX;UID=2")
        self.assertIn("Subject: two", body)
        # (text mode: the CRLFs read as newlines)
        self.assertTrue(body.endswith("\nsecond body\n"), repr(body))
        section = self.curl("INBOX;UID=1;SECTION=HEADER.FIELDS%20(SUBJECT)")
        self.assertEqual(section.strip(), "Subject: one")
        found = self.curl("INBOX?SUBJECT%20two")
        self.assertEqual(found.strip(), "* SEARCH 2")
        examined = self.curl("INBOX", "-X", "EXAMINE INBOX")
        self.assertIn("2 EXISTS", examined)


class Getmail(ClientTest):
    def test_retrieve_into_a_maildir(self):
        need("getmail", "getmail6")
        maildir = os.path.join(self.home, "Maildir")
        os.makedirs(maildir)
        for folder in (self.home, maildir):
            os.chmod(folder, 0o777)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
            os.chmod(os.path.join(maildir, sub), 0o777)
        # getmail refuses to deliver as root; under root (CI containers) it delivers as nobody.
        as_user = "user = nobody\n" if os.geteuid() == 0 else ""
        rc_dir = os.path.join(self.home, ".getmail")
        os.makedirs(rc_dir)
        rc = os.path.join(rc_dir, "getmailrc")
        with open(rc, "w") as f:
            f.write(
                "[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = %d\n"
                "username = %s\npassword = s3cret\nmailboxes = (\"INBOX\",)\n\n"
                "[destination]\ntype = Maildir\npath = %s/\n%s\n"
                "[options]\nread_all = false\ndelete = false\n" % (self.port, USER, maildir, as_user)
            )
        cmd = ["getmail", "--getmaildir", rc_dir, "--rcfile", rc]
        result = run(cmd, self.home)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        got = maildir_files(maildir).get(".", [])
        self.assertEqual(len(got), 2, result.stdout)
        self.assertTrue(any(b"first body" in m for m in got))
        # It remembers what it has: a second run with one new message fetches one.
        self.server.deliver(USER, b"Subject: three\r\n\r\nthird\r\n")
        result = run(cmd, self.home)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(len(maildir_files(maildir).get(".", [])), 3, result.stdout)


class Neomutt(ClientTest):
    """A scripted session (keys pushed at start, a pseudo-terminal from script(1)): tag a
    message, save it to a new folder, delete it from INBOX and expunge, flag another."""

    def test_save_delete_flag_headless(self):
        need("neomutt", "neomutt")
        need("script", "bsdutils")
        rc = os.path.join(self.home, "muttrc")
        with open(rc, "w") as f:
            f.write('set folder="imap://alice%%40example.test@127.0.0.1:%d/"\n' % self.port)
            f.write('set imap_pass="s3cret" spoolfile="+INBOX" ssl_starttls=no ssl_force_tls=no\n')
            f.write('set record="" confirmappend=no confirmcreate=no delete=yes mark_old=no\n')
            f.write('set header_cache="" message_cachedir="" timeout=1\n')
        keys = (
            "<tag-pattern>~s two<enter><tag-prefix><save-message>=Archive<enter>"
            "<tag-pattern>~s one<enter><tag-prefix><flag-message><sync-mailbox><exit>"
        )
        command = "neomutt -n -F %s -e 'push \"%s\"'" % (rc, keys)
        env = dict(os.environ, HOME=self.home, TERM="xterm")
        result = subprocess.run(["script", "-qec", command, "/dev/null"], env=env, capture_output=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout[-2000:])
        m = self.imap()
        self.assertEqual(m.select("Archive"), ("OK", [b"1"]))
        typ, data = m.fetch("1", "(BODY.PEEK[TEXT])")
        self.assertEqual(data[0][1], b"second body\r\n")
        self.assertEqual(m.select("INBOX"), ("OK", [b"1"]), "moved out and expunged")
        typ, data = m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"\\Flagged", data[0][0])
        self.assertIn(b"Subject: one", data[0][1])
        m.logout()


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
