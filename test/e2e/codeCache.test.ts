import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { HOOK } from '../support/hook.js';

/**
 * The bundle's V8 code cache (src/codeCache.ts), in a dir of its own through
 * VIF_FIREWALL_CODE_CACHE: whatever state the cache is in, the hook answers exactly as it does
 * with no cache at all. Needs no root.
 */

const root = mkdtempSync(join(tmpdir(), 'vfw-code-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const run = async (cacheDir: string, args: string[]) => {
  const r = await execa(HOOK, args, { reject: false, stdin: 'ignore', env: { VIF_FIREWALL_CODE_CACHE: cacheDir, VIF_FIREWALL_CONF: '/nonexistent/vif-firewall.conf' } });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
};
const CASES = [['--version'], ['check', 'test/fixtures/xl/george.cfg'], ['no-such-command'], ['online', 'vif9.0']];
const plain = Promise.all(CASES.map((args) => run('', args)));
let n = 0;
const freshDir = () => {
  const d = join(root, `c${n++}`);
  mkdirSync(d);
  return d;
};
const cacheFile = (dir: string) => {
  const files = readdirSync(dir);
  expect(files).toHaveLength(1);
  return join(dir, files[0]!);
};

describe('the code cache', () => {
  it('is written by the first run, used by the next, and changes no answer', async () => {
    const dir = freshDir();
    const expected = await plain;
    expect(expected[0]!.stdout).toMatch(/^vif-firewall \d/);
    expect(await run(dir, CASES[0]!)).toEqual(expected[0]);
    const file = cacheFile(dir);
    expect(readFileSync(file)[0]).toBe(0);
    const { ino } = statSync(file);
    expect(await run(dir, CASES[0]!)).toEqual(expected[0]);
    expect(statSync(file).ino, 'a cache that was used is not written again').toBe(ino);
    for (const [i, args] of CASES.entries()) expect(await run(dir, args), args.join(' ')).toEqual(expected[i]);
    // `online` is a hotplug path the --version run had not compiled: it wrote the cache again.
    expect(readFileSync(cacheFile(dir))[0]).toBe(1);
  });

  it('is rewritten when damaged, ignored when others may write it, and never needed', async () => {
    const expected = (await plain)[1];
    const dir = freshDir();
    await run(dir, CASES[1]!);
    const file = cacheFile(dir);
    writeFileSync(file, Buffer.concat([Buffer.of(3), Buffer.alloc(5000, 0x5a)]));
    expect(await run(dir, CASES[1]!)).toEqual(expected);
    expect(statSync(file).size).toBeGreaterThan(100_000);
    expect(readFileSync(file)[0]).toBe(0);

    writeFileSync(file, 'not a cache');
    chmodSync(file, 0o666);
    expect(await run(dir, CASES[1]!)).toEqual(expected);
    expect(statSync(file).mode & 0o777).toBe(0o644);

    expect(await run(join(root, 'missing'), CASES[1]!)).toEqual(expected);
    expect(readdirSync(root)).not.toContain('missing');
  });
});
