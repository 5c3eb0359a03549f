#!/usr/bin/env bash
# ja4_tshark.sh PCAP - JA4 of the first ClientHello in PCAP, computed from
# tshark's dissection with awk and sha256sum: a second computation that
# shares no code with src/core/tls_hello.c (tests/check_capture.c compares
# the two).  TLS over TCP only; GREASE values are left out.
set -euo pipefail
tshark -r "$1" -d 'tcp.port==1-65535,tls' -Y 'tls.handshake.type==1' \
    -T fields -E occurrence=a -E aggregator=, \
    -e tls.handshake.ciphersuite -e tls.handshake.extension.type \
    -e tls.handshake.sig_hash_alg -e tls.handshake.extensions.supported_version \
    -e tls.handshake.extensions_alpn_str -e tls.handshake.extensions_server_name \
    2>/dev/null | head -n 1 |
awk -F'\t' '
function grease(v) { return int(v / 256) == v % 256 && v % 16 == 10 }
function hex4(v) { return sprintf("%04x", v) }
function num(s,    i, v) {
    if (s !~ /^0x/) return s + 0
    v = 0
    for (i = 3; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
    return v
}
function sorted(list, skip,    a, n, i, j, t, m, out) {
    n = split(list, a, ","); m = 0
    for (i = 1; i <= n; i++) {
        if (a[i] == "" || grease(num(a[i])) || (skip != "" && index(skip, "," num(a[i]) ",")))
            continue
        b[++m] = num(a[i])
    }
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
        if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t }
    out = ""
    for (i = 1; i <= m; i++) out = out (i > 1 ? "," : "") hex4(b[i])
    count = m
    return out
}
{
    ciphers = sorted($1, ""); nc = count
    n = split($2, e, ","); ne = 0
    for (i = 1; i <= n; i++) if (!grease(e[i] + 0)) ne++
    exts = sorted($2, ",0,16,")
    n = split($3, s, ","); sig = ""
    for (i = 1; i <= n; i++) if (!grease(num(s[i]))) sig = sig (sig != "" ? "," : "") hex4(num(s[i]))
    n = split($4, v, ","); best = 0
    for (i = 1; i <= n; i++) if (!grease(num(v[i])) && num(v[i]) > best) best = num(v[i])
    ver = best == 772 ? "13" : best == 771 ? "12" : "00"
    split($5, al, ","); alpn = al[1] == "" ? "00" : substr(al[1], 1, 1) substr(al[1], length(al[1]), 1)
    a = sprintf("t%s%s%02d%02d%s", ver, $6 != "" ? "d" : "i", nc > 99 ? 99 : nc, ne > 99 ? 99 : ne, alpn)
    print a
    print ciphers
    print exts (sig != "" ? "_" sig : "")
}' | {
    read -r a; read -r b; read -r c
    hb=$(printf '%s' "$b" | sha256sum | cut -c1-12)
    hc=$(printf '%s' "$c" | sha256sum | cut -c1-12)
    printf '%s_%s_%s\n' "$a" "$hb" "$hc"
}
