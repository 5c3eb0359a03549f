#!/usr/bin/env bash
# ladder.sh - draw the captures of scripts/capture.sh as ladder diagrams:
# one panel per transport (tcp | tls | udp | dtls), client and server as
# two vertical lines, each packet an arrow labelled with what it carries
# and its frame size, the first echo marked, and under each panel the
# packets, round trips and bytes it took to get that echo back.
#
# Usage: scripts/ladder.sh [--out DIR]
# Reads DIR/{tcp,tls,udp,dtls}.pcapng and DIR/keys.log (to name TLS 1.3's
# encrypted handshake messages); writes DIR/ladder.png and DIR/ladder.tsv
# (one line an arrow: transport, index, direction, frame length, label,
# mark: "echo" on the first echo, "-" elsewhere).
set -euo pipefail

out=captures
transports=(tcp tls udp dtls)

die() { printf 'ladder.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    -h | --help) usage 0 ;;
    *) printf 'ladder.sh: unknown option %s\n' "$1" >&2; usage 1 ;;
    esac
done

for tool in tshark gnuplot; do
    command -v "$tool" >/dev/null ||
        die "$tool is missing: run 'make deps' (Debian packages tshark, gnuplot-nox)"
done
for t in "${transports[@]}"; do
    [ -r "$out/$t.pcapng" ] || die "no $out/$t.pcapng: run scripts/capture.sh first"
done
keylog="$out/keys.log"
# Without the keys TLS 1.3's handshake after the ServerHello is opaque
# "Application Data", and the first echo cannot be told from it.
[ -r "$keylog" ] || die "no $keylog: the TLS handshakes cannot be named"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One line a frame, for every capture: transport, server port, then
# tshark's fields.  The client speaks first in every exchange, so the
# first frame's destination port is the server's, and TLS/DTLS are
# decoded on it (the ports are ephemeral, not registered ones).
for t in "${transports[@]}"; do
    f="$out/$t.pcapng"
    port=$(tshark -r "$f" -c 1 -T fields -e tcp.dstport -e udp.dstport \
        2>/dev/null | tr -d '\t\n')
    [ -n "$port" ] || die "$f holds no TCP or UDP packet"
    tshark -r "$f" -d "tcp.port==$port,tls" -d "udp.port==$port,dtls" \
        -o "tls.keylog_file:$keylog" -T fields -E separator=/t \
        -E aggregator=, -e tcp.srcport -e udp.srcport -e frame.len \
        -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.fin \
        -e tcp.flags.reset -e tcp.len -e udp.length \
        -e tcp.analysis.retransmission -e tcp.payload -e udp.payload \
        -e tls.handshake.extensions.supported_version \
        -e tls.handshake.version -e dtls.handshake.version \
        -e _ws.col.Info 2>/dev/null |
        awk -v t="$t" -v port="$port" '{ print t "\t" port "\t" $0 }'
done >"$work/frames"

# The arrows: ladder.tsv, and each encrypted transport's version.
awk -F'\t' -v OFS='\t' -v tsv="$out/ladder.tsv" -v meta="$work/meta" '
    # tshark 4.0 prints a set flag as 1, later ones as True.
    function on(v) { return v == "1" || v == "True" }
    function hexval(c) { return index("0123456789abcdef", tolower(c)) - 1 }
    # The payload as text, printable ASCII only, cut short.
    function text(hex,   s, i, c) {
        s = ""
        for (i = 1; i < length(hex) && length(s) < 28; i += 2) {
            c = hexval(substr(hex, i, 1)) * 16 + hexval(substr(hex, i + 1, 1))
            s = s (c >= 32 && c < 127 ? sprintf("%c", c) : ".")
        }
        return s (length(hex) > 56 ? "..." : "")
    }
    # Wireshark names ("Client Hello") as the RFCs spell them
    # ("ClientHello"); an alert by its description ("close_notify").
    function names(info,   n, part, i, s, name, last, count, d) {
        gsub(/^\[[^]]*\] */, "", info)
        while (match(info, /Alert \(Level: [A-Za-z]+, Description: [^)]*\)/)) {
            d = substr(info, RSTART, RLENGTH)
            sub(/.*Description: /, "", d); sub(/\)$/, "", d)
            d = tolower(d); gsub(/ /, "_", d)
            info = substr(info, 1, RSTART - 1) d \
                substr(info, RSTART + RLENGTH)
        }
        n = split(info, part, /, /); s = ""; last = ""; count = 0
        for (i = 1; i <= n + 1; i++) {
            name = part[i]
            if (name != "Application Data" && name != "Encrypted Alert")
                gsub(/ /, "", name)
            if (i <= n && name == last) { count++; continue }
            if (last != "")
                s = s (s == "" ? "" : ", ") last (count > 1 ? " x" count : "")
            last = name; count = 1
        }
        return s
    }
    {
        t = $1; port = $2; src = $3 != "" ? $3 : $4
        len = $5; syn = on($6); ack = on($7); fin = on($8); rst = on($9)
        payload = $10 != "" ? $10 : ($11 != "" ? $11 - 8 : 0)
        retrans = $12 != ""; hex = $13 != "" ? $13 : $14
        info = $18
        dir = src == port ? "s2c" : "c2s"
        if (payload > 0 && (t == "tls" || t == "dtls"))
            label = names(info)
        else if (payload > 0)
            label = "Data \"" text(hex) "\""
        else {
            label = syn ? "SYN" : ""
            if (fin) label = label (label == "" ? "" : ", ") "FIN"
            if (rst) label = label (label == "" ? "" : ", ") "RST"
            if (ack) label = label (label == "" ? "" : ", ") "ACK"
        }
        # A FIN or RST riding on data says so too.
        if (payload > 0 && fin) label = label ", FIN"
        if (payload > 0 && rst) label = label ", RST"
        if (retrans) label = "retransmitted: " label
        # The first echo: the first application data from the server.
        mark = "-"
        if (!echoed[t] && dir == "s2c" && payload > 0 &&
            (t == "tcp" || t == "udp" || label ~ /Application Data/)) {
            mark = "echo"; echoed[t] = 1
        }
        print t, ++n[t], dir, len, label, mark > tsv
        # The version the server chose, from its ServerHello.
        if (dir == "s2c" && label ~ /ServerHello/ && !(t in version)) {
            v = $15 != "" ? $15 : ($16 != "" ? $16 : $17)
            sub(/,.*/, "", v)
            version[t] = v == "0x0304" ? "TLS 1.3" : v == "0x0303" ? \
                "TLS 1.2" : v == "0xfefd" ? "DTLS 1.2" : v == "0xfefc" ? \
                "DTLS 1.3" : v
            print t, version[t] > meta
        }
    }
    ' "$work/frames"
touch "$work/meta"
for t in "${transports[@]}"; do
    grep -q "^$t	" "$out/ladder.tsv" || die "$out/$t.pcapng holds no frame"
done

# The terminal: pngcairo draws anti-aliased text; plain png will do.
term="png size %d,%d font \"DejaVuSans,11\" noenhanced"
gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo &&
    term="pngcairo size %d,%d font \"DejaVu Sans,11\" noenhanced"

# The picture, as a gnuplot script, laid out in pixels: the axes span the
# whole canvas, x from 0 to the width, y from 0 down to minus the height.
# Arrows are spaced evenly by packet order (time scaled, the handshake
# would be crushed into a line beside the idle waits), except for a gap
# after the first echo that holds its marker.
awk -F'\t' -v term="$term" -v meta="$work/meta" -v png="$out/ladder.png" '
    BEGIN {
        while ((getline line < meta) > 0) {
            split(line, m, "\t"); version[m[1]] = m[2]
        }
        np = split("tcp tls udp dtls", order, " ")
        for (p = 1; p <= np; p++) panel[order[p]] = p - 1
        what["tcp"] = "plain TCP"; what["udp"] = "plain UDP"
        what["tls"] = (version["tls"] != "" ? version["tls"] : "TLS") " over TCP"
        what["dtls"] = (version["dtls"] != "" ? version["dtls"] : "DTLS") " over UDP"
        plain["tls"] = "tcp"; plain["dtls"] = "udp"
        pw = 460                 # a panel
        inset = 60               # its client and server lines from its edges
        width = 42               # characters a label line holds
        lineh = 17               # pixels a label line takes
        top = 120                # the first arrow starts this far down
        echogap = 30             # the room for the first echo marker
        color["c2s"] = "#2c7bb6"; color["s2c"] = "#d7301f"
        color["ack"] = "#9a9a9a"; color["echo"] = "#1a9641"
    }
    # A gnuplot string: single-quoted, where a backslash is just one
    # (no escapes) and a quote is doubled.
    function q(s) { gsub(/\047/, "\047\047", s); return "\047" s "\047" }
    # label and its size wrapped at ", " into lines of at most width
    # characters: lt[k, 1..nlines].
    function wrap(k, s,   n, part, i, cur) {
        n = split(s, part, /, /); cur = ""; nlines = 1
        for (i = 1; i <= n; i++) {
            if (cur != "" && length(cur) + 2 + length(part[i]) > width) {
                lt[k, nlines++] = cur ","; cur = part[i]
            } else
                cur = cur (cur == "" ? "" : ", ") part[i]
        }
        lt[k, nlines] = cur
    }
    function bytes(n) { return n >= 10000 ? sprintf("%.1f kB", n / 1000) : n " B" }
    function plural(n, s) { return n " " s (n == 1 ? "" : "s") }
    {
        k = ++n; t[k] = $1; idx[k] = $2; dir[k] = $3; len[k] = $4
        label[k] = $5; mark[k] = $6
        wrap(k, $5 ", " bytes($4)); lines[k] = nlines
        # The size goes after the last message, not on a line of its own.
        if (nlines > 1 && lt[k, nlines] == bytes($4) &&
            length(lt[k, nlines - 1]) + length($4) + 3 <= width + 8) {
            lt[k, nlines - 1] = substr(lt[k, nlines - 1], 1,
                length(lt[k, nlines - 1]) - 1) "  " bytes($4)
            lines[k] = --nlines
        }
        sub(/, [0-9.]+ k?B$/, "  " bytes($4), lt[k, nlines])
        if (nlines > maxlines) maxlines = nlines
        if ($2 > maxrows) maxrows = $2
        rows[$1] = $2; total[$1] += $4
        if (!done[$1]) {
            pkts[$1]++; wire[$1] += $4
            # A round trip: a server flight that answers a client one
            # (something the client had to wait for before going on):
            # the SYN-ACK, a HelloVerifyRequest, a flight with the
            # ServerHello or the server Finished, and the echo itself.
            # A client flight starts with a packet that carries more
            # than an ACK; a NewSessionTicket alone answers nothing.
            if ($3 == "c2s" && $5 != "ACK")
                waiting[$1] = 1
            if ($3 == "s2c" && waiting[$1] && ($5 ~ /SYN, ACK/ ||
                $5 ~ /HelloVerifyRequest|ServerHello|Finished/ ||
                $6 == "echo")) {
                rtt[$1]++; waiting[$1] = 0
            }
            if ($6 == "echo") { done[$1] = 1; echo[$1] = $2 }
        }
    }
    END {
        # One slot a packet: its label, then its arrow sloping down.
        slot = maxlines * lineh + 40
        bottom = top + maxrows * slot + echogap + 20
        w = np * pw; h = bottom + 150
        printf "set terminal " term "\n", w, h
        printf "set output %s\n", q(png)
        print "unset border; unset tics; unset key; unset title"
        print "set lmargin at screen 0; set rmargin at screen 1"
        print "set tmargin at screen 1; set bmargin at screen 0"
        printf "set xrange [0:%d]; set yrange [%d:0]\n", w, -h
        printf "set label %s at %d,%d center font \",14\"\n",
            q("the same message echoed once over each transport, on loopback"), w / 2, -24
        for (p = 1; p <= np; p++) {
            x = (p - 1) * pw; tp = order[p]
            cx = x + inset; sx = x + pw - inset
            last = top + rows[tp] * slot + (echo[tp] ? echogap : 0)
            if (echo[tp]) {
                ey = top + echo[tp] * slot
                # Everything before the first echo, shaded.
                printf "set object rect from %d,%d to %d,%d fc rgb \"#fff3c4\" fs solid noborder behind\n",
                    x + 8, -top + 14, x + pw - 8, -ey
                printf "set arrow from %d,%d to %d,%d nohead dt 2 lw 1.5 lc rgb \"%s\" front\n",
                    x + 8, -ey, x + pw - 8, -ey, color["echo"]
                printf "set label \"first echo back\" at %d,%d center tc rgb \"%s\" front\n",
                    x + pw / 2, -ey - echogap / 2 - 2, color["echo"]
            }
            printf "set label %s at %d,%d center font \",13\"\n",
                q(tp "  (" what[tp] ")"), x + pw / 2, -62
            printf "set label \"client\" at %d,%d center font \",11\"\n", cx, -92
            printf "set label \"server\" at %d,%d center font \",11\"\n", sx, -92
            printf "set arrow from %d,%d to %d,%d nohead lw 2 lc rgb \"#404040\" back\n",
                cx, -100, cx, -last - 8
            printf "set arrow from %d,%d to %d,%d nohead lw 2 lc rgb \"#404040\" back\n",
                sx, -100, sx, -last - 8
            if (p < np)
                printf "set arrow from %d,%d to %d,%d nohead lw 1 lc rgb \"#d0d0d0\" back\n",
                    x + pw, -44, x + pw, -bottom - 62
            # The summary under the panel.
            if (echo[tp]) {
                sum = sprintf("to the first echo: %s, %s, %s", plural(pkts[tp], "packet"),
                    plural(rtt[tp], "round trip"), bytes(wire[tp]))
                if (tp in plain && echo[plain[tp]])
                    extra = sprintf("%s adds %s, %s, %s before it", toupper(tp),
                        plural(pkts[tp] - pkts[plain[tp]], "packet"),
                        plural(rtt[tp] - rtt[plain[tp]], "round trip"),
                        bytes(wire[tp] - wire[plain[tp]]))
                else
                    extra = "the baseline"
            } else {
                sum = "no echo in this capture"; extra = ""
            }
            printf "set label %s at %d,%d center font \",12\" front\n", q(sum),
                x + pw / 2, -bottom - 10
            printf "set label %s at %d,%d center tc rgb \"%s\" font \",11\" front\n", q(extra),
                x + pw / 2, -bottom - 32, tp in plain ? "#b2182b" : "#606060"
            printf "set label %s at %d,%d center tc rgb \"#606060\" front\n",
                q(sprintf("whole exchange: %s, %s", plural(rows[tp], "packet"), bytes(total[tp]))),
                x + pw / 2, -bottom - 54
        }
        for (k = 1; k <= n; k++) {
            x = panel[t[k]] * pw
            y = top + (idx[k] - 1) * slot + (echo[t[k]] && idx[k] > echo[t[k]] ? echogap : 0)
            from = dir[k] == "c2s" ? x + inset : x + pw - inset
            to = dir[k] == "c2s" ? x + pw - inset : x + inset
            c = mark[k] == "echo" ? color["echo"] : label[k] == "ACK" ? color["ack"] : color[dir[k]]
            # The label sits just above its arrow, one gnuplot label a
            # line (how gnuplot places a label of several lines varies).
            ay = y + maxlines * lineh + 8
            for (j = 1; j <= lines[k]; j++)
                printf "set label %s at %d,%d center tc rgb \"%s\" front\n",
                    q(lt[k, j]), x + pw / 2, -(ay - 6 - (lines[k] - j + 0.5) * lineh), c
            printf "set arrow from %d,%d to %d,%d head filled size screen 0.007,20 lw %s lc rgb \"%s\" front\n",
                from, -ay, to, -(ay + 20), mark[k] == "echo" ? 3 : label[k] == "ACK" ? 1 : 1.5, c
        }
        printf "set label %s at %d,%d center tc rgb \"#404040\" front\n",
            q("one arrow a packet, in packet order (evenly spaced, not to time scale); sizes are whole frames on lo; round trips include the echo'"'"'s own"),
            w / 2, -h + 48
        printf "set label %s at %d,%d center tc rgb \"#404040\" front\n",
            q("blue: client to server    red: server to client    grey: a bare ACK    green: the first echo    shaded: before the first echo came back"),
            w / 2, -h + 26
        print "plot NaN notitle"
    }
    ' "$out/ladder.tsv" >"$work/ladder.gp"
gnuplot "$work/ladder.gp" 2>"$work/gnuplot.err" ||
    die "gnuplot failed: $(head -c 300 "$work/gnuplot.err")"
printf '%s\n' "$out/ladder.png"
