#!/usr/bin/env bash
# bench.sh - secho-server side by side with the minimal floors and every
# installed peer (socat, ncat, gnutls-serv, stunnel, a Go crypto/tls and a
# Node.js tls echo server from bench/), on loopback, in one run.
# Each server runs alone on one CPU (taskset -c 1), secho-bench on the other
# (-c 0); the figure compared is the server's own CPU per unit of work, summed
# over its whole process group from /proc (forking peers included).
#
# Usage: scripts/bench.sh [-d SECS] [-r N] [--rows REGEX] [--out DIR]
#                         [--no-plot]
#   (make bench builds everything first; see docs/benchmarks.md)
#   -d SECS       seconds per measured row (default 3)
#   -r N          measure secho, secho-rec, echo-floor and go N times per
#                 row, interleaved, and keep the lowest cost (default 2;
#                 hold rows once); go is the peer the TLS targets name, so
#                 it gets the same best-of-N as secho
#   --rows REGEX  run only the rows whose id matches (e.g. 'tls-rr|hs')
#   --out DIR     where DATE.json and DATE.png go (default bench/results)
# Env: SECHO_BIN (dir of secho-server and secho-bench, default bin),
#      ECHO_FLOOR (default build/obj/echo-floor),
#      BENCH_SERVER_CPU (1), BENCH_CLIENT_CPU (0), GO_ECHO (a go-echo
#      binary; default: built from bench/go-echo into build/bench/),
#      NODE (default: node on PATH).
set -euo pipefail
set +m

here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${SECHO_BIN:-$here/bin}
floor_bin=${ECHO_FLOOR:-$here/build/obj/echo-floor}
certs=$here/certs
out=$here/bench/results
dur=3
repeat=2
row_filter=.
plot=1
srv_cpu=${BENCH_SERVER_CPU:-1}
# secho-server refuses to keep root untold: as root, it runs as nobody.
as_user=()
[ "$(id -u)" = 0 ] && as_user=(--user nobody)
cli_cpu=${BENCH_CLIENT_CPU:-0}

die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }
note() { printf 'bench.sh: %s\n' "$*" >&2; }
usage() { sed -n '2,21s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
    -d | --duration) dur=${2:?-d needs seconds}; shift 2 ;;
    -r | --repeat) repeat=${2:?-r needs a count}; shift 2 ;;
    --rows) row_filter=${2:?--rows needs a regex}; shift 2 ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --no-plot) plot=0; shift ;;
    -h | --help) usage 0 ;;
    *) note "unknown option $1"; usage 1 ;;
    esac
done

[[ $dur =~ ^[1-9][0-9]*$ ]] || die "-d wants whole seconds, not '$dur'"
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "-r wants a count, not '$repeat'"
for tool in taskset setsid jq ss timeout openssl awk; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing: run 'make deps'"
done
[ -x "$bindir/secho-server" ] || die "no $bindir/secho-server: run 'make'"
[ -x "$bindir/secho-bench" ] || die "no $bindir/secho-bench: run 'make'"
[ -x "$floor_bin" ] || die "no $floor_bin: run 'make bench-floor'"
[ -r "$certs/server.pem" ] || die "no certificates in $certs: run 'make certs'"
ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
    note "only $ncpu CPU: server and load generator share CPU 0"
    srv_cpu=0 cli_cpu=0
fi
# hold 10k needs 10k descriptors in the client and in the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hold_conns=10000
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10100 ]; then
    hold_conns=$(($(ulimit -n) - 100))
    note "RLIMIT_NOFILE is $(ulimit -n): hold rows use $hold_conns connections"
fi

mkdir -p "$out"
stamp=$(date +%Y-%m-%d-%H%M)
json_out=$out/$stamp.json
png_out=$out/$stamp.png
work=$(mktemp -d)
records=$work/records.jsonl
: >"$records"
hz=$(getconf CLK_TCK)
srv_pg=
cli_pid=
# The run uses copies: a rebuild under way cannot swap a binary mid-run.
cp "$bindir/secho-server" "$bindir/secho-bench" "$floor_bin" "$work/"
bindir=$work
floor_bin=$work/${floor_bin##*/}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$cli_pid" ]; then
        kill -TERM "$cli_pid" 2>/dev/null || true
        wait "$cli_pid" 2>/dev/null || true
    fi
    stop_server
    [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- process groups -------------------------------------------------------

# Prints "NS LIVE" for process group PG: the CPU time of its members in ns
# and how many of them still run (zombies excluded).  A live process counts
# the sum_exec_runtime of its threads (/proc/PID/task/*/schedstat, exact);
# utime+stime would be cut to whole ticks per process, which loses up to
# 10 ms for each of a forking server's hundred children.  Children already
# reaped count through cutime+cstime, in ticks (cut once, in the total).
group_stat() {
    local pg=$1 f t line ns=0 live=0 run
    local -a s
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        read -r -a s <<<"${line##*) }"
        [ "${s[3]}" = "$pg" ] || continue
        ns=$((ns + (s[13] + s[14]) * 1000000000 / hz))
        for t in "${f%/stat}"/task/*/schedstat; do
            { read -r run _ <"$t"; } 2>/dev/null && ns=$((ns + run))
        done
        [ "${s[0]}" = Z ] || live=$((live + 1))
    done
    echo "$ns $live"
}

# The process group of PID, from /proc.
leader_pgrp() {
    local line
    local -a s
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
    read -r -a s <<<"${line##*) }"
    echo "${s[3]}"
}

# Stops the server's whole process group: TERM, up to 5 s, then KILL; reaps
# the leader (our child).
stop_server() {
    local pg=$srv_pg i
    [ -n "$pg" ] || return 0
    srv_pg=
    kill -TERM -- "-$pg" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        [ "$(group_stat "$pg" | cut -d' ' -f2)" -eq 0 ] && break
        sleep 0.1
    done
    kill -KILL -- "-$pg" 2>/dev/null || true
    wait "$pg" 2>/dev/null || true
}

# alloc_port VAR: a port free for TCP and UDP, below the ephemeral range
# (not in a subshell: next_port must advance).
next_port=$((20000 + RANDOM % 8000))
alloc_port() {
    local -n var=$1
    while :; do
        var=$next_port
        next_port=$((next_port + 1))
        [ -z "$(ss -Htan "sport = :$var")$(ss -Huan "sport = :$var")" ] &&
            return
    done
}

# start_server NAME TRANSPORT: starts it in its own session, pinned, and
# waits until it listens.  Sets srv_pg and srv_port; on failure returns 1
# with the reason in srv_why.
start_server() {
    local name=$1 tp=$2 port q i proto=t log=$work/server.log
    local -a cmd
    local crt=$certs/server.pem key=$certs/server.key
    alloc_port port
    srv_why=
    case "$tp" in udp | dtls) proto=u ;; esac
    case "$name:$tp" in
    secho:* | secho-rec:*)
        cmd=("$bindir/secho-server" "--$tp" -b 127.0.0.1 -p "$port"
            --cert "$crt" --key "$key" --drain-timeout 2
            --max-conns 20000 "${as_user[@]}" "${secho_extra[@]}")
        # secho with its own TLS 1.3 record layer (src/core/tls_rec.c).
        [ "$name" = secho ] || cmd+=(--record-layer secho) ;;
    echo-floor:*) cmd=("$floor_bin" "--$tp" "$port") ;;
    socat:tcp)
        cmd=(socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay"
            PIPE) ;;
    socat:udp) cmd=(socat "UDP-RECVFROM:$port,bind=127.0.0.1,fork" PIPE) ;;
    socat:tls)
        cmd=(socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay,cert=$crt,key=$key,verify=0"
            PIPE) ;;
    ncat:tcp)
        cmd=(ncat -l 127.0.0.1 "$port" --keep-open --max-conns 1000
            --exec /bin/cat) ;;
    ncat:tls)
        cmd=(ncat -l 127.0.0.1 "$port" --keep-open --max-conns 1000
            --ssl --ssl-cert "$crt" --ssl-key "$key" --exec /bin/cat) ;;
    gnutls-serv:tls | gnutls-serv:dtls)
        cmd=(gnutls-serv --echo --quiet -p "$port" --x509certfile "$crt"
            --x509keyfile "$key")
        [ "$tp" = dtls ] && cmd+=(--udp) ;;
    go:tcp | go:tls)
        # One P: the other servers get one core and one worker too.
        cmd=(env GOMAXPROCS=1 "$go_bin" -listen "127.0.0.1:$port")
        [ "$tp" = tcp ] || cmd+=(-tls -cert "$crt" -key "$key") ;;
    node:tcp | node:tls)
        cmd=("$node_bin" "$node_js" -listen "127.0.0.1:$port")
        [ "$tp" = tcp ] || cmd+=(-tls -cert "$crt" -key "$key") ;;
    stunnel:tls)
        alloc_port q
        cat >"$work/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[echo]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$q
cert = $crt
key = $key
EOF
        # shellcheck disable=SC2016  # expanded by that bash, not this one
        cmd=(bash -c '"$1" --tcp "$2" >/dev/null & exec "$3" "$4"' stunnel
            "$floor_bin" "$q" "$stunnel_bin" "$work/stunnel.conf") ;;
    *) srv_why="no $tp"; return 1 ;;
    esac
    # Without job control a background child leads no group, so setsid
    # makes it a session and group leader in place: $! is the group id.
    setsid taskset -c "$srv_cpu" "${cmd[@]}" </dev/null >"$log" 2>&1 &
    srv_pg=$!
    for ((i = 0; i < 100; i++)); do
        if [ -n "$(ss -Hl${proto}n "sport = :$port")" ] &&
            { [ -z "${q:-}" ] || [ -n "$(ss -Hltn "sport = :$q")" ]; }; then
            srv_port=$port
            [ "$(leader_pgrp "$srv_pg")" = "$srv_pg" ] && return 0
            srv_why="is not a process group leader (job control on?)"
            break
        fi
        kill -0 "$srv_pg" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$srv_why" ] ||
        srv_why="did not start: $(tail -c 300 "$log" | tr '\n' ' ')"
    stop_server
    return 1
}

# ---- the rows ---------------------------------------------------------------

secho_extra=()
if "$bindir/secho-server" --help 2>&1 | grep -q -- --workers; then
    secho_extra=(--workers 1)   # it has one CPU here
fi
stunnel_bin=$(command -v stunnel4 || command -v stunnel || true)
# The go and node peers (bench/go-echo, bench/node-echo.js): set up by
# prepare_peers once the rows are known; why a peer is absent, by name.
go_bin='' node_bin='' node_js=''
declare -A peer_why=()
have() {
    case "$1" in
    secho | secho-rec | echo-floor) return 0 ;;
    stunnel) [ -n "$stunnel_bin" ] ;;
    go) [ -n "$go_bin" ] ;;
    node) [ -n "$node_bin" ] ;;
    *) command -v "$1" >/dev/null ;;
    esac
}

# build_go_echo: bench/go-echo (standard library only) into build/bench/,
# offline (GOPROXY=off, GOTOOLCHAIN=local).  Go keeps its build cache in
# the user's cache directory, or under build/bench/ when that cannot be
# written.  Prints the reason on failure.
build_go_echo() {
    local dir=$here/build/bench gc
    local -a genv=(GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOWORK=off
        CGO_ENABLED=0)
    if ! command -v go >/dev/null; then
        echo "not installed; Debian package golang-go"
        return 1
    fi
    mkdir -p "$dir"
    gc=$(env "${genv[@]}" go env GOCACHE 2>/dev/null || true)
    if [ -z "$gc" ] || [ "$gc" = off ] ||
        ! { mkdir -p "$gc" && [ -w "$gc" ]; } 2>/dev/null; then
        genv+=(GOCACHE="$dir/go-cache" GOPATH="$dir/go-path")
    fi
    if ! (cd "$here/bench/go-echo" &&
        env "${genv[@]}" go build -trimpath -o "$dir/go-echo" .) \
        >"$work/go-build.log" 2>&1; then
        echo "go build failed: $(tail -c 200 "$work/go-build.log" | tr '\n' ' ')"
        return 1
    fi
    echo "$dir/go-echo"
}

# prepare_peers SERVERS: the go and node peers, when a row to run lists
# them; copied into the run's directory like the other binaries.
prepare_peers() {
    local servers=" $1 " r
    if [[ $servers == *" go "* ]]; then
        if [ -n "${GO_ECHO:-}" ] && ! [ -x "$GO_ECHO" ]; then
            peer_why[go]="GO_ECHO=$GO_ECHO is not executable"
        elif [ -n "${GO_ECHO:-}" ]; then
            cp "$GO_ECHO" "$work/go-echo"
            go_bin=$work/go-echo
        elif r=$(build_go_echo); then
            cp "$r" "$work/go-echo"
            go_bin=$work/go-echo
        else
            peer_why[go]=$r
        fi
    fi
    if [[ $servers == *" node "* ]]; then
        node_bin=${NODE:-$(command -v node || command -v nodejs || true)}
        if [ -n "${NODE:-}" ] && ! [ -x "$NODE" ]; then
            node_bin=
            peer_why[node]="NODE=$NODE is not executable"
        elif [ -z "$node_bin" ]; then
            peer_why[node]="not installed; Debian package nodejs"
        else
            cp "$here/bench/node-echo.js" "$work/"
            node_js=$work/node-echo.js
        fi
    fi
}

# id | transport | label | secho-bench mode and options | servers
rows=(
    "tcp-rr-64|tcp|tcp rr 64 B x100 conns|rr -c 100 -s 64|secho echo-floor socat ncat go node"
    "tcp-rr-16k|tcp|tcp rr 16 KiB x10 conns|rr -c 10 -s 16384|secho echo-floor socat ncat go node"
    "tcp-bulk|tcp|tcp bulk x1 conn|bulk -c 1|secho echo-floor socat ncat go node"
    "udp-64-w4|udp|udp 64 B window 4|udp -c 1 -s 64 -w 4|secho echo-floor socat"
    "tls-rr-64|tls|tls rr 64 B x100 conns|rr -c 100 -s 64 --tls|secho secho-rec echo-floor socat ncat gnutls-serv stunnel go node"
    "tls-rr-16k|tls|tls rr 16 KiB x10 conns|rr -c 10 -s 16384 --tls|secho secho-rec echo-floor socat ncat gnutls-serv stunnel go node"
    "tls-bulk|tls|tls bulk x1 conn|bulk -c 1 --tls|secho secho-rec echo-floor socat ncat gnutls-serv stunnel go node"
    "tls-hs-full|tls|tls handshake, full (x8 at once)|hs -c 8 --tls --src-addrs 8|secho secho-rec socat ncat gnutls-serv stunnel go node"
    "tls-hs-resumed|tls|tls handshake, resumed (x8 at once)|hs -c 8 --tls --resume --src-addrs 8|secho secho-rec socat ncat gnutls-serv stunnel go node"
    "dtls-64-w4|dtls|dtls 64 B window 4|dtls -c 1 -s 64 -w 4|secho gnutls-serv"
    "tcp-hold|tcp|tcp hold $hold_conns idle conns|hold -c $hold_conns --src-addrs 8|secho"
    "tls-hold|tls|tls hold $hold_conns idle conns|hold -c $hold_conns --tls --src-addrs 8|secho secho-rec"
)

# Measured values, keyed "row/server".
declare -A OPS OPSN P99 COST SPG MBS RSS STATUS RESUMED KEPT KCOST ALLC

fmt() { # fmt VALUE FORMAT: a number for the table, or "-"
    # shellcheck disable=SC2059  # FORMAT is always a literal here
    case "$1" in '' | null) printf '%s' - ;; *) printf "$2" "$1" ;; esac
}

# run_one ROW_ID LABEL TRANSPORT "MODE OPTS" SERVER RUN: one measurement.
# Run 1 sets the row's figures; a later run replaces them when it cost less
# (and marks itself kept), so noise from the shared machine only inflates.
run_one() {
    local id=$1 label=$2 tp=$3 spec=$4 name=$5 k=$6 why rc=0 c0 c1 cpu new
    local bj=$work/bench.json be=$work/bench.err rec
    local -a args
    read -r -a args <<<"$spec"
    if [ "$name:$tp" = echo-floor:tls ]; then
        # The plain floor under the same load, next to secho's TLS runs in
        # time: the TLS targets are ratios to it.
        tp=tcp
        read -r -a args <<<"${spec/ --tls/}"
    fi
    if ! have "$name"; then
        why="skipped (${peer_why[$name]:-not installed})"
    elif [ "$name:$tp" = gnutls-serv:tls ]; then
        # gnutls-serv --echo answers a TLS stream only once it holds a
        # newline, and then only the text before the first NUL (strdup);
        # secho-bench sends a binary pattern.  Its DTLS echo is whole.
        why="skipped (gnutls-serv --echo echoes text lines only)"
    elif ! start_server "$name" "$tp"; then
        why="failed: $srv_why"
    fi
    if [ -n "${why:-}" ]; then
        [ "$k" -gt 1 ] || STATUS[$id/$name]=$why
        jq -nc --arg r "$id" --arg l "$label" --arg s "$name" --arg w "$why" \
            --argjson k "$k" '{row: $r, label: $l, server: $s, status: $w,
            run: $k}' >>"$records"
        return
    fi
    # Every TLS server here presents certs/server.pem (SAN localhost), so
    # the client verifies it fully: against certs/ca.pem, by name.
    case "$tp" in tls | dtls) args+=(--ca "$certs/ca.pem" --servername localhost) ;; esac
    c0=$(group_stat "$srv_pg" | cut -d' ' -f1)
    timeout -k 5 $((dur + 60)) taskset -c "$cli_cpu" "$bindir/secho-bench" \
        "${args[@]}" -d "$dur" --timeout 5 --pid "$srv_pg" --json \
        127.0.0.1 "$srv_port" >"$bj" 2>"$be" &
    cli_pid=$!
    wait "$cli_pid" || rc=$?
    cli_pid=
    sleep 0.2   # let the server finish with the closes it was sent
    c1=$(group_stat "$srv_pg" | cut -d' ' -f1)
    stop_server
    cpu=$(calc "($c1 - $c0) / 1e9")
    if ! [ -s "$bj" ] || ! jq -e 'type == "object"' "$bj" >/dev/null 2>&1
    then
        why="failed: exit $rc: $(tail -c 300 "$be" | tr '\n' ' ')"
        [ "$k" -gt 1 ] || STATUS[$id/$name]=$why
        jq -nc --arg r "$id" --arg l "$label" --arg s "$name" --arg w "$why" \
            --argjson c "$cpu" --argjson k "$k" '{row: $r, label: $l,
            server: $s, status: $w, row_cpu_s: $c, run: $k}' >>"$records"
        return
    fi
    why=ok
    [ "$rc" -eq 0 ] || why="failed: exit $rc$(jq -r \
        '" (ops \(.ops), errors \(.errors), mismatches \(.mismatches))"' \
        "$bj"): $(grep -v '^secho-bench: [0-9]* s:' "$be" | tail -n 2 |
        tr '\n' ' ')"
    # The cost compared is the measured phase's: secho-bench reads the same
    # process group with --pid right around it, exactly (schedstat of every
    # live thread, plus the children a forking server such as socat or ncat
    # has reaped).  The row's own figure, setup and teardown included, is
    # the fallback when secho-bench could not read it.
    rec=$(jq -c --arg r "$id" --arg l "$label" --arg s "$name" \
        --arg w "$why" --argjson c "$cpu" --argjson k "$k" '
        (if .mode == "bulk" then .mb_per_s * 1e6 * .duration_s
         else .ops * (.size // 0) end) as $bytes |
        (if .server_cpu_s != null then
            {cpu_basis: "measured phase (secho-bench --pid)",
             cpu_s: .server_cpu_s}
         else {cpu_basis: "whole row (bench.sh, schedstat)", cpu_s: $c}
         end) as $b |
        # Below 50 ms (5 clock ticks) a cost is noise: it is left out.
        . + {row: $r, label: $l, server: $s, status: $w, run: $k,
             row_cpu_s: $c} + $b +
        (if $b.cpu_s >= 0.05 then
            {cpu_us_per_op: (if .ops > 0 then $b.cpu_s * 1e6 / .ops
                             else null end),
             cpu_s_per_gb: (if $bytes > 0 then $b.cpu_s / ($bytes / 1e9)
                            else null end)}
         else {cpu_us_per_op: null, cpu_s_per_gb: null} end)' "$bj")
    echo "$rec" >>"$records"
    if [ "${id#*-}" = bulk ]; then
        new=$(jq -r '.cpu_s_per_gb // empty' <<<"$rec")
    else
        new=$(jq -r '.cpu_us_per_op // empty' <<<"$rec")
    fi
    [ "$why" != ok ] || ALLC[$id/$name]+="${ALLC[$id/$name]:+, }$(fmt "$new" %.3g)"
    if [ "$k" -gt 1 ]; then   # keep the cheaper of the good runs
        [ "$why" = ok ] && [ -n "$new" ] || return 0
        if [ "${STATUS[$id/$name]}" = ok ] && [ -n "${KCOST[$id/$name]:-}" ] &&
            ! awk "BEGIN { exit !($new < ${KCOST[$id/$name]}) }"; then
            return 0
        fi
    fi
    KEPT[$id/$name]=$k
    KCOST[$id/$name]=$new
    STATUS[$id/$name]=$why
    OPS[$id/$name]=$(jq -r '.ops_per_s' <<<"$rec")
    OPSN[$id/$name]=$(jq -r '.ops' <<<"$rec")
    MBS[$id/$name]=$(jq -r '.mb_per_s' <<<"$rec")
    P99[$id/$name]=$(jq -r '.lat_us.p99' <<<"$rec")
    COST[$id/$name]=$(jq -r '.cpu_us_per_op // empty' <<<"$rec")
    SPG[$id/$name]=$(jq -r '.cpu_s_per_gb // empty' <<<"$rec")
    RESUMED[$id/$name]=$(jq -r 'if (.resumed // -1) >= 0 and .ops > 0
        then "\(.resumed * 100 / .ops | floor)%" else empty end' <<<"$rec")
    RSS[$id/$name]=$(jq -r '.rss_kib_per_conn // empty' <<<"$rec")
}

# Targets (docs/benchmarks.md, issue 14), checked as rows finish: secho's
# server CPU per unit of work as a ratio to a peer's or to echo-floor's,
# both measured in the same run, or secho's RSS per idle connection.  Each
# verdict is printed, kept for the summary and added to the JSON.
summary=()

# unmeasured ROW ARRAY [OTHER]: why secho's figure in ROW (and OTHER's,
# for a ratio) is missing.
unmeasured() {
    local id=$1 s
    local -n fig=$2
    for s in $subj ${3:-}; do
        case "${STATUS[$id/$s]:-}" in
        ok) [ -n "${fig[$id/$s]:-}" ] ||
            { echo "$s: no figure (under 50 ms of server CPU?)"; return; } ;;
        '') echo "$s: not run"; return ;;
        *) echo "$s: ${STATUS[$id/$s]%%:*}"; return ;;
        esac
    done
    echo "no peer with a result"
}

# verdict ROW WHAT LIMIT UNIT ARRAY [OTHER]: with UNIT x, secho's figure
# in ARRAY (COST, SPG) over OTHER's, in ROW, against LIMIT (no OTHER: no
# peer had a result); with another UNIT (KiB, of RSS) secho's own figure.
# Only runs that passed count.  Prints it, keeps it for the summary and
# writes it into the JSON as {"target": WHAT, "result": "met", ...}.
verdict() {
    local subj
    for subj in secho secho-rec; do
        [ "$subj" = secho ] || [ -n "${STATUS[$1/$subj]:-}" ] || continue
        verdict_one "$@"
    done
}

# verdict_one: one verdict for $subj (secho, or secho-rec: secho with
# --record-layer secho, its target named so).
verdict_one() {
    local row=$1 what=$2 limit=$3 unit=$4 arr=$5 vs=${6:-} v res cmp
    local -n fig=$5
    local sc='' vc='' val='' why='' cu=us/op u=" $4"
    case "$arr" in SPG) cu=s/GB ;; RSS) cu=KiB ;; esac
    [ "${STATUS[$row/$subj]:-}" != ok ] || sc=${fig[$row/$subj]:-}
    [ "$subj" = secho ] || what+=" [--record-layer secho]"
    if [ "$unit" != x ]; then
        val=$sc
    elif [ -n "$vs" ] && [ "${STATUS[$row/$vs]:-}" = ok ]; then
        vc=${fig[$row/$vs]:-}
        val=$(ratio "$sc" "$vc")
    fi
    [ "$unit" != x ] || u=x
    if [ -z "$val" ]; then
        res="not measured"
        why=$(unmeasured "$row" "$arr" "$vs")
        v="not measured ($why)"
    else
        if awk "BEGIN { exit !($val <= $limit) }"; then
            res=met cmp='<='
        else
            res=MISSED cmp='>'
        fi
        v="$res ($(fmt "$val" %.3f)$u $cmp $limit$u"
        [ -z "$vc" ] || v+="; $vs $(fmt "$vc" %.3g) $cu"
        v+=")"
    fi
    printf '  target: %s: %s\n' "$what" "$v"
    summary+=("$(printf '%-15s %-44s %s' "$row" "$what" "$v")")
    jq -nc --arg r "$row" --arg t "$what" --arg res "$res" --arg v "$val" \
        --argjson l "$limit" --arg u "$unit" --arg vs "$vs" --arg vc "$vc" \
        --arg sc "$sc" --arg cu "$cu" --arg why "$why" '
        def num: if . == "" then null else tonumber end;
        def str: if . == "" then null else . end;
        {row: $r, target: $t, result: $res, value: ($v | num), limit: $l,
         unit: $u, secho: ($sc | num), against: ($vs | str),
         against_value: ($vc | num), figure_unit: $cu, why: ($why | str)}' \
        >>"$records"
}
ratio() { # ratio A B: A/B, or nothing when either is unknown (or B is 0)
    if [ -n "$1" ] && [ -n "$2" ] && awk "BEGIN { exit !($2 > 0) }"; then
        calc "$1 / $2"
    fi
}

# floor_of ARRAY ROW...: echo-floor's lowest cost over those rows (the plain
# floor runs in its own row and again inside the TLS row that uses it).
floor_of() {
    local -n a=$1
    local r v best=''
    shift
    for r in "$@"; do
        v=${a[$r/echo-floor]:-}
        [ -n "$v" ] || continue
        if [ -z "$best" ] || awk "BEGIN { exit !($v < $best) }"; then
            best=$v
        fi
    done
    printf '%s' "$best"
}

# plain_of ARRAY ROW...: the least plain TCP costs on this machine: the
# lowest of echo-floor and plain secho over those rows (secho's bulk is
# below echo-floor's, whose one read()/write() pair per 64 KiB is not).
plain_of() {
    local -n pa=$1
    local r s v best=''
    shift
    for r in "$@"; do
        for s in echo-floor secho; do
            [[ $s:$r != secho:tls-* ]] || continue
            v=${pa[$r/$s]:-}
            [ -n "$v" ] || continue
            if [ -z "$best" ] || awk "BEGIN { exit !($v < $best) }"; then
                best=$v
            fi
        done
    done
    printf '%s' "$best"
}

# bound ROW TARGET_LIMIT PEER_FIGURE BOUND UNIT WHAT: whether a target can
# be met at all here.  BOUND is the least any TLS server can spend on the
# row on this machine (plain TCP at its cheapest plus the crypto at
# openssl speed's rate, or the crypto alone for a handshake); the target,
# LIMIT x the peer's figure, below it cannot be met by any record layer
# or event loop: only by a faster kernel path or faster crypto.
bound() {
    local row=$1 limit=$2 pc=$3 b=$4 unit=$5 what=$6 t ok
    [ -n "$pc" ] && [ -n "$b" ] || return 0
    t=$(calc "$limit * $pc")
    if awk "BEGIN { exit !($t >= $b) }"; then ok=reachable; else
        ok=UNREACHABLE
    fi
    printf '  bound: %s >= %s %s (%s); the target asks <= %s %s: %s\n' \
        "$row" "$(fmt "$b" %.3g)" "$unit" "$what" "$(fmt "$t" %.3g)" \
        "$unit" "$ok"
    summary+=("$(printf '%-15s %-44s %s' "$row" "bound: $what" \
        "$ok (target <= $(fmt "$t" %.3g) $unit; bound $(fmt "$b" %.3g))")")
    jq -nc --arg r "$row" --argjson b "$b" --argjson t "$t" --arg u "$unit" \
        --arg w "$what" --arg ok "$ok" '{row: $r, bound: $b, target_value: $t,
        unit: $u, bound_is: $w, reachable: ($ok == "reachable")}' >>"$records"
}

# After a row: secho against the best peer and the floor, then the
# targets.  In the resumed row a peer that resumed under half of its
# handshakes is not compared: its figure would be a full handshake's.
compare() {
    local id=$1 servers=$2 s v r best='' bestc='' unit="us/op" sc fl fr
    local gc='' gr
    local arr=COST per=echo
    if [ "${id#*-}" = bulk ]; then
        arr=SPG unit="s/GB" per=GB
    fi
    local -n cost=$arr
    sc=${cost[$id/secho]:-}
    [ -n "$sc" ] || printf '  secho: no result\n'
    for s in $servers; do
        case "$s" in secho | secho-rec | echo-floor) continue ;; esac
        v=${cost[$id/$s]:-}
        if [ "${STATUS[$id/$s]:-}" != ok ] || [ -z "$v" ]; then
            continue
        fi
        r=${RESUMED[$id/$s]:-}
        if [ "$id" = tls-hs-resumed ] && [ -n "$r" ] && [ "${r%\%}" -lt 50 ]
        then
            printf '  %s resumed %s of handshakes: not compared\n' "$s" "$r"
            continue
        fi
        if [ -z "$bestc" ] || awk "BEGIN { exit !($v < $bestc) }"; then
            best=$s bestc=$v
        fi
    done
    if [ -n "$sc" ] && [ -n "$bestc" ]; then
        printf '  secho CPU %s: %.2fx the best peer (%s, %s)\n' "$unit" \
            "$(ratio "$sc" "$bestc")" "$best" "$(fmt "$bestc" %.3g)"
    fi
    v=${cost[$id/secho-rec]:-}
    if [ -n "$v" ] && [ -n "$sc" ]; then
        printf '  secho --record-layer secho CPU %s: %.2fx plain secho\n' \
            "$unit" "$(ratio "$v" "$sc")"
    fi
    case "$id" in
    tcp-rr-64 | tcp-rr-16k | udp-64-w4 | tcp-bulk)
        fl=${cost[$id/echo-floor]:-}
        fr=$(ratio "$sc" "$fl")
        [ -n "$fr" ] && printf '  secho CPU %s: %.2fx the floor (echo-floor %s)\n' \
            "$unit" "$fr" "$(fmt "$fl" %.3g)"
        if [ "$id" = udp-64-w4 ]; then
            verdict "$id" "CPU/echo <= 1.05x recvmmsg floor" 1.05 x COST \
                echo-floor
        else
            verdict "$id" "CPU/$per <= 1.05x epoll floor" 1.05 x "$arr" \
                echo-floor
        fi ;;
    tls-rr-64 | tls-rr-16k)
        [ "${STATUS[$id/go]:-}" != ok ] || gc=${cost[$id/go]:-}
        gr=$(ratio "$sc" "$gc")
        [ -n "$gr" ] && printf '  secho CPU us/op: %.2fx Go crypto/tls (go, %s)\n' \
            "$gr" "$(fmt "$gc" %.3g)"
        if [ "$id" = tls-rr-64 ]; then
            fl=$(floor_of COST tcp-rr-64 "$id")
            fr=$(ratio "$sc" "$fl")
            [ -n "$fr" ] && printf '  secho CPU us/op: %.2fx the plain floor (echo-floor, tcp rr 64 B: %s)\n' \
                "$fr" "$(fmt "$fl" %.3g)"
            verdict "$id" "CPU/echo <= 0.7x Go crypto/tls" 0.7 x COST go
            fl=$(plain_of COST tcp-rr-64 "$id")
            [ -z "$fl" ] || bound "$id" 0.7 "$gc" \
                "$(calc "$fl + $aes64_us")" us/echo \
                "plain TCP + one 64 B AES-GCM seal and open via EVP"
        else
            fl=$(floor_of COST tcp-rr-16k "$id")
            [ -n "$fl" ] && fl=$(calc "$fl + $aes_ns_per_b * 16384 / 1000")
            fr=$(ratio "$sc" "$fl")
            [ -n "$fr" ] && printf '  secho CPU us/op: %.2fx (plain floor + AES-GCM = %s us)\n' \
                "$fr" "$(fmt "$fl" %.3g)"
            verdict "$id" "CPU/echo <= 0.8x Go crypto/tls" 0.8 x COST go
            fl=$(plain_of COST tcp-rr-16k "$id")
            [ -z "$fl" ] || bound "$id" 0.8 "$gc" \
                "$(calc "$fl + $aes_ns_per_b * 16384 / 1000")" us/echo \
                "plain TCP + AES-GCM of 16 KiB each way"
        fi ;;
    tls-bulk)
        fl=$(floor_of SPG tcp-bulk "$id")
        [ -n "$fl" ] && fl=$(calc "$fl + $aes_ns_per_b")
        fr=$(ratio "$sc" "$fl")
        [ -n "$fr" ] && printf '  secho CPU s/GB: %.2fx (plain floor + AES-GCM = %s s/GB)\n' \
            "$fr" "$(fmt "$fl" %.3g)"
        verdict "$id" "CPU/GB <= 0.6x the best peer" 0.6 x SPG "$best"
        fl=$(plain_of SPG tcp-bulk "$id")
        [ -z "$fl" ] || bound "$id" 0.6 "$bestc" \
            "$(calc "$fl + $aes_ns_per_b")" s/GB \
            "plain TCP + AES-GCM of every byte each way" ;;
    tls-hs-full)
        fr=$(ratio "$sc" "$hs_full_us")
        [ -n "$fr" ] && printf '  secho CPU us/handshake: %.2fx the crypto floor (%.1f us)\n' \
            "$fr" "$hs_full_us"
        verdict "$id" "CPU/handshake <= 0.8x the best peer" 0.8 x COST \
            "$best"
        bound "$id" 0.8 "$bestc" "$hs_full_us" us/handshake \
            "its crypto: X25519 keygen + derive, one ECDSA sign" ;;
    tls-hs-resumed)
        fr=$(ratio "$sc" "${COST[tls-hs-full/secho]:-}")
        [ -n "$fr" ] && printf '  secho resumed/full CPU: %.2fx\n' "$fr"
        verdict "$id" "CPU/resumed handshake <= 0.7x the best peer" 0.7 x \
            COST "$best"
        bound "$id" 0.7 "$bestc" "$hs_resumed_us" us/handshake \
            "its crypto: X25519 keygen + derive (psk_dhe_ke)" ;;
    tls-hold)
        verdict "$id" "server RSS per idle TLS conn <= 10 KiB" 10 KiB RSS ;;
    tcp-hold)
        verdict "$id" "server RSS per idle TCP conn <= 1 KiB" 1 KiB RSS ;;
    esac
}

print_row() {
    local id=$1 servers=$2 s st extra
    printf '%-12s %10s %9s %9s %10s %9s  %s\n' server ops/s MB/s \
        "p99 us" "CPU us/op" "CPU s/GB" note
    for s in $servers; do
        st=${STATUS[$id/$s]:-}
        if [ "$st" != ok ]; then
            printf '%-12s %s\n' "$s" "$st"
            continue
        fi
        extra=
        [ -n "${COST[$id/$s]:-}" ] ||
            extra="under 50 ms of server CPU: cost not compared"
        [ "${OPSN[$id/$s]:-0}" -ge 100 ] ||
            extra="stalled: ${OPSN[$id/$s]:-0} ops in $dur s; $extra"
        [ -z "${RSS[$id/$s]:-}" ] ||
            extra="server RSS $(fmt "${RSS[$id/$s]}" %.2f) KiB/conn"
        [ "$id" != tls-hs-resumed ] ||
            extra="resumed ${RESUMED[$id/$s]:-?} of handshakes; $extra"
        [[ ${ALLC[$id/$s]:-} != *,* ]] ||
            extra="lowest of ${ALLC[$id/$s]}; $extra"
        [[ $s:$id != echo-floor:tls-* ]] ||
            extra="plain tcp, same load; $extra"
        extra=${extra%; }
        printf '%-12s %10s %9s %9s %10s %9s  %s\n' "$s" \
            "$(fmt "${OPS[$id/$s]}" %.0f)" "$(fmt "${MBS[$id/$s]}" %.1f)" \
            "$(fmt "${P99[$id/$s]}" %.0f)" "$(fmt "${COST[$id/$s]:-}" %.2f)" \
            "$(fmt "${SPG[$id/$s]:-}" %.3f)" "$extra"
    done
}

matched=0 wanted=''
for row in "${rows[@]}"; do
    [[ ${row%%|*} =~ $row_filter ]] || continue
    matched=1 wanted+=" ${row##*|}"
done
[ "$matched" -eq 1 ] || die "no row matches '$row_filter'"
prepare_peers "$wanted"

# ---- the crypto floor (openssl speed, on the server's CPU) -----------------

speed() { taskset -c "$srv_cpu" openssl speed -seconds 1 -mr "$@" 2>/dev/null; }
printf '== crypto floor: openssl speed on CPU %s (%s) ==\n' "$srv_cpu" \
    "$(openssl version | cut -d' ' -f1-2)"
pk=$(speed ecdhx25519 ecdsap256)
x25519_ops=$(awk -F: '/^\+F5:/ { print $4 }' <<<"$pk")
sign_ops=$(awk -F: '/^\+F4:/ { print $4 }' <<<"$pk")
aes_enc=$(speed -aead -evp aes-128-gcm -bytes 16384 | awk -F: '/^\+F:/ { print $4 }')
aes_dec=$(speed -aead -decrypt -evp aes-128-gcm -bytes 16384 |
    awk -F: '/^\+F:/ { print $4 }')
# 64-byte records one at a time, each with its own nonce and tag, as a
# record layer must: what one small record costs through EVP.
aes64_enc=$(speed -aead -evp aes-128-gcm -bytes 64 | awk -F: '/^\+F:/ { print $4 }')
aes64_dec=$(speed -aead -decrypt -evp aes-128-gcm -bytes 64 |
    awk -F: '/^\+F:/ { print $4 }')
if [ -z "$x25519_ops" ] || [ -z "$sign_ops" ] || [ -z "$aes_enc" ] ||
    [ -z "$aes_dec" ] || [ -z "$aes64_enc" ] || [ -z "$aes64_dec" ]; then
    die "cannot parse the output of openssl speed"
fi
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
# What a server's own side of a TLS 1.3 handshake computes: an ephemeral
# key pair and the shared secret (two X25519 scalar multiplications),
# and for a full one the CertificateVerify signature.
hs_full_us=$(calc "2e6 / $x25519_ops + 1e6 / $sign_ops")
hs_resumed_us=$(calc "2e6 / $x25519_ops")
aes_ns_per_b=$(calc "1e9 / $aes_enc + 1e9 / $aes_dec")
aes64_us=$(calc "64e6 / $aes64_enc + 64e6 / $aes64_dec")
printf '  X25519 derive %.0f/s, ECDSA P-256 sign %.0f/s\n' "$x25519_ops" "$sign_ops"
printf '  -> a server'"'"'s full TLS 1.3 handshake (2 X25519 + 1 sign): %.1f us of crypto, resumed (2 X25519): %.1f us\n' \
    "$hs_full_us" "$hs_resumed_us"
printf '  AES-128-GCM 16 KiB records: encrypt %.2f GB/s, decrypt %.2f GB/s\n' \
    "$(calc "$aes_enc / 1e9")" "$(calc "$aes_dec / 1e9")"
printf '  -> decrypt+encrypt: %.3f ns/B = %.3f CPU s/GB, %.2f us per 16 KiB echo\n' \
    "$aes_ns_per_b" "$aes_ns_per_b" "$(calc "$aes_ns_per_b * 16384 / 1000")"
printf '  AES-128-GCM 64 B records through EVP (nonce and tag each): %.2f us per echo (one open, one seal)\n' \
    "$aes64_us"
jq -nc --argjson x "$x25519_ops" --argjson s "$sign_ops" \
    --argjson e "$aes_enc" --argjson d "$aes_dec" \
    --argjson h "$hs_full_us" --argjson a "$aes_ns_per_b" \
    --argjson hr "$hs_resumed_us" --argjson a64 "$aes64_us" \
    --arg v "$(openssl version)" '{row: "crypto-floor", server: "openssl speed",
    openssl: $v, x25519_ops_per_s: $x, ecdsap256_sign_per_s: $s,
    aes128gcm_enc_bytes_per_s: $e, aes128gcm_dec_bytes_per_s: $d,
    handshake_floor_us: $h, resumed_floor_us: $hr,
    aes_gcm_ns_per_byte_echoed: $a, aes_gcm_64b_echo_us: $a64}' >>"$records"

printf '\nservers on CPU %s, secho-bench on CPU %s, %s s per row; %s\n' \
    "$srv_cpu" "$cli_cpu" "$dur" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
printf 'CPU = the server process group'"'"'s CPU time per op in the measured phase\n'
printf '(its processes'"'"' CPU clocks, exited threads included, plus reaped children)\n'
[ "$repeat" -le 1 ] || printf 'secho, secho-rec, echo-floor and go: the lowest of %s runs\n' "$repeat"
if [ -n "$go_bin" ]; then
    go_ver=$(go version "$go_bin" 2>/dev/null | awk '{ print $2 }' || true)
    printf 'go: bench/go-echo built with %s, GOMAXPROCS=1\n' "${go_ver:-go ?}"
fi
if [ -n "$node_bin" ]; then
    printf 'node: bench/node-echo.js on node %s\n' \
        "$("$node_bin" --version 2>/dev/null || echo ?)"
fi
for row in "${rows[@]}"; do
    IFS='|' read -r id tp label spec servers <<<"$row"
    [[ $id =~ $row_filter ]] || continue
    printf '\n== %s  [%s] ==\n' "$label" "$id"
    for s in $servers; do
        [ -t 1 ] && printf '  ... %s \r' "$s"
        run_one "$id" "$label" "$tp" "$spec" "$s" 1
    done
    for ((k = 2; k <= repeat; k++)); do
        [ "${id#*-}" != hold ] || break
        # Go too: the TLS targets are ratios to it, and noise only adds
        # CPU, so a best-of-N secho against a single Go run would flatter
        # secho.
        for s in secho secho-rec echo-floor go; do
            [[ " $servers " == *" $s "* ]] || continue
            [ -t 1 ] && printf '  ... %s, run %d \r' "$s" "$k"
            run_one "$id" "$label" "$tp" "$spec" "$s" "$k"
        done
    done
    print_row "$id" "$servers"
    compare "$id" "$servers"
done

printf '\n== targets (issue 14; secho, server on one core) ==\n'
printf '%s\n' "${summary[@]}"
for row in "${rows[@]}"; do
    IFS='|' read -r id _ _ _ servers <<<"$row"
    for s in $servers; do
        case "${STATUS[$id/$s]:-}" in
        skipped*) printf 'note: %s %s\n' "$s" "${STATUS[$id/$s]}" ;;
        failed*) printf 'note: %s on %s %s\n' "$s" "$id" "${STATUS[$id/$s]}" ;;
        esac
    done
done | sort -u

for key in "${!KEPT[@]}"; do
    printf '%s\t%s\n' "$key" "${KEPT[$key]}"
done | jq -R -s 'split("\n") | map(select(length > 0) | split("\t")
    | {(.[0]): (.[1] | tonumber)}) | add // {}' >"$work/kept.json"
# Every run is kept in the file; "kept": true marks the one reported.
jq -s --slurpfile kept "$work/kept.json" '
    map(if .run then . + {kept: (.run == $kept[0][.row + "/" + .server])}
        else . end)' "$records" >"$json_out"
printf '\nresults: %s\n' "${json_out#"$here"/}"

# ---- the plot ---------------------------------------------------------------

if [ "$plot" -eq 0 ]; then
    exit 0
elif ! command -v gnuplot >/dev/null; then
    note "gnuplot is missing (Debian package gnuplot-nox): no plot"
    exit 0
fi
plot_servers="secho secho-rec echo-floor socat ncat gnutls-serv stunnel go node"
dat=$work/plot.dat
# One line per row (in the order they ran): "label", then per server the
# throughput, the p99 and the CPU cost; "?" where a server has no result.
jq -r --arg servers "$plot_servers" '
    ($servers | split(" ")) as $names |
    [.[] | select(.status == "ok" and .kept and .mode != "hold")]
    as $ok |
    ($ok | reduce .[].row as $r ([]; if index([$r]) then . else . + [$r] end))
    as $rows |
    def val($r; $s; f):
        ([$ok[] | select(.row == $r and .server == $s) | f] | first) // "?";
    $rows[] as $r |
    ["\"" + ([$ok[] | select(.row == $r) | .label] | first) + "\""]
    + [$names[] as $s | val($r; $s;
        if .mode == "bulk" then .mb_per_s else .ops_per_s end)]
    + [$names[] as $s | val($r; $s; .lat_us.p99)]
    + [$names[] as $s | val($r; $s; if .mode != "bulk" then .cpu_us_per_op
        elif .cpu_s_per_gb then .cpu_s_per_gb * 1e3 else null end)]
    | map(tostring) | join(" ")' "$json_out" >"$dat"
if [ ! -s "$dat" ]; then
    note "no successful rows to plot"
    exit 0
fi

# plot_panel FIRST_COLUMN TITLE: one clustered bar per server.
# One colour a server, so that none shares one (gnuplot's own eight wrap).
plot_colors=('#7b3fbf' '#1b9e77' '#56b4e9' '#e69f00' '#f0e442' '#0072b2'
    '#d55e00' '#222222' '#cc79a7' '#999999')
plot_panel() {
    local col=$1 s sep= i=0
    printf 'set title "%s"\nplot ' "$2"
    for s in $plot_servers; do
        col=$((col + 1))
        printf '%s"%s" using %d:xtic(1) title "%s" lc rgb "%s"' "$sep" \
            "$dat" "$col" "$s" "${plot_colors[i++ % ${#plot_colors[@]}]}"
        sep=', '
    done
    printf '\n'
}
n=$(wc -w <<<"$plot_servers")
{
    printf 'set terminal pngcairo size 1400,1500 font ",10" noenhanced\n'
    printf 'set output "%s"\n' "$png_out"
    printf 'set datafile missing "?"\n'
    printf 'set style data histograms\nset style histogram clustered gap 1\n'
    printf 'set style fill solid 0.85 border -1\nset boxwidth 0.9\n'
    printf 'set logscale y\nset grid ytics\nset xtics rotate by 20 right scale 0\n'
    printf 'set key outside right top vertical\n'
    printf 'set multiplot layout 3,1 title "%s"\n' "secho bench $stamp:\
 server on CPU $srv_cpu, secho-bench on CPU $cli_cpu, $dur s per row (log scales)"
    plot_panel 1 "throughput: ops/s (bulk: MB/s), higher is better"
    plot_panel $((1 + n)) "p99 latency in us, lower is better"
    plot_panel $((1 + 2 * n)) \
        "server CPU per op in us (bulk: CPU ms per GB), lower is better"
    printf 'unset multiplot\n'
} >"$work/plot.gp"
if gnuplot "$work/plot.gp" 2>"$work/gnuplot.err"; then
    printf 'plot:    %s\n' "${png_out#"$here"/}"
else
    note "gnuplot failed: $(head -c 300 "$work/gnuplot.err")"
fi
