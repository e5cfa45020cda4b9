// Where does one hotplug call spend its time? Used by `npm run bench` (its last section) and by
// scripts/bench/profile.ts. See profileCalls.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Bench, PROBE_DOMID, devOf } from './measure.js';
import { summarize } from './stats.js';
import { World, type Backend, type JobResult } from './world.js';

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

export interface ProfileOptions {
  readonly backend: Backend;
  readonly hook: string;
  readonly k: number;
  readonly m: number;
  readonly reps: number;
  /** Where the raw profiles go (emptied first). */
  readonly out: string;
  /** KEY=VALUE added to the hook's environment (e.g. a tracing switch of an instrumented build); its stderr is shown. */
  readonly env?: readonly string[];
}

/**
 * One online and one offline of a new guest where M guests of K rules are installed, profiled
 * three ways: plain (reps rounds), under `node --cpu-prof` (self time per bundled module), under
 * `strace -f -c` and `strace -f -ttt -e trace=process` (the processes started, with their times).
 * Returns the report as markdown lines. Needs strace for the last two.
 */
export async function profileCalls(o: ProfileOptions): Promise<string[]> {
  const { backend, hook, k, m, reps, out } = o;
  const extraEnv = Object.fromEntries((o.env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
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
    if (o.env?.length && last) {
      report.push(`## stderr of the last plain round, with ${o.env.join(' ')}`, '', '### online (' + last[0].ms.toFixed(1) + ' ms)', '```', last[0].stderr.trimEnd(), '```');
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
      report.push('```', ...mods.slice(0, 18).map((x) => `${x.ms.toFixed(1).padStart(7)} ms  ${x.module}`), '```', '');
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
        report.push('```', ...c.slice(0, 16), '```', '');
        const tl = timeline(tFile);
        report.push(`## processes started, ${what} (exit ${r2.code}; ${tl.length} execs, times under strace)`, '');
        report.push('```', ...tl, '```', '');
      }
    } else report.push('(strace not installed: apt-get install strace for the syscall and process profiles)');
    writeFileSync(join(out, 'profile.md'), `${report.join('\n')}\n`);
    return report;
  } finally {
    await w.destroy();
  }
}
