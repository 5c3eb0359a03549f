// node-echo.js - a Node.js echo server, a peer for scripts/bench.sh
// (issue 14).
//
//   node node-echo.js -listen 127.0.0.1:PORT [-tls -cert FILE -key FILE]
//
// Plain TCP (net), or TLS (tls) with Node's defaults: TLS 1.2 and 1.3,
// session tickets on (keys made by the server), so a client resumes.  Each
// connection is piped into itself, which echoes every byte in order and
// pauses reading while a write is pending.  Port 0 binds an ephemeral port;
// "listening PORT" is printed once bound.  Node core modules only.
'use strict';

const fs = require('fs');
const net = require('net');
const tls = require('tls');

function usage(why) {
  if (why) process.stderr.write(`node-echo: ${why}\n`);
  process.stderr.write('usage: node node-echo.js -listen HOST:PORT ' +
    '[-tls -cert FILE -key FILE]\n');
  process.exit(1);
}

// -flag VALUE or --flag=VALUE, as Go's flag package takes them.
function parseArgs(argv) {
  const opt = { listen: '127.0.0.1:0', tls: false, cert: '', key: '' };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) usage(`unexpected argument '${argv[i]}'`);
    const [, name, inline] = m;
    if (name === 'tls') {
      opt.tls = inline === undefined || inline === 'true';
    } else if (name in opt) {
      const v = inline !== undefined ? inline : argv[++i];
      if (v === undefined) usage(`-${name} needs a value`);
      opt[name] = v;
    } else if (name === 'h' || name === 'help') {
      usage();
    } else {
      usage(`unknown flag -${name}`);
    }
  }
  if (opt.tls && (!opt.cert || !opt.key)) usage('-tls needs -cert and -key');
  // HOST:PORT, HOST possibly a bracketed IPv6 address.
  const at = opt.listen.lastIndexOf(':');
  const port = Number(opt.listen.slice(at + 1));
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    usage(`-listen wants HOST:PORT, not '${opt.listen}'`);
  }
  opt.host = opt.listen.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  opt.port = port;
  return opt;
}

// A reset or a broken pipe ends that connection only.
function echo(sock) {
  sock.setNoDelay(true);
  sock.on('error', () => sock.destroy());
  sock.pipe(sock);
}

const opt = parseArgs(process.argv.slice(2));
let server;
if (opt.tls) {
  server = tls.createServer({
    cert: fs.readFileSync(opt.cert),
    key: fs.readFileSync(opt.key),
  }, echo);
  // A failed handshake (a scan, a plain-TCP client) is that client's loss.
  server.on('tlsClientError', () => {});
} else {
  server = net.createServer(echo);
}
server.on('error', (err) => {
  process.stderr.write(`node-echo: ${err.message}\n`);
  process.exit(2);
});
server.listen({ host: opt.host, port: opt.port, backlog: 4096 }, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
