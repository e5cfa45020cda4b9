// Where does one hotplug call spend its time? Sets up one dom0 as the bench does (M guests
// with K rules already installed), then runs the hook's online and offline
//   - plain, a few times, for reference;
//   - under `node --cpu-prof`: self time by module of the bundle (esbuild's `// path` markers);
//   - under `strace -f -c`: syscalls of the hook and all its children;
//   - under `strace -f -ttt -e trace=process`: the timeline of the processes it starts.
// Needs strace (apt-get install strace) for the last two; the bench itself does not.
//
//   sudo node scripts/run-ts.mjs scripts/bench/profile.ts [--backend nft] [--k 20] [--m 1] [--hook FILE] [--out DIR]
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyAllDom0s } from '../../test/support/netns.js';
import { Bench, PROBE_DOMID, devOf } from './measure.js';
import { summarize } from './stats.js';
import { ROOT, World, type Backend, type JobResult } from './world.js';

const { values: a } = parseArgs({
  options: {
    backend: { type: 'string', default: 'nft' },
    k: { type: 'string', default: '20' },
    m: { type: 'string', default: '1' },
    hook: { type: 'string' },
    out: { type: 'string' },
    reps: { type: 'string', default: '7' },
    /** KEY=VALUE added to the hook's environment (e.g. a tracing switch of an instrumented build); its stderr is shown. */
    env: { type: 'string', multiple: true },
  },
});
const backend = a.backend as Backend;
const k = Number(a.k);
const m = Number(a.m);
const hook = resolve(a.hook ?? join(ROOT, 'dist/vif-firewall'));
const out = resolve(a.out ?? join(ROOT, 'bench-results/profile'));
const reps = Number(a.reps);
const extraEnv = Object.fromEntries((a.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

process.on('SIGINT', () => void destroyAllDom0s().finally(() => process.exit(130)));

/** Self time per bundled module, from a .cpuprofile and the bundle's `// path` markers. */
function byModule(profileFile: string, bundle: string): { module: string; ms: number }[] {
  const lines = readFileSync(bundle, 'utf8').split('\n');
  const starts: { line: number; module: string }[] = [];
  lines.forEach((l, i) => {
    const mm = /^\/\/ (\S+\.(?:ts|js|mjs|cjs|json))$/.exec(l);
    if (mm) starts.push({ line: i, module: mm[1]!.replace(/^node_modules\//, 'npm:') });
  });
  const moduleAt = (line: number): string => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = '(bundle prelude)';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.module;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
  const p = JSON.parse(readFileSync(profileFile, 'utf8')) as {
    nodes: { id: number; callFrame: { url: string; lineNumber: number; functionName: string } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodeById = new Map(p.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const n = nodeById.get(id)!;
    const url = n.callFrame.url;
    let key: string;
    if (url.endsWith(bundle) || url === `file://${bundle}`) key = moduleAt(n.callFrame.lineNumber);
    else if (url.startsWith('node:') || url === '') key = n.callFrame.functionName ? `(node) ${n.callFrame.functionName}` : '(node internals / idle)';
    else key = url;
    totals.set(key, (totals.get(key) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return [...totals].map(([module, ms]) => ({ module, ms })).sort((x, y) => y.ms - x.ms);
}

/** execve/exit lines of `strace -f -ttt -e trace=process` → one line per child: start, duration, argv. */
function timeline(file: string): string[] {
  const text = readFileSync(file, 'utf8').split('\n');
  const starts = new Map<string, { t: number; argv: string }>();
  const rows: { t: number; dur: number; pid: string; argv: string }[] = [];
  let t0: number | undefined;
  for (const l of text) {
    const mm = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(l);
    if (!mm) continue;
    const [, pid, ts, rest] = mm as unknown as [string, string, string, string];
    const t = Number(ts);
    t0 ??= t;
    const ex = /^execve\("([^"]+)", \[(.*?)\](?:, .*)? = 0/.exec(rest);
    if (ex) starts.set(pid, { t, argv: ex[2]!.replace(/"/g, '').slice(0, 110) });
    if (/^\+\+\+ exited with/.test(rest)) {
      const s = starts.get(pid);
      if (s) rows.push({ t: s.t - t0, dur: t - s.t, pid, argv: s.argv });
    }
  }
  return rows.sort((x, y) => x.t - y.t).map((r) => `${(r.t * 1000).toFixed(1).padStart(7)} ms +${(r.dur * 1000).toFixed(1).padStart(6)} ms  ${r.argv}`);
}

async function main(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const w = await World.create({ backend, hook });
  try {
    const bench = new Bench(w);
    // The bench's own cell does the pre-install; one round is enough here.
    const cell = bench.newCell('hook', k, m);
    await bench.phase(cell, { reps: 1, minReps: 1, capMs: 0, first: true });
    if (cell.errors.length) throw new Error(cell.errors.join('; '));
    // phase() leaves the background installed and the probe vif offline: ready.
    const name = `g${PROBE_DOMID}`;
    const round = async (wrap: (j: ReturnType<World['job']>) => ReturnType<World['job']>) => {
      const vif = w.fillVif(PROBE_DOMID, name);
      const up = await w.runner.one(wrap(w.job('hook', 'online', vif, [])));
      w.prepareOffline(PROBE_DOMID);
      const down = await w.runner.one(wrap(w.job('hook', 'offline', vif, [])));
      return [up, down] as [JobResult, JobResult];
    };
    const withEnv = (j: ReturnType<World['job']>) => ({ ...j, env: { ...j.env, ...extraEnv } });
    const plain = { on: [] as number[], off: [] as number[] };
    let last: [JobResult, JobResult] | undefined;
    for (let i = 0; i < reps; i++) {
      const [up, down] = (last = await round(withEnv));
      plain.on.push(up.ms);
      plain.off.push(down.ms);
    }
    const report: string[] = [];
    report.push(`# Profile of ${hook} on ${backend}, K=${k}, M=${m} (dev ${devOf(PROBE_DOMID)})`, '');
    report.push(`plain: online median ${summarize(plain.on).median.toFixed(1)} ms, offline median ${summarize(plain.off).median.toFixed(1)} ms (n=${reps})`, '');
    if (a.env?.length && last) {
      report.push(`## stderr of the last plain round, with ${a.env.join(' ')}`, '', '### online (' + last[0].ms.toFixed(1) + ' ms)', '```', last[0].stderr.trimEnd(), '```');
      report.push('### offline (' + last[1].ms.toFixed(1) + ' ms)', '```', last[1].stderr.trimEnd(), '```', '');
    }

    const profDir = join(out, 'cpuprof');
    mkdirSync(profDir, { recursive: true });
    const [pu, pd] = await round((j) => ({ ...j, cmd: 'node', args: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '100', hook, ...(j.args ?? [])] }));
    if (pu.code !== 0 || pd.code !== 0) throw new Error(`cpu-prof run failed: ${pu.stderr}${pd.stderr}`);
    const profiles = readdirSync(profDir).sort();
    for (const [i, what] of ['online', 'offline'].entries()) {
      const file = join(profDir, profiles[i]!);
      const mods = byModule(file, hook);
      const total = mods.reduce((s, x) => s + x.ms, 0);
      report.push(`## node --cpu-prof, ${what} (${(i === 0 ? pu : pd).ms.toFixed(1)} ms wall, ${total.toFixed(1)} ms sampled)`, '');
      for (const x of mods.slice(0, 18)) report.push(`  ${x.ms.toFixed(1).padStart(7)} ms  ${x.module}`);
      report.push('');
    }

    if (existsSync('/usr/bin/strace')) {
      for (const what of ['online', 'offline'] as const) {
        const cFile = join(out, `strace-c-${what}.txt`);
        const tFile = join(out, `strace-process-${what}.txt`);
        const vif = w.fillVif(PROBE_DOMID, name);
        if (what === 'offline') {
          await w.runner.one(w.job('hook', 'online', vif, []));
          w.prepareOffline(PROBE_DOMID);
        }
        const j = w.job('hook', what, vif, []);
        const r1 = await w.runner.one({ ...j, cmd: 'strace', args: ['-f', '-c', '-o', cFile, j.cmd, ...(j.args ?? [])] });
        if (what === 'online') {
          w.prepareOffline(PROBE_DOMID);
          await w.runner.one(w.job('hook', 'offline', vif, []));
          w.fillVif(PROBE_DOMID, name);
        } else {
          await w.runner.one(w.job('hook', 'online', vif, []));
          w.prepareOffline(PROBE_DOMID);
        }
        const r2 = await w.runner.one({ ...j, cmd: 'strace', args: ['-f', '-ttt', '-e', 'trace=process', '-o', tFile, j.cmd, ...(j.args ?? [])] });
        if (what === 'online') {
          w.prepareOffline(PROBE_DOMID);
          await w.runner.one(w.job('hook', 'offline', vif, []));
        }
        const c = readFileSync(cFile, 'utf8').split('\n');
        report.push(`## strace -f -c, ${what} (exit ${r1.code}; ${r1.ms.toFixed(0)} ms under strace)`, '');
        report.push(...c.slice(0, 16).map((l) => `  ${l}`), '');
        const tl = timeline(tFile);
        report.push(`## processes started, ${what} (exit ${r2.code}; ${tl.length} execs, times under strace)`, '');
        report.push(...tl.map((l) => `  ${l}`), '');
      }
    } else report.push('(strace not installed: apt-get install strace for the syscall and process profiles)');
    writeFileSync(join(out, 'profile.md'), `${report.join('\n')}\n`);
    console.log(report.join('\n'));
  } finally {
    await w.destroy();
  }
}

main().catch(async (e: unknown) => {
  console.error(e);
  await destroyAllDom0s();
  process.exit(1);
});
