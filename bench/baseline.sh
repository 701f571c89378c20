# The classic stack for `bench/run --baseline`: Postfix (SMTP, queue) handing mail to Dovecot
# over LMTP (Maildir, its default fsync behaviour), Dovecot serving POP3, with the same 50
# users, on loopback ports of their own, configured in a scratch folder. Sourced by bench/run;
# needs root (it installs the Debian packages and runs both as their own users).

baseline_smtp=127.0.0.1:2526
baseline_pop3=127.0.0.1:2111
baseline_lmtp_port=24241

baseline_install() {
    if ! command -v dovecot >/dev/null || [ ! -x /usr/sbin/postfix ]; then
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix dovecot-core dovecot-pop3d dovecot-lmtpd >/dev/null
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

# A fresh Postfix + Dovecot pair with `users` accounts (password "pw"); sets $bdir.
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
EOF
    cat > "$bdir/dv/dovecot.conf" <<EOF
base_dir = $bdir/dv/run
state_dir = $bdir/dv/state
log_path = $bdir/dv/dovecot.log
protocols = pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
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
    port = 0
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
    dovecot -c "$bdir/dv/dovecot.conf"
    /usr/sbin/postfix -c "$bdir/pf" start
    for _ in $(seq 1 100); do
        ss -ltn | grep -q "${baseline_smtp}" && ss -ltn | grep -q "${baseline_pop3}" && break
        sleep 0.1
    done
}

baseline_stop() {
    /usr/sbin/postfix -c "$bdir/pf" stop >/dev/null 2>&1 || true
    dovecot -c "$bdir/dv/dovecot.conf" stop >/dev/null 2>&1 || true
    sleep 1
}

# Messages in the users' Maildirs.
baseline_delivered() { find "$bdir/mail" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }

# Sends with the load generator and waits until `expect` messages are in Maildirs (Postfix's
# 250 only means queued); prints messages/s over the whole time.
baseline_smtp_run() {
    local messages=$1 rcpts=$2 expect=$3
    local start end
    start=$(date +%s.%N)
    "$load" smtp --addr "$baseline_smtp" --sessions 32 --messages "$messages" --size 4096 --rcpts "$rcpts" --users 50 >&2
    for _ in $(seq 1 6000); do
        [ "$(baseline_delivered)" -ge "$expect" ] && break
        sleep 0.1
    done
    end=$(date +%s.%N)
    [ "$(baseline_delivered)" -ge "$expect" ] || { echo "baseline: only $(baseline_delivered) of $expect delivered" >&2; exit 1; }
    echo "scale=1; $messages / ($end - $start)" | bc
}
