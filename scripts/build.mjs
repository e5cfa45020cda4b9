// Bundles src/ into one self-contained executable, dist/vif-firewall.
import { bundleHook } from './bundle.mjs';

await bundleHook({
  entry: new URL('../src/main.ts', import.meta.url).pathname,
  outfile: new URL('../dist/vif-firewall', import.meta.url).pathname,
});
