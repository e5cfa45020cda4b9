// Builds build/vif-firewall: a standalone Linux x86-64 executable (a Node.js single executable
// application) made from dist/vif-firewall, the same bundle that is installed as a script, with
// its V8 code cache. It needs no Node.js on the dom0. A build product: not committed.
//
//   node scripts/build-sea.mjs              (npm run build:sea) build it from dist/vif-firewall as it is
//   node scripts/build-sea.mjs --if-stale   only when build/vif-firewall is missing, or was made
//                                           from another bundle or another node binary
//
// How: node --experimental-sea-config writes the preparation blob (main = the bundle, which is
// CommonJS, as SEA requires; code cache on; no experimental warning), a copy of process.execPath
// (this node: its version is the one inside the executable) gets its symbols stripped when
// strip(1) is there, and postject injects the blob and flips the SEA fuse. The result must then
// answer --version as the bundle does before it replaces build/vif-firewall.
//
// Exit codes: 0 built (or up to date), 1 failed, 3 cannot be built in this environment (not Linux
// x86-64, a node without SEA support or linked to a shared libnode, postject not installed): the
// SEA test skips on 3 outside CI.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist', 'vif-firewall');
const outDir = join(root, 'build');
const out = join(outDir, 'vif-firewall');
const stampFile = join(outDir, 'vif-firewall.stamp.json');
const work = join(outDir, 'sea');

function fail(code, message) {
  console.error(`build:sea: ${message}`);
  process.exit(code);
}

const ifStale = process.argv.includes('--if-stale');
for (const a of process.argv.slice(2)) if (a !== '--if-stale') fail(2, `unknown argument ${a} (usage: node scripts/build-sea.mjs [--if-stale])`);

// The environment: what makes a standalone Linux x86-64 executable possible at all.
if (process.platform !== 'linux' || process.arch !== 'x64')
  fail(3, `builds a Linux x86-64 executable from this node, but this is ${process.platform}-${process.arch}`);
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 6)) fail(3, `needs Node.js >= 20.6 (useCodeCache), this is ${process.version}`);
if (process.config.variables.node_shared) fail(3, `${process.execPath} is linked to a shared libnode: a copy of it would not stand alone`);
if (process.config.variables.single_executable_application === false) fail(3, `${process.execPath} was built without SEA support`);
if (!readFileSync(process.execPath).includes(FUSE)) fail(3, `${process.execPath} has no SEA fuse (${FUSE})`);
let postject;
try {
  postject = createRequire(join(root, 'package.json')).resolve('postject/dist/cli.js');
} catch {
  fail(3, 'postject is not installed: run npm ci');
}
if (!existsSync(bundle)) fail(1, `${bundle} is missing: run npm run build first`);

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const code = readFileSync(bundle);
const stamp = {
  bundleSha256: createHash('sha256').update(code).digest('hex'),
  node: process.version,
  nodeBinary: process.execPath,
  nodeBinarySize: statSync(process.execPath).size,
};
if (ifStale && existsSync(out) && existsSync(stampFile)) {
  try {
    const old = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (Object.keys(stamp).every((k) => old[k] === stamp[k])) {
      console.log(`build:sea: ${out} is up to date`);
      process.exit(0);
    }
  } catch {
    /* rebuild */
  }
}

const t0 = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const blob = join(work, 'vif-firewall.blob');
const config = join(work, 'sea-config.json');
writeFileSync(
  config,
  `${JSON.stringify({ main: bundle, output: blob, useCodeCache: true, disableExperimentalSEAWarning: true }, null, 2)}\n`,
);

/** Runs a step quietly (postject's ELF library prints warnings about node's many notes); shows it all on failure. */
function step(what, cmd, args) {
  const r = spawnSync(cmd, args, { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0)
    fail(1, `${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}): ${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  return r.stdout;
}

step('writing the preparation blob', process.execPath, ['--experimental-sea-config', config]);
const exe = join(work, 'vif-firewall');
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
// Symbols and debug info are of no use on a dom0 (Debian's and NodeSource's node keep them: 12 MB).
if (spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) step('strip', 'strip', [exe]);
step('postject', process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE]);

// It must be the hook, not a plain node: the same answer as the bundle's.
const version = execFileSync(exe, ['--version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }).trim();
if (version !== `vif-firewall ${pkg.version}`) fail(1, `${exe} --version said ${JSON.stringify(version)}, expected "vif-firewall ${pkg.version}"`);

renameSync(exe, out);
writeFileSync(stampFile, `${JSON.stringify(stamp, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });
const mb = (statSync(out).size / 1e6).toFixed(1);
console.log(`build:sea: ${out}: ${mb} MB, Node.js ${process.version} with dist/vif-firewall and its code cache (${Date.now() - t0} ms)`);
