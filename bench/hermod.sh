# Helpers for the benchmark scripts (sourced): a scratch hermod server on loopback like
# bench/run's, and the readings. Needs $hermod, $scratch and $dns set by the caller.

cpu_seconds() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# The scratch server's configuration, to FILE: SMTP, POP3 and (IMAP yes|no) on loopback,
# the spam filter on or off (FILTER true|false), high connection limits, $dns as resolver.
# Sections a caller adds (e.g. [store]) go after it with `cat >> FILE`.
hermod_config() {
    local file=$1 imap=$2 filter=$3 hostname=${4:-bench.test} imap_listen='[]'
    [ "$imap" = yes ] && imap_listen='["127.0.0.1:0"]'
    cat > "$file" <<TOML
hostname = "$hostname"
data_dir = "."
[listen]
smtp = ["127.0.0.1:0"]
pop3 = ["127.0.0.1:0"]
submission = []
submissions = []
pop3s = []
imap = $imap_listen
imaps = []
http = []
https = []
metrics = []
managesieve = []
[limits]
max_connections = 5000
max_connections_per_ip = 5000
max_smtp_connections = 5000
max_pop3_connections = 5000
max_imap_connections = 5000
[dns]
nameservers = ["$dns"]
[spam]
enabled = $filter
TOML
}

# `domain add example.test` with binary HERMOD on CONFIG. An older binary refuses keys it
# does not know yet: the keys it names are dropped from CONFIG and it is asked again.
add_bench_domain() {
    local hermod=$1 config=$2 key
    while ! "$hermod" --config "$config" domain add example.test 2> "$config.err"; do
        key=$(sed -n 's/^ *\(listen\|limits\)\.\([a-z_]*\): unknown key$/\2/p' "$config.err")
        [ -n "$key" ] || { cat "$config.err" >&2; return 1; }
        sed -i "/^$key = /d" "$config"
    done
}

# A fresh server with `users` accounts, the spam filter on or off ($2, default off); sets
# $pid and $dir.
start_server() {
    local users=$1 filter=${2:-false}
    dir=$(mktemp -d "$scratch/run.XXXXXX")
    hermod_config "$dir/hermod.toml" yes "$filter"
    "$hermod" --config "$dir/hermod.toml" domain add example.test
    for u in $(seq 1 "$users"); do
        echo pw | "$hermod" --config "$dir/hermod.toml" user add "user$u@example.test" --password-stdin
    done
    launch_server
}

# Starts `hermod serve` on $dir (again, after stop_server: a fresh process over the same
# data); sets $pid and the listeners' addresses $smtp, $pop3 and $imap.
launch_server() {
    RUST_LOG=warn,hermod_server=info "$hermod" --config "$dir/hermod.toml" serve 2> "$dir/log" &
    pid=$!
    for _ in $(seq 1 100); do
        [ "$(grep -c listening "$dir/log" || true)" -ge 3 ] && break
        sleep 0.1
    done
    smtp=$(grep 'service=smtp' "$dir/log" | sed 's/.*addr=//')
    pop3=$(grep 'service=pop3' "$dir/log" | sed 's/.*addr=//')
    imap=$(grep 'service=imap ' "$dir/log" | sed 's/.*addr=//')
    [ -n "$smtp" ] && [ -n "$pop3" ] && [ -n "$imap" ] || { echo "hermod did not start:" >&2; cat "$dir/log" >&2; exit 1; }
}

stop_server() { kill "$pid"; wait "$pid" 2>/dev/null || true; }

