#!/usr/bin/env bash
# capture.sh - capture the same message echoed over tcp, tls, udp and dtls on
# loopback, one pcapng per transport, and compare them side by side:
# packets, bytes on the wire vs payload, handshake round trips, and
# whether the message can be read (in clear, or with the TLS key log);
# and draws them as ladder diagrams in ladder.png (scripts/ladder.sh).
#
# Usage: scripts/capture.sh [--out DIR] [--message MSG] [--embed-secrets]
#                           [--bin DIR] [--certs DIR] [--readme FILE]
# --readme FILE: also write the comparison table between the lines
# <!-- capture:begin --> and <!-- capture:end --> of FILE (README.md).
# Needs root or membership of the 'wireshark' group (dumpcap on lo).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=captures
msg='secho: can you read this?'
bindir="$here/bin"
certs="$here/certs"
embed=0
readme=

die() { printf 'capture.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --message) msg=${2:?--message needs text}; shift 2 ;;
    --bin) bindir=${2:?--bin needs a directory}; shift 2 ;;
    --certs) certs=${2:?--certs needs a directory}; shift 2 ;;
    --embed-secrets) embed=1; shift ;;
    --readme) readme=${2:?--readme needs a file}; shift 2 ;;
    -h | --help) usage 0 ;;
    *) printf 'capture.sh: unknown option %s\n' "$1" >&2; usage 1 ;;
    esac
done

for tool in tshark dumpcap editcap; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing: run 'make deps' (Debian package tshark)"
done
[ -x "$bindir/secho-server" ] && [ -x "$bindir/secho-client" ] ||
    die "no secho binaries in $bindir: run 'make'"
[ -r "$certs/server.pem" ] || die "no certificates in $certs: run 'make certs'"
if [ -n "$readme" ]; then
    marks=$(grep -cx '<!-- capture:\(begin\|end\) -->' "$readme" || true)
    [ "$marks" = 2 ] ||
        die "$readme needs one <!-- capture:begin/end --> pair of lines"
fi
if [ "$(id -u)" -ne 0 ] && ! id -nG | tr ' ' '\n' | grep -qx wireshark; then
    die "capturing on lo needs root or the 'wireshark' group" \
        "(sudo usermod -aG wireshark \"\$USER\", then log in again)"
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
keylog="$out/keys.log"
rm -f "$keylog" "$out"/{tcp,tls,udp,dtls}.pcapng "$out"/{tls,dtls}.trace "$out"/*-with-keys.pcapng \
    "$out"/ladder.{png,tsv}
server_pid=
dumpcap_pid=

cleanup() {
    [ -n "$dumpcap_pid" ] && kill -INT "$dumpcap_pid" 2>/dev/null &&
        wait "$dumpcap_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null &&
        wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) until FILE has a line matching PATTERN.
await_line() {
    local file=$1 pattern=$2 i
    for ((i = 0; i < 100; i++)); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        read -r -t 0.1 <> <(:) || true
    done
    return 1
}

# The server: one listener per transport on 127.0.0.1, ephemeral ports.
# As root it gives root up once bound (it refuses to keep it untold).
as_user=()
[ "$(id -u)" = 0 ] && as_user=(--user nobody)
"$bindir/secho-server" -l tcp://127.0.0.1:0 -l tls://127.0.0.1:0 \
    -l udp://127.0.0.1:0 -l dtls://127.0.0.1:0 --cert "$certs/server.pem" \
    --key "$certs/server.key" "${as_user[@]}" >"$work/server.out" \
    2>"$work/server.err" &
server_pid=$!
await_line "$work/server.out" '^listening dtls' "$server_pid" ||
    die "secho-server did not start: $(cat "$work/server.err")"
port_of() { awk -v p="$1" '$2 == p { n = split($3, a, ":"); print a[n] }' \
    "$work/server.out"; }

# dumpcap hands packets over in blocks (about a second on lo) and does
# not flush its last block when stopped.  So marker datagrams go to the
# discard port around the exchange: once one is in the file, everything
# before it is too; the markers are cut out again at the end.
# The payload is unique to this run: another capture.sh running at the
# same time sends markers too, and those must not count as ours.
MARKER_PORT=9
MARKER="secho-capture-$$-$RANDOM$RANDOM"

# A start marker and an end marker of their own per capture: a start
# marker that reaches the file late (several go out before the first is
# seen) must not pass for the end one, or the end of the exchange may
# still be missing when the capture stops (seen under load: a udp capture
# with both markers and no echo in between).
send_marker() {
    printf '%s' "$MARKER-$1" >/dev/udp/127.0.0.1/$MARKER_PORT || true
}

# Frame numbers of our marker with tag $2 in capture $1.
marker_frames() {
    local hex
    hex=$(printf '%s' "$MARKER-$2" | od -An -tx1 | tr -d ' \n')
    tshark -r "$1" -Y "udp.dstport == $MARKER_PORT && data.data == $hex" \
        -T fields -e frame.number 2>/dev/null
}

# Every marker datagram in the file (anyone's), to cut out.
all_marker_frames() {
    tshark -r "$1" -Y "udp.dstport == $MARKER_PORT" -T fields \
        -e frame.number 2>/dev/null
}

# Sends marker $2 until capture $1 holds one.
await_marker() {
    local raw=$1 tag=$2 i
    for ((i = 0; i < 100; i++)); do
        send_marker "$tag"
        [ -n "$(marker_frames "$raw" "$tag")" ] && return 0
        read -r -t 0.1 <> <(:) || true
    done
    return 1
}

# Captures one client run of the message into $out/NAME.pcapng.  A start
# marker seen before the client starts proves the capture is live
# (dumpcap's "Capturing on" can come a moment early); an end marker, sent
# only after the client is done, seen in the file proves the exchange is
# all in it (the kernel hands packets to dumpcap in order).
capture() {
    local name=$1 filter=$2 raw="$work/$1.raw.pcapng"
    shift 2
    dumpcap -q -i lo -f "($filter) or (udp dst port $MARKER_PORT)" \
        -w "$raw" 2>"$work/dumpcap.err" &
    dumpcap_pid=$!
    await_line "$work/dumpcap.err" 'Capturing on' "$dumpcap_pid" ||
        die "dumpcap could not capture on lo: $(cat "$work/dumpcap.err")"
    await_marker "$raw" "$name-start" ||
        die "the capture of $name never started"
    "$@" >"$work/$name.echo" 2>"$work/$name.client" ||
        die "secho-client over $name failed: $(cat "$work/$name.client")"
    await_marker "$raw" "$name-end" ||
        die "the capture of $name never saw its end marker"
    kill -INT "$dumpcap_pid"
    wait "$dumpcap_pid" || true
    dumpcap_pid=
    # shellcheck disable=SC2046  # one argument per frame number
    editcap "$raw" "$out/$name.pcapng" $(all_marker_frames "$raw")
}

tcp_port=$(port_of tcp)
tls_port=$(port_of tls)
udp_port=$(port_of udp)
dtls_port=$(port_of dtls)
client="$bindir/secho-client"
capture tcp "tcp port $tcp_port" "$client" --tcp -m "$msg" 127.0.0.1 "$tcp_port"
capture tls "tcp port $tls_port" "$client" --tls --ca "$certs/ca.pem" \
    --keylog "$keylog" --trace -m "$msg" localhost "$tls_port"
capture udp "udp port $udp_port" "$client" --udp -m "$msg" 127.0.0.1 "$udp_port"
capture dtls "udp port $dtls_port" "$client" --dtls --ca "$certs/ca.pem" \
    --keylog "$keylog" --trace -m "$msg" localhost "$dtls_port"
if [ "$embed" -eq 1 ]; then
    # These copies carry the secrets that keys.log (0600) guards: they are
    # created 0600 too, never readable by others even for a moment.
    for t in tls dtls; do
        (umask 077 && editcap --inject-secrets "tls,$keylog" \
            "$out/$t.pcapng" "$out/$t-with-keys.pcapng")
        chmod 600 "$out/$t-with-keys.pcapng"
    done
fi

# The four exchanges side by side as ladder diagrams (scripts/ladder.sh).
ladder=
if ! command -v gnuplot >/dev/null; then
    printf 'capture.sh: gnuplot is missing (Debian package gnuplot-nox): no ladder.png\n' >&2
elif ! ladder=$(bash "$here/scripts/ladder.sh" --out "$out" 2>"$work/ladder.err"); then
    die "ladder.sh failed: $(cat "$work/ladder.err")"
fi

# tshark options that make it see TLS/DTLS on our ports, with the keys.
decode=(-d "tcp.port==$tls_port,tls" -d "udp.port==$dtls_port,dtls"
    -o "tls.keylog_file:$keylog")

# One line of figures for a capture: packets, wire bytes, payload bytes,
# and (for TLS, decrypted with the key log) the handshake round trips.
figures() {
    local file=$1 proto=$2 port=$3
    tshark -r "$file" "${decode[@]}" \
        -T fields -E separator=, -E aggregator=';' -e "$proto.srcport" \
        -e frame.len -e "$([ "$proto" = udp ] && echo udp.length ||
        echo tcp.len)" -e tls.handshake.type -e dtls.handshake.type \
        2>/dev/null |
    awk -F, -v port="$port" -v proto="$proto" '
        { pkts++; wire += $2
          len = proto == "udp" ? $3 - 8 : $3; payload += len
          if (len <= 0) next
          side = $1 == port ? "s" : "c"
          # A server flight is a run of server segments between client ones.
          if (side == "s" && last != "s") flights++
          last = side
          if (side == "s" && !fin && ($4 $5) ~ /(^|;)20(;|$)/) fin = flights }
        END { printf "%d %d %d %d\n", pkts, wire, payload, fin }'
}

# The decrypted application data of a capture, as hex.
decrypted_hex() {
    tshark -r "$1" "${decode[@]}" -T fields -e data.data 2>/dev/null |
        tr -d ':\n'
}

readable() {
    local hex
    if grep -qaF -- "$msg" "$1"; then echo "readable in clear"; return; fi
    hex=$(printf '%s' "$msg" | od -An -tx1 | tr -d ' \n')
    if [ "$2" = tls ] && tshark -r "$1" "${decode[@]}" -q \
        -z follow,tls,ascii,0 2>/dev/null | grep -qF -- "$msg"; then
        echo "encrypted; readable with the key log"
    elif [ "$2" = dtls ] && decrypted_hex "$1" | grep -q "$hex"; then
        echo "encrypted; readable with the key log"
    else
        echo "not readable"
    fi
}

echo_bytes=$((2 * ${#msg}))
printf 'secho capture: "%s" (%d bytes) echoed once per transport; ' \
    "$msg" "${#msg}"
printf 'echo payload = %d bytes (sent + echoed)\n\n' "$echo_bytes"
table=$(printf '%-9s %7s %8s %10s %8s  %-15s %s\n' transport packets "wire B" \
    "L4 payload" overhead "handshake RTTs" "the message on the wire"
for t in tcp tls udp dtls; do
    proto=tcp
    case "$t" in udp | dtls) proto=udp ;; esac
    read -r pkts wire payload fin < <(figures "$out/$t.pcapng" "$proto" \
        "$(port_of "$t")")
    case "$t" in
    tcp) rtt="1 (TCP)" ;;
    tls) rtt="1 TCP + $fin TLS" ;;
    udp) rtt="0" ;;
    dtls) rtt="$fin (1 cookie)" ;;
    esac
    printf '%-9s %7d %8d %10d %8d  %-15s %s\n' "$t" "$pkts" "$wire" \
        "$payload" $((payload - echo_bytes)) "$rtt" \
        "$(readable "$out/$t.pcapng" "$t")"
done)
printf '%s\n' "$table"
# The README's copy of the table, as an indented code block, replaced in
# place (through a temporary file, so an interrupted run leaves it whole).
if [ -n "$readme" ]; then
    TABLE=$table awk '
        /^<!-- capture:end -->$/ { skip = 0 }
        !skip { print }
        /^<!-- capture:begin -->$/ { skip = 1
            n = split(ENVIRON["TABLE"], l, "\n")
            print ""; for (i = 1; i <= n; i++) print "    " l[i]; print "" }
        ' "$readme" >"$work/readme"
    cat "$work/readme" >"$readme"
fi
# The client's --trace of the same two encrypted exchanges, side by side
# with the table: each handshake message and alert as it went out (>) or
# came in (<), its length and when (tls.trace, dtls.trace in $out).
for t in tls dtls; do
    grep '^trace ' "$work/$t.client" >"$out/$t.trace" || true
done
printf '\nthe handshakes as secho-client --trace saw them (> sent, < received):\n'
paste -d '|' <(sed 's/^trace //' "$out/tls.trace") \
    <(sed 's/^trace //' "$out/dtls.trace") |
    awk -F'|' 'BEGIN { printf "  %-44s %s\n", "tls", "dtls" }
        { printf "  %-44s %s\n", $1, $2 }'
printf '\nwire B: whole frames on lo; L4 payload: TCP/UDP payload bytes;\n'
printf 'overhead: L4 payload beyond the echoed message (TLS handshake, '
printf 'records, alerts).\n\nfiles in %s:\n' "$out"
for f in tcp tls udp dtls; do printf '  %s.pcapng\n' "$f"; done
printf '  tls.trace, dtls.trace (secho-client --trace of those exchanges)\n'
printf '  keys.log (TLS secrets, mode %s)\n' "$(stat -c %a "$keylog")"
[ "$embed" -eq 1 ] &&
    printf '  tls-with-keys.pcapng, dtls-with-keys.pcapng (open decrypted)\n'
[ -n "$ladder" ] &&
    printf '  ladder.png, ladder.tsv (the exchanges as ladder diagrams, their arrows)\n'
printf '\ndecrypt: tshark -r %s/tls.pcapng -d tcp.port==%s,tls -o tls.keylog_file:%s\n' \
    "$out" "$tls_port" "$keylog"
printf '         tshark -r %s/dtls.pcapng -d udp.port==%s,dtls -o tls.keylog_file:%s\n' \
    "$out" "$dtls_port" "$keylog"
if [ -n "$ladder" ]; then
    printf '\nthe picture (client and server, one arrow a packet): %s\n' "$ladder"
fi
