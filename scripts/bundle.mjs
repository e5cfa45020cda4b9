// How the hook is bundled: one self-contained executable file, no node_modules at run time.
// Used by scripts/build.mjs (src/ → dist/vif-firewall) and by the benchmark's prototypes.
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';

export async function bundleHook({ entry, outfile, nodePaths = [] }) {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
  await build({
    entryPoints: [entry],
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
    nodePaths,
  });
  await chmod(outfile, 0o755);
}
