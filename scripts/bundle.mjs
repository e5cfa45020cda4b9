// How the hook is bundled: one self-contained executable file, no node_modules at run time.
// Used by scripts/build.mjs (src/ → dist/vif-firewall), and to build a variant of src/ for
// scripts/bench/compare.ts to measure side by side.
//
// The file is: a shebang, the bundle of `entry` as the comment in a function PAYLOAD, and the bundle
// of src/codeCache.ts, which compiles and runs PAYLOAD with a V8 code cache (see there why).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';

const common = {
  bundle: true,
  platform: 'node',
  // Debian 12's dom0s run Node.js 18.19.
  target: 'node18.19',
  // CommonJS: the bundle is installed as an extensionless file with no package.json beside it.
  format: 'cjs',
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
};

// Work that execa 9.6 and its human-signals do when loaded, for things the hook may never use:
// process.stdin made at load (~2 ms: a stream, and the fs streams behind it) and two signal
// tables (~1.5 ms). Both become lazy here; what they give when used is the same. The build fails
// when the text is not found (another version): then look again rather than lose this silently.
const LAZY = [
  {
    file: /[\\/]execa[\\/]lib[\\/]utils[\\/]standard-stream\.js$/,
    edits: [
      [
        'export const STANDARD_STREAMS = [process.stdin, process.stdout, process.stderr];',
        `export const STANDARD_STREAMS = Object.defineProperties([, , ,], {
  0: { get: () => process.stdin }, 1: { get: () => process.stdout }, 2: { get: () => process.stderr } });`,
      ],
    ],
  },
  {
    file: /[\\/]human-signals[\\/]build[\\/]src[\\/]main\.js$/,
    // execa only reads signalsByName[name]; signalsByNumber it does not use.
    edits: [
      [
        'export const signalsByName=getSignalsByName();',
        'let byName; export const signalsByName = new Proxy({}, { get: (_, name) => (byName ??= getSignalsByName())[name] });',
      ],
      [
        'export const signalsByNumber=getSignalsByNumber();',
        'let byNumber; export const signalsByNumber = new Proxy({}, { get: (_, n) => (byNumber ??= getSignalsByNumber())[n] });',
      ],
    ],
  },
];
const lazyAtLoad = {
  name: 'lazy-at-load',
  setup(b) {
    const done = new Set();
    for (const l of LAZY)
      b.onLoad({ filter: l.file }, async ({ path }) => {
        let text = await readFile(path, 'utf8');
        for (const [from, to] of l.edits) {
          if (!text.includes(from)) throw new Error(`${path}: "${from}" not found`);
          text = text.replace(from, to);
        }
        done.add(l);
        return { contents: text, loader: 'js' };
      });
    b.onEnd((result) => {
      for (const l of LAZY) if (!done.has(l) && !result.errors.length) throw new Error(`no file matched ${l.file}`);
    });
  },
};

export async function bundleHook({ entry, outfile }) {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
  const app = await build({
    ...common,
    entryPoints: [entry],
    define: { VERSION: JSON.stringify(pkg.version) },
    plugins: [lazyAtLoad],
  });
  const payload = app.outputFiles[0].text;
  // PAYLOAD runs through vm.Script, which has no loader for import(): a bundle must not need one.
  if (/\bimport\s*\(/.test(payload)) throw new Error(`${entry}: the bundle has a dynamic import(), which the code-cache loader cannot run`);

  // In a comment, V8 only skips over the text (a string literal would cost ~1.5 ms more to scan
  // and copy); a `*/` in the bundle becomes `*\x01/` there, and codeCache.ts turns it back.
  if (payload.includes('\x01')) throw new Error(`${entry}: the bundle contains \\x01, which the PAYLOAD comment uses as its escape`);
  const head = '#!/usr/bin/env node\nfunction PAYLOAD() {/*\n';
  const comment = `${payload.replaceAll('*/', '*\x01/')}*/}\n`;
  const loader = await build({
    ...common,
    entryPoints: [new URL('../src/codeCache.ts', import.meta.url).pathname],
    define: {
      PAYLOAD_HASH: JSON.stringify(createHash('sha256').update(payload).digest('hex').slice(0, 16)),
      PAYLOAD_LINE: String(head.split('\n').length - 1),
    },
  });
  await writeFile(outfile, `${head}${comment}${loader.outputFiles[0].text}`);
  await chmod(outfile, 0o755);
}
