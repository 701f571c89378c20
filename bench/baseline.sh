# The classic stack for `bench/run --baseline`: Postfix (SMTP, queue) handing mail to Dovecot
# over LMTP (Maildir, its default fsync behaviour), Dovecot serving POP3 and IMAP, with the
# same 50 users, on loopback ports of their own, configured in a scratch folder. Sourced by
# bench/run; needs root (it installs the Debian packages and runs both as their own users).

baseline_smtp=127.0.0.1:2526
baseline_pop3=127.0.0.1:2111
baseline_imap=127.0.0.1:2144
baseline_lmtp_port=24241

# Debian's postfix package, left unconfigured (its own instance never starts), and whatever
# else is named.
apt_install_postfix() {
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix "$@" >/dev/null
}

# W1c's load generator, Postfix's smtp-source (shipped in the postfix package); bench/run
# needs it with or without --baseline.
smtp_source_install() {
    [ -x /usr/sbin/smtp-source ] || apt_install_postfix
}

baseline_install() {
    if ! command -v dovecot >/dev/null || [ ! -x /usr/sbin/postfix ] || [ ! -x /usr/lib/dovecot/imap ]; then
        apt_install_postfix dovecot-core dovecot-pop3d dovecot-lmtpd dovecot-imapd
    fi
    id vmail >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin vmail
    # Dovecot checks the very argon2id hash hermod stores for "pw" (same cost per login).
    local h
    h=$(mktemp -d "$scratch/hash.XXXXXX")
    "$hermod" --config "$h/hermod.toml" domain add example.test 2>/dev/null
    echo pw | "$hermod" --config "$h/hermod.toml" user add user1@example.test --password-stdin
    baseline_hash=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select password from users").fetchone()[0])' "$h/hermod.db")
    case "$baseline_hash" in '$argon2id$'*) ;; *) echo "baseline: unexpected hash $baseline_hash" >&2; exit 1 ;; esac
}

# A fresh Postfix + Dovecot pair with `users` accounts (password "pw"); sets $bdir. Lines in
# $baseline_main_cf_extra and $baseline_master_cf_extra (if set) are added to Postfix's
# main.cf and master.cf (bench/lists: the list's alias file, a transport to its receiver).
baseline_start() {
    local users=$1
    bdir=$(mktemp -d "$scratch/baseline.XXXXXX")
    # Dovecot delivers as vmail: it must get through the scratch folders.
    chmod 755 "$scratch" "$bdir"
    mkdir -p "$bdir/pf/spool" "$bdir/pf/data" "$bdir/dv/run" "$bdir/dv/state" "$bdir/mail"
    chown vmail:vmail "$bdir/mail"
    chown postfix "$bdir/pf/spool" "$bdir/pf/data"
    for u in $(seq 1 "$users"); do echo "user$u@example.test OK"; done > "$bdir/pf/vmailbox"
    for u in $(seq 1 "$users"); do echo "user$u@example.test:{ARGON2ID}$baseline_hash::::::"; done > "$bdir/dv/passwd"
    cat > "$bdir/pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $bdir/pf/spool
data_directory = $bdir/pf/data
mail_owner = postfix
myhostname = baseline.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file_prefixes = /tmp, /var
maillog_file = $bdir/pf/maillog
virtual_mailbox_domains = example.test
virtual_mailbox_maps = texthash:$bdir/pf/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:$baseline_lmtp_port
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
message_size_limit = 52428800
biff = no
${baseline_main_cf_extra:-}
EOF
    cat > "$bdir/pf/master.cf" <<EOF
$baseline_smtp inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
${baseline_master_cf_extra:-}
EOF
    cat > "$bdir/dv/dovecot.conf" <<EOF
base_dir = $bdir/dv/run
state_dir = $bdir/dv/state
log_path = $bdir/dv/dovecot.log
protocols = pop3 lmtp imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
# Dovecot's login cache on, as hermod's is (hermod remembers accepted logins for an hour).
auth_cache_size = 10M
auth_cache_ttl = 1 hour
mail_location = maildir:$bdir/mail/%d/%n
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $bdir/dv/passwd
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$bdir/mail/%d/%n
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${baseline_pop3##*:}
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $baseline_lmtp_port
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${baseline_imap##*:}
  }
  inet_listener imaps {
    port = 0
  }
}
# W4 holds up to 1,000 IMAP sessions: one imap process each (Debian's default is 1024
# processes), and the auxiliary services each take a client per process.
service imap {
  process_limit = 5000
}
default_client_limit = 10000
EOF
    dovecot -c "$bdir/dv/dovecot.conf"
    /usr/sbin/postfix -c "$bdir/pf" start
    for _ in $(seq 1 100); do
        ss -ltn | grep -q "${baseline_smtp}" && ss -ltn | grep -q "${baseline_pop3}" &&
            ss -ltn | grep -q "${baseline_imap}" && break
        sleep 0.1
    done
}

baseline_stop() {
    /usr/sbin/postfix -c "$bdir/pf" stop >/dev/null 2>&1 || true
    dovecot -c "$bdir/dv/dovecot.conf" stop >/dev/null 2>&1 || true
    sleep 1
}

# CPU seconds used so far by Postfix's and Dovecot's processes: every live process under
# their two masters, plus what each has reaped of exited children (an smtpd or lmtp that
# exited between two readings is counted by its parent's cutime).
baseline_cpu_seconds() {
    local roots
    roots="$(cat "$bdir/pf/spool/pid/master.pid") $(cat "$bdir/dv/run/master.pid")"
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$roots" '
        {
            pid = $1
            rest = substr($0, index($0, ") ") + 2)
            split(rest, f, " ")
            parent[pid] = f[2]
            cpu[pid] = f[12] + f[13] + f[14] + f[15]
        }
        END {
            n = split(roots, r, " ")
            for (i = 1; i <= n; i++) root[r[i] + 0] = 1
            for (p in cpu) {
                q = p
                for (depth = 0; depth < 20 && q + 0 > 1 && !(q in root); depth++) q = parent[q]
                if (q in root) total += cpu[p]
            }
            printf "%.2f", total / 100
        }'
}

# Dovecot's memory in KiB: the PSS of every process under its master (PSS splits each shared
# page among the processes sharing it, so a thousand imap processes are not counted a thousand
# times for the same library pages). Given master pids, the processes under those instead
# (bench/lists: Postfix's and Dovecot's together).
baseline_pss_kib() {
    local roots pids
    roots="${*:-$(cat "$bdir/dv/run/master.pid")}"
    pids=$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v roots="$roots" '
        {
            rest = substr($0, index($0, ") ") + 2)
            split(rest, f, " ")
            parent[$1] = f[2]
        }
        END {
            n = split(roots, r, " ")
            for (i = 1; i <= n; i++) root[r[i] + 0] = 1
            for (p in parent) {
                q = p
                for (depth = 0; depth < 20 && q + 0 > 1 && !(q in root); depth++) q = parent[q]
                if (q in root) print p
            }
        }')
    for p in $pids; do cat "/proc/$p/smaps_rollup" 2>/dev/null || true; done |
        awk '$1 == "Pss:" { total += $2 } END { print total + 0 }'
}

# W6's mailbox for user1 in the running baseline: `messages` of loadgen's messages (the very
# ones hermod gets over SMTP) written as Maildir files, then indexed the way delivery through
# LMTP would have left it (`doveadm index`), so the first IMAP SELECT does not build it.
baseline_fill_big() {
    local messages=$1 marker=$2 maildir="$bdir/mail/example.test/user1"
    "$load" maildir --dir "$maildir" --messages "$messages" --size 4096 --spread-dates \
        --marker "$marker" >&2
    chown -R vmail:vmail "$bdir/mail"
    doveadm -c "$bdir/dv/dovecot.conf" index -u user1@example.test INBOX
}

# Messages in the users' Maildirs.
baseline_delivered() { find "$bdir/mail" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }

# Sends with the load generator and waits until `expect` messages are in Maildirs (Postfix's
# 250 only means queued); prints messages/s over the whole time and the CPU seconds used.
baseline_smtp_run() {
    local messages=$1 rcpts=$2 expect=$3
    baseline_timed "$messages" "$expect" \
        "$load" smtp --addr "$baseline_smtp" --sessions 32 --messages "$messages" --size 4096 --rcpts "$rcpts" --users 50
}

# Runs the sending command (the rest of the arguments), waits until `expect` messages are in
# Maildirs and prints `messages`/s over the whole time and Postfix's and Dovecot's CPU
# seconds in that time.
baseline_timed() {
    local messages=$1 expect=$2
    shift 2
    local start end cpu
    cpu=$(baseline_cpu_seconds)
    start=$(date +%s.%N)
    "$@" >&2
    for _ in $(seq 1 6000); do
        [ "$(baseline_delivered)" -ge "$expect" ] && break
        sleep 0.1
    done
    end=$(date +%s.%N)
    [ "$(baseline_delivered)" -ge "$expect" ] || { echo "baseline: only $(baseline_delivered) of $expect delivered" >&2; exit 1; }
    cpu=$(echo "$(baseline_cpu_seconds) - $cpu" | bc)
    echo "$(echo "scale=1; $messages / ($end - $start)" | bc) $cpu"
}
