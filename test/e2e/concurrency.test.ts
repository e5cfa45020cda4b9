import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { compileVifChains } from '../../src/compile/chains.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { createHookWorld, type HookWorld } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';
import { prepareOfflineLikeLibxl } from '../support/xenstore.js';

const GUESTS = 30;
const configOf = (n: number) => `firewall = [ "allow in tcp ${1000 + n}", "allow in udp 53 from 192.0.2.${n + 1}, 2001:db8::${n + 1}", "drop out tcp 25", "log in" ]\n`;

afterEach(destroyAllDom0s);

const DISPATCH_CHAINS = ['VIF-FW-OUT', 'VIF-FW-IN', 'VIF-FW-PASS', 'VIF-FW-INPUT'];

/**
 * What the filter table must hold with these guests online, chain by chain: per-vif chains
 * in rule order, the shared dispatch chains as a multiset (their order depends on which
 * call took the lock first, and does not matter: each rule matches one device).
 */
function expectedChains(family: 4 | 6, domids: number[]): Map<string, string[]> {
  const chains = new Map<string, string[]>([
    ['VIF-FW', ['-j VIF-FW-OUT', '-j VIF-FW-IN', '-j VIF-FW-PASS']],
    ['VIF-FW-OUT', []],
    ['VIF-FW-IN', []],
    ['VIF-FW-PASS', []],
    ['VIF-FW-INPUT', []],
    // The guests have no ip=: nothing of theirs in dom0's own path.
    ['VIF-FW-OUTPUT', []],
  ]);
  for (const d of domids) {
    const dev = unwrap(parseIfName(`vif${d}.0`));
    const bodies = compileVifChains(guestRulesOf(configOf(d), 'x.cfg', 0).ruleSet, family, { dev, domain: `d${d}` });
    chains.set(`vif-fw-in-${dev}`, [...bodies.in]);
    chains.set(`vif-fw-out-${dev}`, [...bodies.out]);
    chains.get('VIF-FW-OUT')!.push(`-m physdev --physdev-in ${dev} -j vif-fw-out-${dev}`);
    chains.get('VIF-FW-IN')!.push(`-m physdev --physdev-out ${dev} --physdev-is-bridged -j vif-fw-in-${dev}`);
    chains.get('VIF-FW-PASS')!.push(`-m physdev --physdev-in ${dev} -j ACCEPT`, `-m physdev --physdev-out ${dev} --physdev-is-bridged -j ACCEPT`);
    chains.get('VIF-FW-INPUT')!.push(`-m physdev --physdev-in ${dev} -j vif-fw-out-${dev}`);
  }
  for (const c of DISPATCH_CHAINS) chains.get(c)!.sort();
  return chains;
}

async function actualChains(w: HookWorld, family: 4 | 6): Promise<{ chains: Map<string, string[]>; forwardJumps: number }> {
  const save = await w.dom0.iptablesSave(family);
  const chains = new Map<string, string[]>();
  for (const line of save.split('\n')) {
    const decl = /^:(\S+) /.exec(line);
    if (decl && /^(VIF-FW|vif-fw-)/.test(decl[1]!)) chains.set(decl[1]!, []);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule && chains.has(rule[1]!)) chains.get(rule[1]!)!.push(rule[2]!);
  }
  for (const c of DISPATCH_CHAINS) chains.get(c)?.sort();
  return { chains, forwardJumps: save.split('\n').filter((l) => l === '-A FORWARD -j VIF-FW').length };
}

describe.skipIf(!requireRoot('concurrency end-to-end test'))('many guests at once', () => {
  it(`brings ${GUESTS} vifs online concurrently, then offline concurrently, losing and duplicating nothing`, async () => {
    const w = await createHookWorld();
    const domids = Array.from({ length: GUESTS }, (_, i) => i + 1);
    // Bare veth pairs stand in for netback's vifs: only the dom0 end matters here.
    await w.dom0.exec('ip', ['-batch', '-'], {
      input: domids.map((d) => `link add vif${d}.0 type veth peer name p${d}`).join('\n') + '\n',
    });
    const vifs = domids.map((d) => {
      w.writeConfig(`d${d}`, configOf(d));
      return w.fillVif({ domid: d, devid: 0, name: `d${d}` });
    });
    const before = await w.tables();

    const up = await Promise.all(vifs.map((v) => w.online(v)));
    expect(up.filter((r) => r.exitCode !== 0).map((r) => r.stderr)).toEqual([]);
    for (const family of [4, 6] as const) {
      const actual = await actualChains(w, family);
      expect(actual.forwardJumps).toBe(1);
      expect(actual.chains).toEqual(expectedChains(family, domids));
    }
    for (const d of domids) expect((await w.dom0.link(`vif${d}.0`))?.master).toBe('xenbr0');
    // The calls that waited had their installs committed by the call at the lock: each one a call
    // there says it took, and every device recorded, whichever call committed it.
    const commits = [...w.log().matchAll(/ commit=(\S+) in /g)].map((m) => m[1]!);
    const taken = commits.reduce((n, c) => n + Number(/^with-(\d+)-queued$/.exec(c)?.[1] ?? 0), 0);
    expect(commits).toHaveLength(GUESTS);
    expect(taken).toBeGreaterThan(0);
    expect(commits.filter((c) => c === 'queued')).toHaveLength(taken);
    expect(readdirSync(join(w.stateDir, 'vifs')).sort()).toEqual(domids.map((d) => `vif${d}.0.json`).sort());
    expect(readdirSync(join(w.stateDir, 'queue'))).toEqual([]);

    for (const d of domids) prepareOfflineLikeLibxl(w.xs, d, 0);
    const down = await Promise.all(vifs.map((v) => w.offline(v)));
    expect(down.filter((r) => r.exitCode !== 0).map((r) => r.stderr)).toEqual([]);
    expect(await w.tables()).toBe(before);
  });
});
