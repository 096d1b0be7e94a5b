'use strict';

// The machine the run was on, and the tables (Markdown, for the README) with each target the
// README sets, judged met or not met.

const fs = require('node:fs');
const { HOST_CALLS: W_HOST_CALLS } = require('./workloads');
const os = require('node:os');
const path = require('node:path');

/** The addon file `require(root)` loads, as the generated index.js picks it on this platform. */
function addonFile(root) {
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) return process.env.NAPI_RS_NATIVE_LIBRARY_PATH;
  const found = fs.readdirSync(root).filter((f) => f.endsWith('.node'));
  return found.length === 1 ? path.join(root, found[0]) : found.map((f) => path.join(root, f)).join(', ');
}

/** Whether an ELF64 file has a `.debug_info` section, which a release build does not; `undefined` when it cannot tell. */
function hasDebugInfo(file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const read = (offset, length) => {
      const buf = Buffer.alloc(length);
      fs.readSync(fd, buf, 0, length, offset);
      return buf;
    };
    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46 || header[4] !== 2 || header[5] !== 1) return undefined; // ELF64 LE only
    const shoff = Number(header.readBigUInt64LE(0x28));
    const [shentsize, shnum, shstrndx] = [header.readUInt16LE(0x3a), header.readUInt16LE(0x3c), header.readUInt16LE(0x3e)];
    const sections = read(shoff, shentsize * shnum);
    const names = sections.subarray(shstrndx * shentsize);
    const table = read(Number(names.readBigUInt64LE(0x18)), Number(names.readBigUInt64LE(0x20)));
    return table.includes('\0.debug_info\0');
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function machine(root) {
  const cpus = os.cpus();
  const file = addonFile(root);
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    addon: file,
    addonDebugInfo: hasDebugInfo(file),
    date: new Date().toISOString(),
  };
}

const fmt = (n, digits = 2) => (n === undefined || Number.isNaN(n) ? 'n/a' : n >= 100 ? n.toFixed(0) : n.toFixed(digits));
const ms = (n) => (n === undefined ? 'n/a' : n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toFixed(3));
const times = (n) => (n === undefined || !Number.isFinite(n) ? 'n/a' : `${n >= 10 ? n.toFixed(0) : n.toFixed(1)}×`);

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Each target the README sets, with the figure it is judged on. */
function targets(results) {
  const f = results.figures;
  const ours = (w) => f[w]?.ours;
  const peer = (w, id) => (results.engines[id].unavailable ? undefined : f[w]?.[id]);
  const list = [];
  const add = (name, value, shown, met) => list.push({ name, value, shown, met: value === undefined || Number.isNaN(value) ? null : met });

  for (const [id, factor] of [
    ['qjs', 3],
    ['ivmShared', 4],
    ['ivmNew', 25],
  ]) {
    const speedup = peer('backend', id) && ours('backend') ? peer('backend', id).median / ours('backend').median : undefined;
    add(`1. backend: median latency ≤ 1/${factor} of ${results.engines[id].label}`, speedup, `${times(speedup)} faster`, speedup >= factor);
  }
  const tp = ours('throughput');
  const scale = tp && tp.several / tp.one;
  add(`2. backend throughput with ${results.params.window} in flight ≥ 1.8× one at a time`, scale, times(scale), scale >= 1.8);
  const cpu = peer('cpu', 'qjs') && ours('cpu') ? peer('cpu', 'qjs').median / ours('cpu').median : undefined;
  add('3. cpu: ≥ 2× quickjs-emscripten', cpu, `${times(cpu)} faster`, cpu >= 2);
  const io = ours('io');
  add(`4. io: ${results.params.io} executions within 300 ms of wall time`, io?.wallMs, `${ms(io?.wallMs)} ms`, io?.wallMs <= 300);
  add('4. io: worst event-loop delay during the batch < 10 ms', io?.maxDelayMs, `${ms(io?.maxDelayMs)} ms`, io?.maxDelayMs < 10);
  const hostcall = ours('hostcall');
  add(
    '4. host functions: one call round trip < 100 µs',
    hostcall?.perCallUs,
    `${fmt(hostcall?.perCallUs, 1)} µs`,
    hostcall?.perCallUs < 100,
  );
  const host = ours('host');
  add(
    `4. host functions: ${results.params.io} executions, each a 50 ms call, within 300 ms`,
    host?.wallMs,
    `${ms(host?.wallMs)} ms`,
    host?.wallMs <= 300,
  );
  add(
    '4. host functions: worst event-loop delay during the batch < 10 ms',
    host?.maxDelayMs,
    `${ms(host?.maxDelayMs)} ms`,
    host?.maxDelayMs < 10,
  );
  const inflight = ours('inflight');
  add(
    `5. memory: < 1 MiB RSS per in-flight waiting execution (${results.params.inflight} in flight)`,
    inflight?.perExecutionMiB,
    `${ms(inflight?.perExecutionMiB)} MiB`,
    inflight?.perExecutionMiB < 1,
  );
  const soak = ours('soak');
  add(
    `5. soak: RSS after ${results.params.soak} executions within 20 MiB of its level after 1,000`,
    soak?.growthMiB,
    `${soak ? `${fmt(soak.afterFirst1000MiB, 1)} → ${fmt(soak.endMiB, 1)} MiB (${soak.growthMiB >= 0 ? '+' : ''}${fmt(soak.growthMiB, 1)})` : 'n/a'}`,
    Math.abs(soak?.growthMiB) <= 20,
  );
  const big = ours('big');
  const warm = big && big.firstMs / big.secondMs;
  add('6. big script: second run ≥ 5× faster than the first', warm, times(warm), warm >= 5);
  const req = ours('require');
  add('7. require() of the package < 20 ms', req?.ms, `${ms(req?.ms)} ms`, req?.ms < 20);
  for (const workers of [1, 2]) {
    const ratio = endToEndRatio(results.endToEnd, workers);
    add(
      `8. end to end, ${workers} app process${workers > 1 ? 'es' : ''}: trivial-script page ≥ 50% of the static page's requests/s`,
      ratio,
      ratio === undefined ? 'n/a' : `${(ratio * 100).toFixed(0)}%`,
      ratio >= 0.5,
    );
  }
  return list;
}

/** The figures of one page with `workers` app processes, from the end-to-end run. */
const endToEndRow = (e2e, workers, page) => e2e?.rows.find((r) => r.workers === workers && r.page === page);

/** Requests/s of the trivial-script page over the static page's. */
function endToEndRatio(e2e, workers) {
  const [trivial, floor] = [endToEndRow(e2e, workers, 'trivial'), endToEndRow(e2e, workers, 'static')];
  return trivial && floor ? trivial.perSec / floor.perSec : undefined;
}

/** The end-to-end table: each page, with 1 and 2 app processes side by side. */
function endToEndTable(e2e, labels) {
  const workers = [...new Set(e2e.rows.map((r) => r.workers))];
  const header = ['page', ...workers.flatMap((w) => [`${w} process${w > 1 ? 'es' : ''}: req/s`, 'p50 ms', 'p99 ms'])];
  const rows = labels.map(({ id, label }) => [
    label,
    ...workers.flatMap((w) => {
      const r = endToEndRow(e2e, w, id);
      return r ? [fmt(r.perSec, 0), String(r.p50), String(r.p99)] : ['failed', '', ''];
    }),
  ]);
  rows.push([
    '**trivial-script page / static page**',
    ...workers.flatMap((w) => {
      const ratio = endToEndRatio(e2e, w);
      return [ratio === undefined ? 'n/a' : `**${(ratio * 100).toFixed(0)}%**`, '', ''];
    }),
  ]);
  return table(header, rows);
}

function report(results) {
  const { figures: f, engines, machine: m, params } = results;
  const ids = Object.keys(engines);
  const label = (id) => engines[id].label;
  const out = [];
  out.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}. ` +
      `Addon: ${m.addon}${m.addonDebugInfo ? ' (WARNING: it has debug info, so it is not the release build these figures are meant for; run `npm run build`)' : ''}. ` +
      `Egress proxy: ${results.proxyKind}. Mode: ${results.mode}, median of ${params.rounds} round(s). ${m.date}`,
  );
  for (const id of ids)
    if (engines[id].unavailable) out.push(`\nNot measured: ${label(id)} could not be loaded: ${engines[id].unavailable}`);

  const speedup = (w, id, key) => (id === 'ours' || !f[w]?.[id] || !f[w]?.ours ? '—' : times(f[w][id][key] / f[w].ours[key]));
  // One row per engine: its cells for workload `w`, or why it has none.
  const engineRows = (w, columns, cells) =>
    ids.map((id) => {
      const x = f[w]?.[id];
      const why = engines[id].unavailable ? 'not installed' : !x ? 'failed' : null;
      return why ? [label(id), why, ...Array(columns - 2).fill('')] : [label(id), ...cells(x, id)];
    });
  const latency = ['engine', 'median ms', 'p99 ms', 'exec/s', 'ours faster by'];
  const latencyCells = (w) => (x, id) => [ms(x.median), ms(x.p99), fmt(x.perSec, 0), speedup(w, id, 'median')];

  out.push(`\n**backend** (the token check; ${params.backend} sequential executions per round)\n`);
  const backendRows = engineRows('backend', latency.length, latencyCells('backend'));
  if (f.empty?.ours) backendRows.splice(1, 0, ['backend-scripts, empty script (floor)', ...latencyCells('empty')(f.empty.ours, 'ours')]);
  out.push(table(latency, backendRows));
  out.push(`\n**cpu** (200,000-iteration arithmetic loop; ${params.cpu} sequential executions per round)\n`);
  out.push(table(latency, engineRows('cpu', latency.length, latencyCells('cpu'))));

  out.push(`\n**io** (${params.io} executions at once, each one request answered after 50 ms)\n`);
  const io = ['engine', 'wall ms', 'worst event-loop delay ms', 'main-thread CPU ms', 'ours faster by'];
  out.push(
    table(
      io,
      engineRows('io', io.length, (x, id) => [ms(x.wallMs), ms(x.maxDelayMs), ms(x.mainCpuMs), speedup('io', id, 'wallMs')]),
    ),
  );

  if (f.hostcall?.ours || f.host?.ours) {
    out.push(
      `\n**host functions** (ours: ${W_HOST_CALLS} immediate calls per execution against an empty script, ${params.hostcall} sequential executions each; and ${params.io} executions at once, each one call answered after 50 ms)\n`,
    );
    const hc = f.hostcall?.ours;
    const h = f.host?.ours;
    out.push(
      table(
        ['figure', 'value'],
        [
          ['empty execution, median ms', ms(hc?.emptyMs)],
          [`execution with ${W_HOST_CALLS} calls, median ms`, ms(hc?.callsMs)],
          ['one call round trip, µs', fmt(hc?.perCallUs, 1)],
          [`${params.io} × 50 ms calls at once: wall ms`, ms(h?.wallMs)],
          ['worst event-loop delay ms', ms(h?.maxDelayMs)],
          ['main-thread CPU ms', ms(h?.mainCpuMs)],
        ],
      ),
    );
  }

  const bytes = Object.values(f.big ?? {})[0]?.bytes;
  out.push(
    `\n**big script** (${bytes ? `${(bytes / 1024).toFixed(0)} KiB: ` : ''}validate.js and validator's isEmail bundled, plus a page script; run twice, ${params.big} pair(s) per round)\n`,
  );
  const big = ['engine', 'first run ms', 'second run ms', 'first / second', 'ours faster by (second run)'];
  out.push(
    table(
      big,
      engineRows('big', big.length, (x, id) => [
        ms(x.firstMs),
        ms(x.secondMs),
        times(x.firstMs / x.secondMs),
        speedup('big', id, 'secondMs'),
      ]),
    ),
  );

  const tp = f.throughput?.ours;
  const mem = f.inflight?.ours;
  const soak = f.soak?.ours;
  const req = f.require?.ours;
  out.push('\n**backend-scripts alone**\n');
  out.push(
    table(
      ['measure', 'figure'],
      [
        tp && [
          `backend throughput, one at a time → ${params.window} in flight`,
          `${fmt(tp.one, 0)} → ${fmt(tp.several, 0)} exec/s (${times(tp.several / tp.one)})`,
        ],
        tp && [
          `empty script throughput, one at a time → ${params.window} in flight`,
          `${fmt(tp.emptyOne, 0)} → ${fmt(tp.emptySeveral, 0)} exec/s (${times(tp.emptySeveral / tp.emptyOne)})`,
        ],
        tp && [
          'CPU per execution one at a time, all threads (of which Node’s main thread): backend; empty script',
          `${fmt(tp.cpuUs, 0)} µs (${fmt(tp.mainCpuUs, 0)} µs); ${fmt(tp.emptyCpuUs, 0)} µs (${fmt(tp.emptyMainCpuUs, 0)} µs)`,
        ],
        tp && [
          `CPU per backend execution with ${params.window} in flight, and the bound it sets: ${m.cores} cores / CPU`,
          `${fmt(tp.severalCpuUs, 0)} µs: ${fmt((m.cores * 1e6) / tp.severalCpuUs, 0)} exec/s (${times((m.cores * 1e6) / tp.severalCpuUs / tp.one)} one at a time)`,
        ],
        mem && [
          `RSS per in-flight waiting execution (${mem.count} in flight, ${mem.threads} threads)`,
          `${ms(mem.perExecutionMiB)} MiB (${fmt(mem.beforeMiB, 0)} → ${fmt(mem.duringMiB, 0)} MiB)`,
        ],
        soak && [
          `soak: RSS after 1,000 → after ${soak.count} executions (max)`,
          `${fmt(soak.afterFirst1000MiB, 1)} → ${fmt(soak.endMiB, 1)} MiB (${fmt(soak.maxMiB, 1)}), ${fmt(soak.perSec, 0)} exec/s`,
        ],
        req && ['`require()` of the package, fresh process', `${ms(req.ms)} ms (min ${ms(req.min)}, max ${ms(req.max)})`],
      ].filter(Boolean),
    ),
  );

  const e2e = results.endToEnd;
  if (e2e) {
    out.push(
      `\n**end to end** (autocannon, ${e2e.connections} connections for ${e2e.seconds} s per row, to Express with backendScripts() on ` +
        `loopback; the app processes share one port through node:cluster; the seed page's upstream answers after ${e2e.upstreamMs} ms)\n`,
    );
    out.push(endToEndTable(e2e, require('./e2e').PAGES));
  }

  out.push(`\n**targets${results.mode === 'smoke' ? ' — smoke counts, indicative only' : ''}**\n`);
  out.push(
    table(
      ['target', 'measured', 'verdict'],
      targets(results).map((t) => [t.name, t.shown, t.met === null ? 'not measured' : t.met ? 'met' : 'NOT MET']),
    ),
  );

  out.push(
    '\nNotes: every execution gets a fresh sandbox (ours: a new QuickJS runtime and context; quickjs-emscripten: a new runtime and context ' +
      'with a 32 MiB memory limit, a 256 KiB stack and an interrupt deadline; isolated-vm: a new isolate, or a new context in one shared isolate, ' +
      '32 MB limit and a timeout; node:vm: a new context with a timeout). All get a 1 s CPU budget. Sources are compiled on every execution; ' +
      'for ours the same source hits the bytecode cache, which is part of the product (the big-script first run is always a new source). ' +
      "The peers get the page globals as JavaScript inside their sandbox (one JSON copy in and out), and synchronous scripts run with the peers' " +
      "synchronous calls on Node's main thread: their fastest path. Ours run asynchronously on the addon's threads; the io workload goes through " +
      'the authenticated egress proxy to a local upstream (both in a child process), the peers await a 50 ms host timer instead. ' +
      'Event-loop delay: perf_hooks.monitorEventLoopDelay at 1 ms resolution, resolution subtracted.',
  );
  if (results.failures.length) {
    out.push('\n**failed measurements**\n');
    for (const x of results.failures) out.push(`- ${x.workload} on ${label(x.engine)}: ${x.error}`);
  }
  return out.join('\n');
}

module.exports = { machine, report, targets };
