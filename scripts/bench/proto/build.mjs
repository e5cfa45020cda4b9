// Bundles a copy of src/ (patched by patch.py) the way scripts/build.mjs bundles src/, to
// another file, so that the bench can measure a proposed fix with --hook, dist/ untouched:
//   node scripts/bench/proto/build.mjs SRC_COPY OUTFILE
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const [srcDir, outfile] = process.argv.slice(2);
if (!srcDir || !outfile) {
  console.error('usage: node scripts/bench/proto/build.mjs SRC_COPY OUTFILE');
  process.exit(2);
}
const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'));
await build({
  entryPoints: [join(resolve(srcDir), 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node18.19',
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  define: { VERSION: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
  // The copy lives outside the repository: resolve execa & co. from the repository's node_modules.
  nodePaths: [new URL('../../../node_modules', import.meta.url).pathname],
});
await chmod(outfile, 0o755);
