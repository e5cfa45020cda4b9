// Several builds of the hook against each other (and the baseline), interleaved block by
// block on the same dom0 and tables, so that a busy machine slows them all alike. For
// measuring a change before it is made (build the variant with scripts/bundle.mjs):
//
//   sudo node scripts/run-ts.mjs scripts/bench/compare.ts NAME=FILE [NAME=FILE…]
//        [--backends nft,legacy] [--k 20] [--m 1,1000] [--reps 15] [--blocks 3] [--md FILE]
//        [--storms N [--storm-size 100]]   also N boot storms of each (K = 20), interleaved
//
// dist/vif-firewall is always included as "dist". Prints one markdown table.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyAllDom0s } from '../../test/support/netns.js';
import { loadavg } from 'node:os';
import { Bench, type CellResult, type StormResult } from './measure.js';
import { ROOT, World, type Backend } from './world.js';

const { values: a, positionals } = parseArgs({
  options: {
    backends: { type: 'string', default: 'nft' },
    k: { type: 'string', default: '20' },
    m: { type: 'string', default: '1,1000' },
    reps: { type: 'string', default: '15' },
    blocks: { type: 'string', default: '3' },
    md: { type: 'string' },
    storms: { type: 'string', default: '0' },
    'storm-size': { type: 'string', default: '100' },
  },
  allowPositionals: true,
});
const variants: { name: string; hook: string }[] = [{ name: 'dist', hook: join(ROOT, 'dist/vif-firewall') }];
for (const p of positionals) {
  const i = p.indexOf('=');
  if (i < 1) throw new Error(`expected NAME=FILE, got ${p}`);
  variants.push({ name: p.slice(0, i), hook: resolve(p.slice(i + 1)) });
}
const backends = a.backends!.split(',') as Backend[];
const ks = a.k!.split(',').map(Number);
const ms = a.m!.split(',').map(Number);
const reps = Number(a.reps);
const blocks = Number(a.blocks);
const storms = Number(a.storms);
const LOAD = loadavg();
const stormSize = Number(a['storm-size']);

process.on('SIGINT', () => void destroyAllDom0s().finally(() => process.exit(130)));

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const median = (xs: readonly number[]) => [...xs].sort((p, q) => p - q)[Math.floor((xs.length - 1) / 2)]!;

/** Boot storms of every variant and the baseline, in rotating order run after run. */
async function stormRows(bench: Bench, backend: Backend): Promise<string[]> {
  const who = [{ name: 'baseline', hook: undefined }, ...variants];
  const results = who.map(() => [] as StormResult[]);
  for (let run = 0; run < storms; run++)
    for (let j = 0; j < who.length; j++) {
      const i = (j + run) % who.length;
      const r = await bench.storm(i === 0 ? 'baseline' : 'hook', 20, stormSize, run, who[i]!.hook);
      results[i]!.push(r);
      process.stderr.write(`storm ${backend} ${who[i]!.name} run ${run}: online ${f(r.onlineWallMs)} ms, slowest ${f(r.onlineMaxCallMs)}, offline ${f(r.offlineWallMs)} ms${r.correct && r.offlineClean ? '' : ` WRONG: ${r.problems.join('; ')}`}\n`);
    }
  return who.map((v, i) => {
    const rs = results[i]!;
    const m = (x: (r: StormResult) => number) => f(median(rs.map(x)));
    return `| ${backend} | ${v.name} | ${rs.length} | ${m((r) => r.onlineWallMs)} | ${m((r) => r.onlineMaxCallMs)} | ${m((r) => r.offlineWallMs)} | ${rs.filter((r) => r.correct && r.offlineClean).length}/${rs.length} |`;
  });
}

async function main(): Promise<void> {
  const rows: string[] = [];
  const storm: string[] = [];
  rows.push(`| backend | K | M | ${['baseline', ...variants.map((v) => v.name)].map((n) => `${n} online`).join(' | ')} | ${variants.map((v) => `${v.name} offline`).join(' | ')} | ${variants.map((v) => `${v.name} RSS`).join(' | ')} |`);
  rows.push(`|---|--:|--:|${Array(1 + variants.length * 3).fill('--:').join('|')}|`);
  for (const backend of backends) {
    const w = await World.create({ backend, hook: variants[0]!.hook });
    try {
      const bench = new Bench(w);
      for (const m of reps > 0 ? ms : [])
        for (const k of ks) {
          const base = bench.newCell('baseline', k, m);
          const cells = variants.map(() => bench.newCell('hook', k, m));
          for (let b = 0; b < blocks; b++) {
            // Rotate the order from block to block.
            const order = [-1, ...variants.keys()];
            for (let r = 0; r < b; r++) order.push(order.shift()!);
            for (const i of order) {
              const cell: CellResult = i < 0 ? base : cells[i]!;
              await bench.phase(cell, {
                reps: Math.ceil((reps - cell.online.length) / (blocks - b)),
                minReps: 1,
                capMs: 60_000,
                first: b === 0,
                ...(i >= 0 ? { hook: variants[i]!.hook } : {}),
              });
            }
          }
          for (const c of [base, ...cells]) if (c.errors.length) console.error(`${c.approach}: ${c.errors.join('; ')}`);
          const mp = (c: CellResult, x: 'onlineSummary' | 'offlineSummary') => `${f(c[x].median)} / ${f(c[x].p95)}`;
          const rss = (c: CellResult) => `${((Math.max(...c.rssKiB.online, ...c.rssKiB.offline) * 1024) / 1e6).toFixed(1)} MB`;
          rows.push(`| ${backend} | ${k} | ${m} | ${[base, ...cells].map((c) => mp(c, 'onlineSummary')).join(' | ')} | ${cells.map((c) => mp(c, 'offlineSummary')).join(' | ')} | ${cells.map(rss).join(' | ')} |`);
          process.stderr.write(`${rows[rows.length - 1]}\n`);
        }
      if (storms > 0) storm.push(...(await stormRows(bench, backend)));
    } finally {
      await w.destroy();
    }
  }
  const stormText = storm.length
    ? `\nBoot storms, ${stormSize} vifs online at once, K = 20 (ms, median over the runs):\n\n| backend | approach | runs | all online | slowest call | all offline | correct |\n|---|---|--:|--:|--:|--:|--:|\n${storm.join('\n')}\n`
    : '';
  const text = `${variants.map((v) => `- ${v.name}: ${v.hook}`).join('\n')}\n\nms, median / p95, ${reps} rounds in ${blocks} interleaved blocks; RSS: peak of the hook process. Load average at the start: ${LOAD.map((x) => x.toFixed(2)).join(' ')}.\n\n${rows.join('\n')}\n${stormText}`;
  console.log(text);
  if (a.md) writeFileSync(a.md, text);
}

main().catch(async (e: unknown) => {
  console.error(e);
  await destroyAllDom0s();
  process.exit(1);
});
