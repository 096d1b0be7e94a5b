// A DNS server on loopback whose answers the test decides: for the proxy's `resolver` option.
'use strict';

const dgram = require('node:dgram');
const net = require('node:net');

/**
 * A DNS server on 127.0.0.1 that the test controls. `answer({ name, type }, nth)` is asked for
 * each query (`nth` counts queries for that name and type from 1) and returns
 * `{ a: ['1.2.3.4'] }`, `{ rcode: 3 }` (no such name) or `{ silent: true }`. AAAA queries get no
 * address unless `aaaa` is given.
 */
async function startDns(answer) {
  const socket = dgram.createSocket('udp4');
  const queries = [];
  socket.on('message', (msg, from) => {
    let pos = 12;
    const labels = [];
    while (msg[pos] !== 0) {
      labels.push(msg.subarray(pos + 1, pos + 1 + msg[pos]).toString('latin1'));
      pos += msg[pos] + 1;
    }
    const typeCode = msg.readUInt16BE(pos + 1);
    const query = { name: labels.join('.').toLowerCase(), type: typeCode === 1 ? 'A' : typeCode === 28 ? 'AAAA' : String(typeCode) };
    queries.push(query);
    const nth = queries.filter((q) => q.name === query.name && q.type === query.type).length;
    const result = answer(query, nth);
    if (result.silent) return;
    const addresses = (query.type === 'A' ? result.a : query.type === 'AAAA' ? result.aaaa : []) ?? [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (result.rcode ?? 0), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(addresses.length, 6);
    const records = addresses.map((address) => {
      const data = net.isIPv4(address) ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
      const record = Buffer.alloc(12);
      record.writeUInt16BE(0xc00c, 0);
      record.writeUInt16BE(typeCode, 2);
      record.writeUInt16BE(1, 4);
      record.writeUInt32BE(0, 6); // TTL 0: nothing may cache it
      record.writeUInt16BE(data.length, 10);
      return Buffer.concat([record, data]);
    });
    socket.send(Buffer.concat([header, msg.subarray(12, pos + 5), ...records]), from.port, from.address);
  });
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    queries,
    close: () => new Promise((resolve) => socket.close(resolve)),
  };
}

function ipv6Bytes(address) {
  const [head, tail = ''] = address.split('::');
  const words = (part) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const left = words(head);
  const right = words(tail);
  const all = [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((word, i) => out.writeUInt16BE(word, i * 2));
  return out;
}

module.exports = { startDns };
