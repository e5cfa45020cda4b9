import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { holdLock, queueBehindLock, queued, startHook } from '../support/calls.js';
import { createHookWorld, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';
import type { FilledVif } from '../support/xenstore.js';

afterEach(destroyAllDom0s);

const config = (port: number) => `firewall = [ "allow in tcp ${port}", "allow in udp 53 from 192.0.2.9, 2001:db8::9", "drop out tcp 25" ]\n`;
const DOMIDS = [2, 3, 4];

const commits = (w: HookWorld) => Object.fromEntries([...w.log().matchAll(/ dev=(\S+) .* commit=(\S+) in /g)].map((m) => [m[1]!, m[2]!]));

/** Every rule of both families and the bridge table, sorted: what is installed, whatever order concurrent calls added it in. */
async function ruleSet(w: HookWorld): Promise<string[]> {
  return (await w.tables()).split('\n').filter((l) => !l.startsWith('#')).sort();
}

/** A world with one guest online (so that the others build on the records), and the devices of DOMIDS. */
async function world(): Promise<{ w: HookWorld; vifs: Map<number, FilledVif> }> {
  const w = await createHookWorld();
  await w.dom0.exec('ip', ['-batch', '-'], { input: [1, ...DOMIDS].map((d) => `link add vif${d}.0 type veth peer name p${d}\n`).join('') });
  w.writeConfig('d1', config(21));
  expect((await w.online(w.fillVif({ domid: 1, devid: 0, name: 'd1' }))).exitCode).toBe(0);
  const vifs = new Map<number, FilledVif>();
  for (const d of DOMIDS) {
    w.writeConfig(`d${d}`, config(20 + d));
    vifs.set(d, w.fillVif({ domid: d, devid: 0, name: `d${d}` }));
  }
  return { w, vifs };
}

/** What sequential calls install for the same guests (worked out once per list of guests). */
const sequential = new Map<string, string[]>();
async function sequentially(domids: readonly number[]): Promise<string[]> {
  const key = domids.join(' ');
  if (!sequential.has(key)) {
    const { w, vifs } = await world();
    for (const d of domids) expect((await w.online(vifs.get(d)!)).exitCode).toBe(0);
    sequential.set(key, await ruleSet(w));
  }
  return sequential.get(key)!;
}

describe.skipIf(!requireRoot('install queue end-to-end tests'))('installs queued behind the lock', () => {
  it('the call that gets the lock commits every queued install with its own, writes their records, and mends a broken bridge base chain in the same commit', async () => {
    const expected = await sequentially(DOMIDS);
    const { w, vifs } = await world();
    await w.dom0.exec('nft', ['flush', 'chain', 'bridge', 'vif-fw', 'prerouting']);
    const results = await queueBehindLock(w, vifs, DOMIDS);
    for (const [d, r] of results) expect(r.exitCode, `vif${d}.0: ${r.stderr}`).toBe(0);
    const how = Object.values(commits(w)).filter((c) => c !== 'alone');
    // One call took the two others': the first of any holder with a job of its own.
    expect(how.sort()).toEqual(['queued', 'queued', 'with-2-queued']);
    expect(await ruleSet(w)).toEqual(expected);
    expect(readdirSync(join(w.stateDir, 'vifs')).sort()).toEqual(['vif1.0.json', 'vif2.0.json', 'vif3.0.json', 'vif4.0.json']);
    expect(readdirSync(join(w.stateDir, 'queue'))).toEqual([]);
    const status = await w.run(['status']);
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
  }, 120_000);

  it('the job of a call that died waiting is dropped, not committed (libxl runs offline for that vif)', async () => {
    const expected = await sequentially([2, 3]);
    const { w, vifs } = await world();
    const results = await queueBehindLock(w, vifs, DOMIDS, async (calls, release) => {
      process.kill(calls.get(4)!.pid, 'SIGKILL');
      await calls.get(4)!.hook;
      await release();
    });
    expect(results.get(4)!.signal).toBe('SIGKILL');
    for (const d of [2, 3]) expect(results.get(d)!.exitCode, results.get(d)!.stderr).toBe(0);
    expect(Object.values(commits(w)).filter((c) => c !== 'alone').sort()).toEqual(['queued', 'with-1-queued']);
    expect(await ruleSet(w)).toEqual(expected);
    expect(readdirSync(join(w.stateDir, 'queue'))).toEqual([]);
  }, 120_000);

  it('a batch that fails in one layer is undone in the others, and each call installs alone', async () => {
    const expected = await sequentially(DOMIDS);
    const { w, vifs } = await world();
    // Left by someone else: the batch's ip6tables commit cannot create vif3.0's chain.
    await w.dom0.exec('ip6tables', ['-w', '-N', 'vif-fw-in-vif3.0']);
    const results = await queueBehindLock(w, vifs, DOMIDS);
    for (const [d, r] of results) expect(r.exitCode, `vif${d}.0: ${r.stderr}`).toBe(0);
    const stories = [...results.values()].map((r) => r.stderr);
    expect(stories.filter((s) => s.includes('the queued installs failed together and were undone'))).toHaveLength(1);
    expect(Object.values(commits(w))).toEqual(['alone', 'alone', 'alone', 'alone']);
    expect(await ruleSet(w)).toEqual(expected);
    expect(readdirSync(join(w.stateDir, 'queue'))).toEqual([]);
  }, 120_000);

  it('a queue directory others may write to is not used: every call installs alone', async () => {
    const expected = await sequentially(DOMIDS);
    const { w, vifs } = await world();
    // No call has queued yet (each found the lock free): made as someone else might have made it.
    mkdirSync(join(w.stateDir, 'queue'), { recursive: true });
    chmodSync(join(w.stateDir, 'queue'), 0o777);
    const { holder } = await holdLock(w);
    const calls = await Promise.all(DOMIDS.map((d) => startHook(w, 'online', vifs.get(d)!)));
    // Long enough for every call to have compiled and queued, had it been allowed to.
    await new Promise((r) => setTimeout(r, 2000));
    expect(queued(w, 'job')).toEqual([]);
    holder.kill('SIGKILL');
    await holder;
    for (const { hook } of calls) expect((await hook).exitCode).toBe(0);
    expect(Object.values(commits(w))).toEqual(['alone', 'alone', 'alone', 'alone']);
    expect(await ruleSet(w)).toEqual(expected);
  }, 120_000);
});
