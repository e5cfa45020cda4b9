import { build } from 'esbuild';
await build({ entryPoints: ['scripts/_exp/a.ts'], outfile: `/tmp/vf-execa.cjs`, bundle: true, platform: 'node', target: 'node18.19', format: 'cjs', logLevel: 'warning' });
