// Where does one hotplug call spend its time? Sets up one dom0 as the bench does (M guests
// with K rules already installed), then profiles one online and one offline (profileCall.ts):
// plain, under `node --cpu-prof`, `strace -f -c` and `strace -f -ttt -e trace=process`.
// Needs strace (apt-get install strace) for the last two; the bench itself does not.
//
//   sudo node scripts/run-ts.mjs scripts/bench/profile.ts [--backend nft] [--k 20] [--m 1] [--hook FILE] [--out DIR] [--reps 7] [--env K=V]
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { destroyAllDom0s } from '../../test/support/netns.js';
import { profileCalls } from './profileCall.js';
import { ROOT, type Backend } from './world.js';

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

process.on('SIGINT', () => void destroyAllDom0s().finally(() => process.exit(130)));

profileCalls({
  backend: a.backend as Backend,
  hook: resolve(a.hook ?? join(ROOT, 'dist/vif-firewall')),
  k: Number(a.k),
  m: Number(a.m),
  reps: Number(a.reps),
  out: resolve(a.out ?? join(ROOT, 'bench-results/profile')),
  env: a.env ?? [],
}).then(
  (report) => console.log(report.join('\n')),
  async (e: unknown) => {
    console.error(e);
    await destroyAllDom0s();
    process.exit(1);
  },
);
