//! The commented configuration file `hermod serve` writes on first run.

/// Every key, documented, with its default. Commented-out keys show the default value.
pub fn default_file_text() -> String {
    DEFAULT_FILE.to_owned()
}

const DEFAULT_FILE: &str = r#"# hermod configuration.
# Every key is optional; a commented-out key shows its default. Sizes take a number of bytes
# or a string such as "50MiB" (K, M, G are powers of 1024); durations take seconds or a string
# such as "30s", "5m", "2h", "1d". Unknown keys and bad values stop hermod at start, with
# every problem listed.

# The name this server uses for itself: in its SMTP greeting, in Received: fields, and in the
# self-signed TLS certificate. Set it to the host name your MX record points at.
hostname = "localhost"

# Where hermod keeps everything: the index with small messages (hermod.db), larger ones (blobs/), the generated
# certificate (tls/). Relative paths are relative to the folder of this file. With
# [store] backend = "postgres" mail lives in the database; this folder keeps the certificate
# and large messages while they are being received (tmp/).
data_dir = "."

# After binding its ports, switch to this unprivileged user (needed when started as root to
# use ports below 1024). Default: keep the user hermod was started as.
# run_as = "hermod"

# Plus-addressing: alice+news@example.org is delivered to alice@example.org.
# "" turns it off.
# recipient_delimiter = "+"

# Where each service listens: a list of "addr:port" ("[::1]:25" for IPv6); [] turns it off.
# These defaults use unprivileged ports on loopback so hermod runs without root. For a
# real server use the standard ports on all addresses, which needs root (with run_as) or
# CAP_NET_BIND_SERVICE:
#   smtp = ["0.0.0.0:25", "[::]:25"]            submission = ["0.0.0.0:587", "[::]:587"]
#   submissions = ["0.0.0.0:465", "[::]:465"]   pop3 = ["0.0.0.0:110", "[::]:110"]
#   pop3s = ["0.0.0.0:995", "[::]:995"]         imap = ["0.0.0.0:143", "[::]:143"]
#   imaps = ["0.0.0.0:993", "[::]:993"]         managesieve = ["0.0.0.0:4190", "[::]:4190"]
#   http = ["0.0.0.0:80", "[::]:80"]            https = ["0.0.0.0:443", "[::]:443"]
# (`hermod quickstart DOMAIN` writes such a configuration for you.)
# IPv6 listeners are IPv6-only, so IPv4 and IPv6 are listed separately. Two listeners on the
# same address and port are reported as an error.
[listen]
# Mail from other servers (MX), SMTP with STARTTLS.
smtp = ["127.0.0.1:2525"]
# Mail from your users' email programs: STARTTLS (port 587) and implicit TLS (port 465).
submission = ["127.0.0.1:2587"]
submissions = ["127.0.0.1:2465"]
# POP3 with STLS, and POP3 over implicit TLS.
pop3 = ["127.0.0.1:2110"]
pop3s = ["127.0.0.1:2995"]
# IMAP with STARTTLS, and IMAP over implicit TLS.
imap = ["127.0.0.1:2143"]
imaps = ["127.0.0.1:2993"]
# ManageSieve with STARTTLS (RFC 5804): users' email programs manage their Sieve filters.
managesieve = ["127.0.0.1:4190"]
# Autoconfiguration for email programs (Thunderbird, Outlook, Apple devices) and the MTA-STS
# policy, over HTTP and HTTPS (standard ports 80 and 443; the names autoconfig.DOMAIN,
# autodiscover.DOMAIN and mta-sts.DOMAIN point here). HTTPS also serves the web interface
# (/account for every user, /admin for administrators); plain HTTP serves it to loopback only.
http = ["127.0.0.1:2080"]
https = ["127.0.0.1:2443"]
# Prometheus metrics at /metrics, plain HTTP: keep it on a private address.
metrics = ["127.0.0.1:9425"]

# The certificate chain and private key (PEM) every TLS service uses. Without them, hermod
# generates a self-signed certificate for `hostname` once, into data_dir/tls/.
[tls]
# cert = "/etc/letsencrypt/live/mail.example.org/fullchain.pem"
# key = "/etc/letsencrypt/live/mail.example.org/privkey.pem"

[limits]
# Largest message accepted (announced with the SMTP SIZE extension).
# max_message_size = "50MiB"
# Recipients per message; more get "452 4.5.3" and are sent in a later transaction.
# max_recipients = 100
# Connections at once, in total and from one IP address.
# max_connections = 1000
# max_connections_per_ip = 50
# Connections at once per service (587 and 465 count together as submission), so that
# idle sessions of one protocol cannot lock the others out.
# max_smtp_connections = 500
# max_submission_connections = 300
# max_pop3_connections = 300
# max_imap_connections = 600
# max_managesieve_connections = 100
# Longest SMTP command line, in bytes with CRLF (RFC 5321 says at least 512).
# max_command_line = 2048
# Longest line inside a message, in bytes with CRLF (RFC 5321 says 1000; longer lines are
# common enough in real mail to tolerate up to this).
# max_data_line = 8192
# More Received: fields than this means the message is looping: "554 5.4.6".
# max_received_headers = 50
# How long a client may stay silent between commands, and inside the message data
# (RFC 5321 4.5.3.2: 5 minutes and 3 minutes).
# The whole command line must arrive within command_timeout; message data may pause for
# data_timeout at most, and must then keep coming at min_data_rate bytes per second on
# average (a client sending a byte a second is cut off).
# command_timeout = "5m"
# data_timeout = "3m"
# min_data_rate = 1024
# On SIGTERM, how long to let transactions in flight finish before exiting.
# shutdown_grace = "30s"

[pop3]
# Passwords are only accepted over TLS (STLS, or the pop3s port), except from loopback
# addresses while this is true, so local tools work without certificates.
# allow_plaintext_auth_on_loopback = true
# Autologout: a session whose next command has not arrived after this long is closed
# (RFC 1939 asks for at least 10 minutes).
# idle_timeout = "10m"

[imap]
# Passwords (LOGIN, AUTHENTICATE) are only accepted over TLS (STARTTLS, or the imaps port),
# except from loopback addresses while this is true.
# allow_plaintext_auth_on_loopback = true
# Autologout: a logged-in session whose next command has not arrived after this long is
# closed (RFC 9051 asks for at least 30 minutes; an IDLE is renewed after as long). Before
# login a connection gets idle_timeout_unauthenticated.
# idle_timeout = "30m"
# idle_timeout_unauthenticated = "3m"
# Largest message APPEND accepts (advertised as APPENDLIMIT). Default: max_message_size.
# max_append_size = "50MiB"
# Longest command line, and largest command with its literals (APPEND's messages aside):
# more gets "BAD [TOOBIG]".
# max_line = 8192
# max_command_size = "64KiB"

[managesieve]
# Passwords are only accepted over TLS (STARTTLS), except from loopback addresses while this
# is true. (A top-level allow_plaintext_auth_on_loopback sets this, POP3's and IMAP's at once.)
# allow_plaintext_auth_on_loopback = true
# A session whose next command has not arrived after this long is closed.
# idle_timeout = "10m"

[smtp]
# Offer SMTP AUTH on the smtp listener too (after STARTTLS). Users should submit on the
# submission ports instead; leave this off unless an old client insists on port 25.
# allow_auth = false

[submission]
# Mail from your users' programs (the submission and submissions listeners, after AUTH).
# Leave the client's IP address out of the Received: field.
# hide_client_ip = false
# Also file a copy into the sender's Sent folder (most programs already save one).
# save_to_sent = false
# Recipients per message that one user may send, and how much per hour and per day:
# messages, and recipients (local and remote). Beyond: "450 4.7.1" naming the limit.
# max_recipients = 100
# max_messages_per_hour = 500
# max_messages_per_day = 2000
# max_recipients_per_hour = 1000
# max_recipients_per_day = 5000

[dns]
# The DNS resolvers hermod asks for MX and address records, as "ip:port". Default: the
# system's resolvers (/etc/resolv.conf).
# nameservers = ["127.0.0.1:53"]

[outbound]
# Mail for other domains: the port of their servers (always 25 on the internet).
# port = 25
# Send all outgoing mail through this relay instead of looking up MX records, for home
# connections whose provider blocks port 25 ("host:port").
# smarthost = "smtp.provider.example:587"
# Its credentials, if it wants them (sent only inside TLS).
# smarthost_user = "me@provider.example"
# smarthost_password = "secret"
# How long a message keeps being retried before it is bounced to its sender.
# max_queue_time = "5d"
# After this long undelivered, the sender is told the message is still being retried.
# delay_notice_after = "4h"
# Deliveries in flight at once.
# max_concurrent = 32
# Deliveries in flight at once to one domain (be gentle with small servers).
# max_per_domain = 4
# With several nodes on one PostgreSQL database: how long a node's claim on a queue entry
# lasts unless renewed (at a third of it while delivering), so how long the other nodes wait
# before delivering the entries of a node that died.
# claim_lease = "2m"

[spam]
# Spam defence for mail from other servers (the smtp listener): connection checks, SPF, DKIM
# and DMARC (an Authentication-Results: field on every message), and a content filter of
# rules plus a Bayesian classifier you train with `hermod spam train`. Every message gets
# X-Spam-Status and X-Spam-Score fields. false leaves only the static block list.
# enabled = true
# Clients refused at connect with "554 5.7.1": networks such as "192.0.2.0/24", "2001:db8::/32".
# blocklist = []
# Clients exempt from the connection checks, and never refused or filed into Junk.
# allowlist = []
# Files of networks, one per line (# starts a comment); re-read on SIGHUP with the lists
# above. Example: blocklist_file = "blocklist.txt"
# DNS block lists: "zen.spamhaus.org" refuses listed clients; "bl.example.org:2.5" adds 2.5
# to the message's score instead. A lookup that fails or times out never refuses mail.
# dnsbl_zones = []
# dnsbl_timeout = "2s"
# Wait this long before the greeting: a client that talks first (PREGREET) is a spam bot.
# greet_delay = "0s"
# What each connection check does: "off", "score" (adds to the message's score) or "reject".
# Talking before the greeting; a HELO that is not a host name or address literal; no reverse
# DNS, or one whose name does not lead back to the client's address.
# pregreet = "reject"
# helo = "score"
# rdns = "score"
# Refuse mail failing DMARC from domains that ask for it (p=reject), at the end of DATA.
# dmarc_reject = true
# Remember whom each account sends mail to, and the senders whose mail it takes out of Junk;
# mail whose author is one of them, with the author's domain authenticated (DKIM or SPF,
# aligned with From), scores KNOWN_SENDER (-4) for that account: replies from people you wrote
# to, and newsletters you rescued once, stay out of Junk.
# known_senders = true
# Messages scoring at least junk_threshold go to the recipient's Junk folder; at least
# reject_threshold are refused with "550 5.7.1" (no bounce is ever sent for them).
# junk_threshold = 5.0
# reject_threshold = 15.0
# Larger messages are stored without a content scan or DKIM check.
# max_scan_size = "512KiB"
# Greylisting: the first attempt from an unknown (client network, sender, recipient) is asked
# to come back after greylist_delay. Real servers retry; many spam bots never do.
# greylisting = false
# greylist_delay = "5m"

[mta_sts]
# MTA-STS (RFC 8461) tells other servers to deliver here only over valid TLS. The policy is
# served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt (needs a certificate valid for
# that name, and the _mta-sts TXT record `hermod domain dns` prints).
# "testing": senders report problems but deliver anyway; "enforce": they refuse to deliver
# without valid TLS; "none": withdraws a policy senders have cached.
# mode = "testing"
# How long senders may remember the policy (at most a year).
# max_age = "7d"
# The MX host names the policy allows ("*.example.org" matches one label). Default: hostname.
# mx = []
[sieve]
# Users' own filters (RFC 5228), run at every delivery into a local mailbox; manage them with
# `hermod sieve`. A script that fails or hits a limit keeps the message where it would have
# gone. Site-wide scripts, none by default, run before and after each user's (paths relative
# to this file). Example: before = "sieve/before.sieve", after = "sieve/after.sieve"
# max_script_size = "64KiB"
# max_scripts = 32
# Instructions one run may execute, redirects and replies (vacation) it may send.
# max_cpu = 20000
# max_redirects = 4
# max_replies = 3

[bulk]
# The bulk mail guard: what users submit is fingerprinted (a fuzzy fingerprint of its text,
# so copies varied per recipient still match). Copies of one text reaching more than
# hold_after distinct external recipients within window are held in the queue (the sender
# gets 250: the mail is kept; the account and postmaster get a notice; `hermod queue held`,
# `hermod queue release ID`). Past freeze_after the account may submit nothing until
# `hermod user unfreeze`. `hermod user bulk ADDRESS allow` exempts a newsletter sender.
# guard = true
# hold_after = 50
# freeze_after = 200
# window = "1h"
# Inbound: the same text from outside, not from a mailing list, reaching this many distinct
# local recipients within inbound_window scores BULK_DUPLICATE. 0 turns the rule off.
# inbound_recipients = 20
# inbound_window = "1h"

[lists]
# Mailing lists (`hermod list`). A member whose address bounces this many posts is suspended
# (gets nothing until added again) and the list's owner is told.
# suspend_after_bounces = 3
# A member suspended this long is removed (the owner is told). "0s": kept until the owner acts.
# remove_suspended_after = "30d"
# How long a confirmation sent by mail (subscribe, unsubscribe) can be answered.
# confirm_expiry = "72h"
# Posts one list distributes per hour and per day; more are refused with a temporary error,
# so their senders retry later. 0: no limit.
# max_posts_per_hour = 60
# max_posts_per_day = 500
# Where one-click unsubscribe links (RFC 8058) point: "https://HOST" or "https://HOST:PORT".
# Unset: the hostname with the first https listener not on loopback (none: no links).
# "": no links (the mailto: address stays).
# unsubscribe_url = "https://mail.example.org"

[outbound_tls]
# MTA-STS (RFC 8461): the relay fetches each recipient domain's policy and, in "enforce" mode,
# delivers only to the MX hosts it names over TLS with a valid certificate (else it waits and
# retries); "testing" mode delivers anyway and reports. Not used with a smarthost.
# mta_sts = true
# Extra CA certificates (PEM) trusted besides the system's, for policies and MX certificates.
# ca_file = "/etc/hermod/extra-ca.pem"
# policy_port = 443
# TLS-RPT (RFC 8460): a daily report of these TLS sessions to each domain that publishes
# _smtp._tls (mailto: addresses only), from report_from ("": postmaster@ the first local domain).
# tls_rpt = true
# report_interval = "24h"
# report_from = ""

[acme]
# Certificates from an ACME CA (RFC 8555), obtained and renewed in the background without a
# restart; they replace [tls] for every TLS listener once issued. Off while directory is
# empty. Let's Encrypt: directory = "https://acme-v02.api.letsencrypt.org/directory"
# directory = ""
# contact = ["mailto:postmaster@example.org"]
# The names the certificate covers. Empty: hostname, and mta-sts., autoconfig. and
# autodiscover. of each local domain (each must resolve to this server).
# names = []
# "tls-alpn-01" answers on the https listener (port 443), "http-01" on http (port 80).
# challenge = "tls-alpn-01"
# renew_before = "30d"
# How often the names are worked out again: a domain added since the last order gets its
# names certified within this (a new order).
# names_check = "10m"
# A CA certificate (PEM) to trust for the directory's HTTPS, for a test CA.
# directory_ca = "pebble.minica.pem"

[store]
# Where accounts and mail are kept. "sqlite": in data_dir, for one server. "postgres": in a
# PostgreSQL database that any number of hermod servers share (each with its own data_dir).
# backend = "sqlite"
# The database, for backend = "postgres": a libpq-style URL. Several hosts with
# target_session_attrs=read-write find the primary; sslmode=require for TLS (the certificate
# is always verified: against ca_file, and the host name).
# url = "postgres://hermod:secret@db1.example.org,db2.example.org/hermod?target_session_attrs=read-write"
# Database connections per server, and how long to wait for one.
# pool_size = 16
# connect_timeout = "10s"
# The certificate authorities (PEM) the database's certificate must chain to. Default: the
# system's.
# ca_file = "db-ca.pem"
"#;
