"""A hermod server in a scratch directory, for the interop tests (loopback only)."""
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading

HERMOD = os.environ.get("HERMOD_BIN", "target/debug/hermod")

CONFIG = """hostname = "mx.example.test"
data_dir = "."
[listen]
smtp = ["127.0.0.1:0"]
submission = ["127.0.0.1:0"]
submissions = ["127.0.0.1:0"]
pop3 = ["127.0.0.1:0"]
pop3s = ["127.0.0.1:0"]
imap = ["127.0.0.1:0"]
imaps = ["127.0.0.1:0"]
http = []
https = []
metrics = []
managesieve = []
# Test clients HELO with this machine's bare host name and have no reverse DNS on the local
# fake DNS: scoring those would file the tests' minimal messages into Junk.
[spam]
helo = "off"
rdns = "off"
"""  # Hermod(spam_config=...) adds lines to this [spam] section.


_LOCAL_DNS = None


def local_dns():
    """A DNS server on loopback (dnslib) answering NXDOMAIN to everything, so hermod's
    reverse-DNS, SPF and DKIM lookups never leave the machine. Started once per process."""
    global _LOCAL_DNS
    if _LOCAL_DNS is None:
        from dnslib.server import BaseResolver, DNSLogger, DNSServer

        class Nothing(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                reply.header.rcode = 3
                return reply

        quiet = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
        _LOCAL_DNS = DNSServer(Nothing(), port=0, address="127.0.0.1", logger=quiet)
        _LOCAL_DNS.start_thread()
    return _LOCAL_DNS.server.server_address[1]


class Hermod:
    """A hermod server in a scratch directory."""

    def __init__(self, extra_config="", domain="example.test", user="alice", spam_config="", managesieve=False, web=False):
        self.dir = tempfile.mkdtemp(prefix="hermod-interop-")
        self.config = os.path.join(self.dir, "hermod.toml")
        if "[dns]" not in extra_config:
            extra_config += '\n[dns]\nnameservers = ["127.0.0.1:%d"]\n' % local_dns()
        with open(self.config, "w") as f:
            config = CONFIG.replace("mx.example.test", "mx." + domain)
            if managesieve:
                config = config.replace("managesieve = []", 'managesieve = ["127.0.0.1:0"]')
            if web:
                config = config.replace("https = []", 'https = ["127.0.0.1:0"]')
            f.write(config + spam_config + extra_config)
        self.address = "%s@%s" % (user, domain)
        self.cli("domain", "add", domain)
        self.cli("user", "add", self.address, "--password-stdin", stdin="s3cret\n")
        self.cli("alias", "add", "postmaster@" + domain, self.address)
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        expected = 7 + int(managesieve) + int(web)
        self.proc = subprocess.Popen([HERMOD, "--config", self.config, "serve"], stderr=subprocess.PIPE, text=True, env=env)
        self.ports = {}
        for line in self.proc.stderr:
            m = re.search(r"listening service=(\w+) addr=127\.0\.0\.1:(\d+)", line)
            if m:
                self.ports[m.group(1)] = int(m.group(2))
            if len(self.ports) == expected:
                break
        if len(self.ports) != expected:
            raise RuntimeError("hermod did not start: %r" % self.ports)
        self.port = self.ports["smtp"]
        # Keep draining the log so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()

    def cli(self, *args, stdin=None):
        return subprocess.run([HERMOD, "--config", self.config, *args], input=stdin, text=True, check=True, capture_output=True).stdout

    def deliver(self, to, body):
        """Hands a message to hermod over SMTP."""
        import smtplib
        with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as s:
            s.sendmail("sender@remote.test", [to], body)

    def inbox(self, user=None):
        user = user or self.address
        out = os.path.join(self.dir, "export-%d" % len(os.listdir(self.dir)))
        self.cli("export", user, out)
        messages = []
        for sub in ("cur", "new"):
            for name in sorted(os.listdir(os.path.join(out, sub))):
                with open(os.path.join(out, sub, name), "rb") as f:
                    messages.append(f.read())
        return messages

    def folder(self, name, user=None):
        """The messages of one of the user's folders (via `hermod export`)."""
        user = user or self.address
        out = os.path.join(self.dir, "export-%d" % len(os.listdir(self.dir)))
        self.cli("export", user, out)
        messages = []
        for sub in ("cur", "new"):
            path = os.path.join(out, "." + name, sub)
            for entry in sorted(os.listdir(path)) if os.path.isdir(path) else []:
                with open(os.path.join(path, entry), "rb") as f:
                    messages.append(f.read())
        return messages

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def insecure():
    """A TLS context for hermod's self-signed test certificate."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
