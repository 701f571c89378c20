# Sourced by bench/run --postgres: hermod nodes on a scratch PostgreSQL cluster on loopback.
# Needs bench/hermod.sh sourced too (its hermod_config writes each node's configuration).
#
# The cluster is durable as a production one is: fsync, synchronous_commit and
# full_page_writes at their defaults (on), wal_sync_method the platform's default; it gets
# shared_buffers = 512MB (the 128MB default is for tiny machines) and room for the nodes'
# pools. Everything else is PostgreSQL's default.
#
# Uses $scratch, $hermod, $load and $dns from bench/run.

pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# Starts the cluster; sets $pg_dir, $pg_url (base, no database) and $pg_pid.
pg_cluster_start() {
    [ -x "$pg_bindir/postgres" ] || { echo "bench/run --postgres: PostgreSQL is not installed" >&2; exit 1; }
    # Outside $scratch: as root the cluster runs as `postgres`, which must reach its files.
    pg_dir=$(mktemp -d /tmp/hermod-bench-pg.XXXXXX)
    local as=()
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$pg_dir"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$pg_bindir/initdb" -D "$pg_dir/data" -U hermod -A trust -E UTF8 --locale=C \
        >"$pg_dir/initdb.log" 2>&1 || { cat "$pg_dir/initdb.log" >&2; exit 1; }
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as[@]}" "$pg_bindir/postgres" -D "$pg_dir/data" -p "$port" -k "$pg_dir" \
        -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=512MB \
        >"$pg_dir/postgres.log" 2>&1 &
    for _ in $(seq 1 100); do
        "$pg_bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.1
    done
    pg_pid=$(head -1 "$pg_dir/data/postmaster.pid")
    pg_url="postgres://hermod@127.0.0.1:$port"
    echo "PostgreSQL $("$pg_bindir/postgres" --version | awk '{ print $3 }') on port $port:" \
        "$(psql -At "$pg_url/postgres" -c "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers')")" >&2
}

pg_cluster_stop() {
    if [ -n "${pg_pid:-}" ]; then
        kill -INT "$pg_pid" 2>/dev/null || true
        while kill -0 "$pg_pid" 2>/dev/null; do sleep 0.2; done
        pg_pid=
    fi
    [ -n "${pg_dir:-}" ] && rm -rf "$pg_dir"
    pg_dir=
}

# CPU seconds of the whole cluster: the postmaster, the backends it has reaped, and the
# ones alive.
pg_cpu_seconds() {
    local total
    total=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pg_pid/stat")
    for child in $(pgrep -P "$pg_pid"); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$child/stat" 2>/dev/null || echo 0)))
    done
    echo "scale=2; $total / 100" | bc
}

# A fresh database with `users` accounts (user1..N@example.test, password pw), then `nodes`
# hermod nodes on it, each with its own data_dir; sets $pg_smtp, $pg_pop3 (--addr options
# for loadgen, one per node) and $pg_pids.
pg_nodes_start() {
    local users=$1 nodes=$2 db
    db="bench_$(date +%s%N)"
    psql -q "$pg_url/postgres" -c "CREATE DATABASE $db"
    "$load" users --url "$pg_url/$db?sslmode=disable" --users "$users" >/dev/null
    pg_smtp= pg_pop3= pg_pids=
    for n in $(seq 1 "$nodes"); do
        local ndir
        ndir=$(mktemp -d "$scratch/node.XXXXXX")
        hermod_config "$ndir/hermod.toml" no false "node$n.bench.test"
        cat >> "$ndir/hermod.toml" <<TOML
[store]
backend = "postgres"
url = "$pg_url/$db?sslmode=disable"
pool_size = 32
TOML
        # The log exists before the node opens it, so the wait below never reads a missing file.
        : > "$ndir/log"
        RUST_LOG=warn,hermod_server=info "$hermod" --config "$ndir/hermod.toml" serve 2>> "$ndir/log" &
        pg_pids+=" $!"
        for _ in $(seq 1 100); do
            [ "$(grep -c listening "$ndir/log" || true)" -ge 2 ] && break
            sleep 0.1
        done
        local smtp pop3
        smtp=$(grep 'service=smtp' "$ndir/log" | sed 's/.*addr=//')
        pop3=$(grep 'service=pop3' "$ndir/log" | sed 's/.*addr=//')
        [ -n "$smtp" ] && [ -n "$pop3" ] || { echo "hermod node $n did not start:" >&2; cat "$ndir/log" >&2; exit 1; }
        pg_smtp+=" --addr $smtp"
        pg_pop3+=" --addr $pop3"
    done
}

pg_nodes_stop() {
    local p
    for p in $pg_pids; do kill "$p"; wait "$p" 2>/dev/null || true; done
    pg_pids=
}

# CPU seconds of every node together.
pg_nodes_cpu() {
    local total=0 p
    for p in $pg_pids; do total=$(echo "$total + $(cpu_seconds "$p")" | bc); done
    echo "$total"
}

# W1, W2 and W1b on `nodes` nodes, results recorded under pg${nodes}_*.
pg_workloads() {
    local nodes=$1 out before pg_before cpu pg_cpu
    pg_nodes_start 50 "$nodes"
    before=$(pg_nodes_cpu); pg_before=$(pg_cpu_seconds)
    # shellcheck disable=SC2086 # one --addr per node
    out=$("$load" smtp $pg_smtp --sessions 32 --messages "$messages" --size 4096 --rcpts 1 --users 50)
    cpu=$(echo "$(pg_nodes_cpu) - $before" | bc); pg_cpu=$(echo "$(pg_cpu_seconds) - $pg_before" | bc)
    echo "PG $nodes node(s) W1  $out hermod_cpu_s=$cpu postgres_cpu_s=$pg_cpu" >&2
    record "pg${nodes}_w1_rate" "$(echo "$out" | field messages_per_s)"
    record "pg${nodes}_w1_cpu" "$(echo "scale=2; $cpu * 1000 / $messages" | bc)"
    record "pg${nodes}_w1_pgcpu" "$(echo "scale=2; $pg_cpu * 1000 / $messages" | bc)"
    # shellcheck disable=SC2086
    out=$("$load" pop3 $pg_pop3 --users 50)
    echo "PG $nodes node(s) W2  $out" >&2
    record "pg${nodes}_w2_rate" "$(echo "$out" | field messages_per_s)"
    record "pg${nodes}_w2_dl" "$(echo "$out" | field download_messages_per_s)"
    pg_nodes_stop

    pg_nodes_start 50 "$nodes"
    before=$(pg_nodes_cpu); pg_before=$(pg_cpu_seconds)
    # shellcheck disable=SC2086
    out=$("$load" smtp $pg_smtp --sessions 32 --messages "$messages" --size 4096 --rcpts 10 --users 50)
    cpu=$(echo "$(pg_nodes_cpu) - $before" | bc); pg_cpu=$(echo "$(pg_cpu_seconds) - $pg_before" | bc)
    echo "PG $nodes node(s) W1b $out hermod_cpu_s=$cpu postgres_cpu_s=$pg_cpu" >&2
    record "pg${nodes}_w1b_rate" "$(echo "$out" | field messages_per_s)"
    record "pg${nodes}_w1b_cpu" "$(echo "scale=2; $cpu * 1000 / $messages" | bc)"
    record "pg${nodes}_w1b_pgcpu" "$(echo "scale=2; $pg_cpu * 1000 / $messages" | bc)"
    pg_nodes_stop
}

pg_table() {
    cat <<TABLE

PostgreSQL $("$pg_bindir/postgres" --version | awk '{ print $3 }') on the same machine (a scratch cluster on loopback, fsync, synchronous_commit and full_page_writes on, shared_buffers 512MB; pool_size 32 per node), beside the embedded store of the same run; two nodes share the load (sessions and users alternate between them). CPU per 1000 messages: every hermod node together, then the whole PostgreSQL cluster.

| workload | embedded | PG, 1 node | PG, 2 nodes | hermod CPU s / 1000 msgs (embedded, PG 1, PG 2) | PostgreSQL CPU s / 1000 msgs (1 node, 2 nodes) |
|---|---|---|---|---|---|
| W1  SMTP 4 KiB, 1 rcpt, 32 sessions | $(m w1_rate) | $(m pg1_w1_rate) | $(m pg2_w1_rate) | $(m w1_cpu), $(m pg1_w1_cpu), $(m pg2_w1_cpu) | $(m pg1_w1_pgcpu), $(m pg2_w1_pgcpu) |
| W1b SMTP 4 KiB, 10 rcpts, 32 sessions | $(m w1b_rate) | $(m pg1_w1b_rate) | $(m pg2_w1b_rate) | $(m w1b_cpu), $(m pg1_w1b_cpu), $(m pg2_w1b_cpu) | $(m pg1_w1b_pgcpu), $(m pg2_w1b_pgcpu) |
| W2  POP3 download, 50 users, logins included | $(m w2_rate) | $(m pg1_w2_rate) | $(m pg2_w2_rate) | | |
| W2d the same, download phase only | $(m w2_dl) | $(m pg1_w2_dl) | $(m pg2_w2_dl) | | |
TABLE
}
