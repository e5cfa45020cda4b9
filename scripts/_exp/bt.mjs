import { bundleHook } from '../bundle.mjs';
await bundleHook({ entry: 'src/main.ts', outfile: '/tmp/vf-trace' });
