// Bundles src/ into one self-contained executable, dist/vif-firewall (no node_modules at run time).
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = new URL('../dist/vif-firewall', import.meta.url).pathname;

await build({
  entryPoints: [new URL('../src/main.ts', import.meta.url).pathname],
  outfile,
  bundle: true,
  platform: 'node',
  // Debian 12's dom0s run Node.js 18.19.
  target: 'node18.19',
  // CommonJS: the bundle is installed as an extensionless file with no package.json beside it.
  format: 'cjs',
  banner: { js: '#!/usr/bin/env node' },
  define: { VERSION: JSON.stringify(pkg.version) },
  legalComments: 'none',
  logLevel: 'warning',
});
await chmod(outfile, 0o755);
