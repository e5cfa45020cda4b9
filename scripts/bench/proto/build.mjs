// Bundles a copy of src/ (patched by patch.py) the way scripts/build.mjs bundles src/, to
// another file, so that the bench can measure a proposed fix with --hook, dist/ untouched:
//   node scripts/bench/proto/build.mjs SRC_COPY OUTFILE
import { join, resolve } from 'node:path';
import { bundleHook } from '../../bundle.mjs';

const [srcDir, outfile] = process.argv.slice(2);
if (!srcDir || !outfile) {
  console.error('usage: node scripts/bench/proto/build.mjs SRC_COPY OUTFILE');
  process.exit(2);
}
await bundleHook({
  entry: join(resolve(srcDir), 'main.ts'),
  outfile,
  // The copy lives outside the repository: resolve execa & co. from the repository's node_modules.
  nodePaths: [new URL('../../../node_modules', import.meta.url).pathname],
});
