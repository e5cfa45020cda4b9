// A probe listener that test/support/netns.ts runs inside a network namespace (plain JS:
// node runs it directly). Not `nc -lk`: nc listens with a backlog of 1 and serves one
// connection at a time, so a held connection or a few probes at once make further
// connects time out, which a test would read as "blocked".
//
//   node listener.mjs tcp|udp PORT 4|6|46 LOGFILE
//
// 46 = dual stack ([::] with v4-mapped addresses). Prints `ready` once bound. Appends one
// JSON line per event to LOGFILE: {"ev":"conn"|"data","from":ADDR,"data":TEXT}. TCP
// connections echo what they receive (so a held connection can prove both directions).
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';

const [proto, portArg, family, logFile] = process.argv.slice(2);
const port = Number(portArg);
const fd = fs.openSync(logFile, 'a');
const log = (ev) => fs.writeSync(fd, JSON.stringify(ev) + '\n');
const host = family === '4' ? '0.0.0.0' : '::';
const ipv6Only = family === '6';
const unmap = (a) => (a && a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a);

function fail(e) {
  process.stderr.write(`listener ${proto}/${port}: ${e.message}\n`);
  process.exit(1);
}
const ready = () => process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));

if (proto === 'tcp') {
  const server = net.createServer((sock) => {
    const from = unmap(sock.remoteAddress);
    log({ ev: 'conn', from });
    sock.on('data', (d) => {
      log({ ev: 'data', from, data: d.toString('latin1') });
      sock.write(d);
    });
    sock.on('end', () => sock.end());
    sock.on('error', () => sock.destroy());
  });
  server.on('error', fail);
  server.listen({ host, port, ipv6Only, backlog: 511 }, ready);
} else if (proto === 'udp') {
  const sock = dgram.createSocket({ type: family === '4' ? 'udp4' : 'udp6', ipv6Only });
  sock.on('message', (msg, rinfo) => log({ ev: 'data', from: unmap(rinfo.address), data: msg.toString('latin1') }));
  sock.on('error', fail);
  sock.bind({ port, address: host }, ready);
} else {
  fail(new Error(`unknown protocol ${proto}`));
}
