// Writes the Debian copyright file of the package to stdout (machine-readable format 1.0):
// vif-firewall itself, and every npm package that esbuild bundles into dist/vif-firewall,
// found the way the build finds them (the same entry point and options, with a metafile).
// Usage: node packaging/deb/copyright.mjs   (run by scripts/package-deb.sh)
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const { metafile } = await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node18.19',
  format: 'cjs',
  define: { VERSION: '"0"' },
  write: false,
  metafile: true,
  logLevel: 'error',
});
const names = new Set();
for (const input of Object.keys(metafile.inputs)) {
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) names.add(m[1]);
}

function holder(dir, meta) {
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  const text = file ? readFileSync(join(dir, file), 'utf8') : '';
  const line = text.split('\n').map((l) => l.trim()).find((l) => /^copyright\b/i.test(l) && !/copyright (notice|owner|holder|license)/i.test(l));
  if (line) return line.replace(/^copyright\s*(\(c\)|©)?\s*/i, '');
  const a = meta.author;
  return (typeof a === 'string' ? a : a ? `${a.name}${a.email ? ` <${a.email}>` : ''}` : '') || `the ${meta.name} authors`;
}

const LICENSES = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any purpose with or
without fee is hereby granted, provided that the above copyright notice and this
permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO
THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT
SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR
ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION
OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE
USE OR PERFORMANCE OF THIS SOFTWARE.`,
  'Apache-2.0': `Licensed under the Apache License, Version 2.0 (the "License"); you may not use this
file except in compliance with the License. Unless required by applicable law or agreed
to in writing, software distributed under the License is distributed on an "AS IS"
BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.

On Debian systems, the full text of the Apache License, Version 2.0 is in
/usr/share/common-licenses/Apache-2.0.`,
};

const used = new Set([pkg.license]);
const out = [
  `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vif-firewall
Comment: /usr/lib/vif-firewall/vif-firewall is one file, bundled by esbuild from vif-firewall's
 sources and from the npm packages listed below, which are part of it.

Files: *
Copyright: 2026 vif-firewall developers
License: ${pkg.license}`,
];
for (const name of [...names].sort()) {
  const dir = join(root, 'node_modules', name);
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (!LICENSES[meta.license]) throw new Error(`${name}: license ${meta.license} has no text here: add it to packaging/deb/copyright.mjs`);
  used.add(meta.license);
  out.push(`Files: node_modules/${name}/*
Copyright: ${holder(dir, meta)}
License: ${meta.license}
Comment: npm package ${name} ${meta.version}, bundled into /usr/lib/vif-firewall/vif-firewall`);
}
for (const id of [...used].sort()) {
  if (!LICENSES[id]) throw new Error(`license ${id} has no text here: add it to packaging/deb/copyright.mjs`);
  out.push(`License: ${id}\n${LICENSES[id].split('\n').map((l) => (l ? ` ${l}` : ' .')).join('\n')}`);
}
if (!existsSync(join(root, 'node_modules', 'execa'))) throw new Error('node_modules is missing: run npm ci');
process.stdout.write(`${out.join('\n\n')}\n`);
