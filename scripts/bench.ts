// npm run bench — hotplug latency and scale of dist/vif-firewall, side by side with the
// per-rule bash references (scripts/baseline-vif.sh: minimal; scripts/baseline-same.sh: the same
// protection, with ip6tables and ebtables), on both iptables backends, in network
// namespaces of its own (test/support/netns.ts) that it removes at the end, on error and
// on Ctrl-C. Run as root. See docs/performance.md for a run and what it means.
//
//   sudo npm run bench                       full run (< 10 min on 2 cores)
//   sudo npm run bench -- --quick            fewer repetitions, M up to 100 (< 90 s)
//   options: --json FILE  --svg FILE  --md FILE  (default bench-results/bench.{json,md}, bench-results/online-vs-M.svg)
//            --hook FILE (default dist/vif-firewall)  --reps N  --m 1,100,1000  --k 5,20,50
//            --backends nft,legacy  --storms N  --storm-size N  --budget SECONDS
//            --from FILE.json: no measurement, only the tables and the chart again from a run's raw numbers
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyAllDom0s, isRoot } from '../test/support/netns.js';
import { Bench, type EquivalenceResult, type FloorResult, type StormResult } from './bench/measure.js';
import { profileCalls } from './bench/profileCall.js';
import { markdown, svgChart, targets, type BenchResults } from './bench/report.js';
import { ROOT, World, type Approach, type Backend } from './bench/world.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    svg: { type: 'string' },
    md: { type: 'string' },
    hook: { type: 'string' },
    reps: { type: 'string' },
    m: { type: 'string' },
    k: { type: 'string' },
    backends: { type: 'string' },
    storms: { type: 'string' },
    'storm-size': { type: 'string' },
    budget: { type: 'string' },
    from: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});

if (args.help) {
  const lines = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3)).join('\n'));
  process.exit(0);
}

const list = (text: string | undefined, dflt: number[]): number[] => (text ? text.split(',').map((x) => Number(x.trim())) : dflt);
const quick = args.quick!;
const opts = {
  quick,
  reps: Number(args.reps ?? (quick ? 5 : 15)),
  minReps: quick ? 3 : 6,
  /** Blocks per cell: baseline and vif-firewall rounds alternate block by block. */
  blocks: quick ? 1 : 3,
  floorReps: quick ? 5 : 15,
  ms: list(args.m, quick ? [1, 100] : [1, 100, 1000]),
  ks: list(args.k, [5, 20, 50]),
  backends: (args.backends ?? 'nft,legacy').split(',').map((b) => b.trim()) as Backend[],
  storms: Number(args.storms ?? (quick ? 1 : 3)),
  stormSize: Number(args['storm-size'] ?? 100),
  stormK: 20,
  /** --quick storms vif-firewall only: the baseline's storm is in the full run. */
  stormApproaches: (quick ? ['hook'] : ['baseline', 'same', 'hook']) as Approach[],
  /** Wall-clock budget of the whole run (s): cells that would start after it are skipped, and said so. */
  budgetS: Number(args.budget ?? (quick ? 80 : 540)),
  hook: resolve(args.hook ?? join(ROOT, 'dist/vif-firewall')),
  json: resolve(args.json ?? join(ROOT, 'bench-results/bench.json')),
  md: resolve(args.md ?? join(ROOT, 'bench-results/bench.md')),
  svg: resolve(args.svg ?? join(ROOT, 'bench-results/online-vs-M.svg')),
};
for (const b of opts.backends) if (b !== 'nft' && b !== 'legacy') throw new Error(`--backends: unknown backend ${b} (nft, legacy)`);
if ([...opts.ms, ...opts.ks, opts.reps, opts.stormSize].some((n) => !Number.isInteger(n) || n < 0)) throw new Error('--m, --k, --reps, --storm-size take whole numbers');

const APPROACHES = ['baseline', 'same', 'hook'] as const;
const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
const log = (msg: string) => process.stderr.write(`[bench ${elapsed().toFixed(0).padStart(3)} s] ${msg}\n`);

// ---------------------------------------------------------------------------------------
// Cleanup: every netns goes, also on Ctrl-C / SIGTERM (netns.ts handles a normal exit).

const worlds = new Set<World>();
let stopping = false;
async function cleanup(): Promise<void> {
  for (const w of worlds) w.runner.stop();
  await destroyAllDom0s();
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${sig}: removing the namespaces…\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

function hookInfo(): BenchResults['meta']['hook'] {
  const bytes = readFileSync(opts.hook);
  const srcNewest = newestMtime(join(ROOT, 'src'));
  const mtime = statSync(opts.hook).mtimeMs;
  return {
    path: relative(ROOT, opts.hook) || opts.hook,
    sha256: createHash('sha256').update(bytes).digest('hex').slice(0, 16),
    bytes: bytes.length,
    olderThanSrc: srcNewest > mtime,
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** --from: the markdown and the chart of an earlier run, from its JSON. */
function rerender(file: string): number {
  const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  results.targets = targets(results);
  write(results);
  return 0;
}

function write(results: BenchResults): void {
  const md = markdown(results);
  for (const file of [opts.json, opts.md, opts.svg]) mkdirSync(dirname(file), { recursive: true });
  if (!args.from || resolve(args.from) !== opts.json) writeFileSync(opts.json, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(opts.md, md);
  writeFileSync(opts.svg, svgChart(results));
  console.log(md);
  log(`wrote ${relative(process.cwd(), opts.json)}, ${relative(process.cwd(), opts.md)}, ${relative(process.cwd(), opts.svg)}`);
}

async function main(): Promise<number> {
  if (args.from) return rerender(args.from);
  if (!isRoot) {
    console.error('bench: needs root (network namespaces, iptables): sudo npm run bench');
    return 1;
  }
  if (!existsSync(opts.hook)) {
    console.error(`bench: ${opts.hook} does not exist: npm run build first`);
    return 1;
  }
  const hook = hookInfo();
  if (loadavg()[0]! > 0.5)
    log(`warning: load average ${loadavg()[0]!.toFixed(2)} before the run: something else is using the CPUs, the numbers will be noisy`);
  if (hook.olderThanSrc) log(`warning: ${hook.path} is older than src/: you are measuring the last build (npm run build)`);
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      kernel: release(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? '?',
      node: process.version,
      iptables: '',
      hook,
      options: { ...opts, json: undefined, md: undefined, svg: undefined, hook: undefined },
      preinstall:
        "one iptables-restore --noflush transaction per family, cloned from what one real call of the same approach installed (learnt from the kernel), verified rule for rule against the tables sequential calls leave; for vif-firewall also every guest's anti-spoofing chain in one nft transaction (from its own compiler, verified against the bridge table sequential calls leave) and its state record (cloned from the one the real call wrote); the same-protection reference's background guests have their iptables and ip6tables rules but not their ebtables chains (ebtables is not cloned: its calls run on a smaller bridge table than they would)",
      durationS: 0,
      loadBefore: loadavg()[0]!,
    },
    equivalence: [],
    tools: [],
    floors: [],
    cells: [],
    storms: [],
    skipped: [],
    targets: [],
    profile: [],
  };
  const deadline = t0 + opts.budgetS * 1000;
  const remainingMs = () => deadline - Date.now();
  // Storm durations: a guess until one has run, then the longest seen.
  const stormMs: Record<Approach, number> = { baseline: 8_000, same: 16_000, hook: 16_000 };
  let stormsLeft = opts.backends.length * opts.storms * opts.stormApproaches.length;
  const stormReserveMs = () =>
    (stormsLeft / Math.max(1, opts.stormApproaches.length)) * opts.stormApproaches.reduce((t, a) => t + stormMs[a], 0);

  for (const backend of opts.backends) {
    if (stopping) break;
    log(`${backend}: creating the dom0 netns`);
    const w = await World.create({ backend, hook: opts.hook });
    worlds.add(w);
    try {
      results.meta.iptables ||= (await w.runner.must({ cmd: 'iptables', args: ['--version'], env: w.env() })).stdout.trim().replace(/\s*\(.*\)$/, '');
      const bench = new Bench(w);
      results.tools.push(...(await bench.toolCosts(opts.quick ? 5 : 11)));
      for (const approach of APPROACHES) {
        const eq: EquivalenceResult = await bench.equivalence(approach, opts.ks[0] ?? 5);
        results.equivalence.push(eq);
        log(`${backend} ${approach}: bulk pre-install ${eq.ok ? 'reproduces' : 'DOES NOT reproduce'} sequential calls${eq.ok ? '' : `: ${eq.detail}`}`);
      }
      for (const m of opts.ms) {
        for (const k of opts.ks) {
          if (stopping) break;
          // What is left of the budget, less the storms still to come, is shared by the cells still to
          // run here and on the next backends. Short of time, a cell still runs its minimum rounds.
          const forCells = remainingMs() - stormReserveMs();
          if (forCells < 2_000) {
            results.skipped.push(`${backend} K=${k} M=${m}: out of time budget`);
            continue;
          }
          const capMs = Math.max(0, Math.min(opts.quick ? 12_000 : 50_000, forCells / Math.max(1, cellsRemaining(backend, m, k)) - (opts.quick ? 1_500 : 3_000)));
          const cells = { baseline: bench.newCell('baseline', k, m), same: bench.newCell('same', k, m), hook: bench.newCell('hook', k, m) };
          const floor: FloorResult = bench.newFloor(k, m);
          // The approaches take turns, block by block (ABC CBA…), so that all see the same machine.
          for (let block = 0; block < opts.blocks; block++) {
            const order: Approach[] = block % 2 === 0 ? [...APPROACHES] : [...APPROACHES].reverse();
            for (const approach of order) {
              const cell = cells[approach];
              if (cell.errors.length) continue;
              const reps = Math.ceil((opts.reps - cell.online.length) / (opts.blocks - block));
              await bench.phase(cell, {
                reps,
                minReps: Math.ceil(opts.minReps / opts.blocks),
                capMs: capMs / APPROACHES.length / opts.blocks,
                first: block === 0,
                ...(approach === 'hook' ? { floor: { acc: floor, reps: Math.ceil((opts.floorReps - floor.totalMs.length) / (opts.blocks - block)) } } : {}),
              });
            }
          }
          for (const approach of APPROACHES) {
            const cell = cells[approach];
            results.cells.push(cell);
            log(
              `${backend} ${approach.padEnd(8)} K=${String(k).padStart(2)} M=${String(m).padStart(4)}: online ${cell.onlineSummary.median.toFixed(1)} ms (p95 ${cell.onlineSummary.p95.toFixed(1)}), offline ${cell.offlineSummary.median.toFixed(1)} ms, n=${cell.online.length}` +
                `${cell.rssKiB.online.length ? `, RSS ${Math.max(...cell.rssKiB.online, ...cell.rssKiB.offline)} KiB` : ''}` +
                `${approach === 'hook' ? `, floor ${floor.total.median.toFixed(1)} ms` : ''}${cell.errors.length ? `, ERRORS: ${cell.errors.slice(0, 2).join('; ')}` : ''}`,
            );
          }
          results.floors.push(floor);
        }
      }
      // The storms last: the grid's cells share what the budget leaves once the storms are reserved.
      for (let run = 1; run <= opts.storms; run++) {
        for (const approach of opts.stormApproaches) {
          if (stopping) break;
          if (remainingMs() < 5_000) {
            results.skipped.push(`${backend} ${approach} storm ${run}: out of time budget`);
            stormsLeft--;
            continue;
          }
          const started = Date.now();
          const s: StormResult = await bench.storm(approach, opts.stormK, opts.stormSize, run);
          stormMs[approach] = Math.max(stormMs[approach], Date.now() - started);
          stormsLeft--;
          results.storms.push(s);
          log(
            `${backend} ${approach} storm ${run}: ${s.size} online in ${s.onlineWallMs.toFixed(0)} ms, offline in ${s.offlineWallMs.toFixed(0)} ms, ${s.correct && s.offlineClean ? 'correct' : `INCORRECT: ${s.problems.join('; ')}`}`,
          );
        }
      }
    } finally {
      await w.destroy();
      worlds.delete(w);
    }
  }
  // Where the time of one call goes: its processes and its main thread, after the grid (a few seconds).
  const profiled = opts.backends.includes('nft') ? 'nft' : opts.backends[0];
  if (profiled && !stopping) {
    log(`${profiled}: profiling one online and one offline (K = ${opts.stormK}, M = 1)`);
    results.profile = await profileCalls({ backend: profiled, hook: opts.hook, k: opts.stormK, m: 1, reps: 3, out: join(dirname(opts.json), 'profile') });
  }
  results.meta.durationS = Math.round(elapsed());
  results.targets = targets(results);
  write(results);
  // Measurements are reported, never judged here; a correctness check of the hook (or of the
  // bench's own pre-install) that failed is an error. A reference's failed storm is a finding
  // about the per-rule way (the report lists it), not a failure of the run.
  const broken =
    results.cells.some((c) => c.errors.length > 0) ||
    results.equivalence.some((e) => !e.ok) ||
    results.storms.some((s) => s.approach === 'hook' && (!s.correct || !s.offlineClean));
  return broken ? 1 : 0;
}

/** Cells (baseline + hook pairs) of the grid from this one on, this one included, weighted by cost. */
function cellsRemaining(backend: Backend, m: number, k: number): number {
  const order: string[] = [];
  for (const b of opts.backends) for (const mm of opts.ms) for (const kk of opts.ks) order.push(`${b}/${mm}/${kk}`);
  const i = order.indexOf(`${backend}/${m}/${k}`);
  // The cells with many guests cost more than the others: weigh them so that they are not starved.
  return order.slice(i).reduce((n, key) => n + (Number(key.split('/')[1]) >= 1000 ? 3 : 1), 0);
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    console.error(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    await cleanup();
    process.exit(1);
  });
