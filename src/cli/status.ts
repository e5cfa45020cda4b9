import { existsSync } from 'node:fs';
import { linkExists } from '../apply/bridgePort.js';
import { run } from '../apply/exec.js';
import { listRecords, type VifRecord } from '../apply/records.js';
import { compileFirewall } from '../compile/chains.js';
import { parseInstalled, vifChainRules, type CountedRule } from '../compile/installed.js';
import { vifChain } from '../compile/names.js';
import { describeError } from './command.js';
import { unwrap } from '../errors.js';
import { parseIfName } from '../ifname.js';
import { readGuestRules } from '../read/domainConfig.js';
import { readSettings, type Settings } from '../read/settings.js';
import type { Family } from '../rules/model.js';
import { type Command, EXIT } from './command.js';

type Chains = Record<'in' | 'out', CountedRule[]>;

export interface VifStatus {
  readonly dev: string;
  readonly record: VifRecord | undefined;
  /** ok: installed as the config says; drift: the config now compiles to other rules; orphan: chains of a device that is gone; unrecorded: chains of a live device that online did not record; config-error: the config no longer parses. */
  readonly state: 'ok' | 'drift' | 'orphan' | 'unrecorded' | 'config-error';
  readonly detail: string;
  readonly chains: Record<`ipv${Family}`, Chains>;
}

/** Every device of ours on this host: from the records and from the kernel, whichever knows it. */
export async function collectStatus(): Promise<VifStatus[]> {
  const settings = await readSettings(process.env);
  const [save4, save6] = await Promise.all([4, 6].map((f) => run(f === 4 ? 'iptables-save' : 'ip6tables-save', ['-c', '-t', 'filter'])));
  const saves = { 4: save4!.stdout, 6: save6!.stdout };
  const rules = { 4: vifChainRules(saves[4]), 6: vifChainRules(saves[6]) };
  const installedDevs = new Set([...parseInstalled(saves[4]).devices, ...parseInstalled(saves[6]).devices]);
  const records = await listRecords(settings.stateDir);
  const devs = [...new Set([...records.map((r) => r.dev as string), ...installedDevs])].sort();
  return Promise.all(
    devs.map(async (dev) => {
      const record = records.find((r) => r.dev === dev);
      const chainsOf = (f: Family): Chains => ({ in: rules[f].get(`vif-fw-in-${dev}`) ?? [], out: rules[f].get(`vif-fw-out-${dev}`) ?? [] });
      const chains = { ipv4: chainsOf(4), ipv6: chainsOf(6) };
      const [state, detail] = await judge(dev, record, installedDevs.has(dev), chains, settings);
      return { dev, record, state, detail, chains };
    }),
  );
}

async function judge(dev: string, record: VifRecord | undefined, installed: boolean, chains: VifStatus['chains'], settings: Settings): Promise<[VifStatus['state'], string]> {
  if (!linkExists(dev)) return ['orphan', `device ${dev} does not exist: vif-firewall sweep removes its ${installed ? 'chains' : 'record'}`];
  if (!record) return ['unrecorded', 'chains of a device online did not record: replay online for it, or sweep once it is gone'];
  if (!installed) return ['drift', `recorded but no chains installed: vif-firewall reload ${record.vif}`];
  if (!existsSync(record.configFile)) return ['config-error', `${record.configFile} is gone`];
  try {
    const guest = await readGuestRules(record.configFile, record.devid, settings);
    const wanted = compileFirewall(guest.ruleSet, { dev: unwrap(parseIfName(dev)), domain: record.domain });
    const same = ([4, 6] as const).every((f) =>
      (['in', 'out'] as const).every((d) => sameSpecs(wanted[f][d], chains[`ipv${f}`][d])),
    );
    return same ? ['ok', 'installed as the config says'] : ['drift', `${record.configFile} now compiles to other rules: vif-firewall reload ${record.vif}`];
  } catch (e) {
    return ['config-error', describeError(e)];
  }
}

function sameSpecs(wanted: readonly string[], held: readonly CountedRule[]): boolean {
  return wanted.length === held.length && wanted.every((s, i) => s === held[i]!.spec);
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'status [<domain | vif>] [--json]: managed vifs, rule counters, drift and orphans',
  help: `usage: vif-firewall status [<domain | vif>] [--json]

Every managed vif on this host (or those of one domain or device): domain, device, bridge,
config, when it was applied, and each rule with its packet and byte counters as the kernel
counts them. Flags drift (the config now compiles to other rules than those installed:
reload fixes it) and orphans (chains of ours whose device is gone: sweep removes them).

exit: 0 shown (whatever the states), 1 the tables cannot be read`,
  booleans: ['json'],
  async run(args) {
    const filter = args._[0] === undefined ? undefined : String(args._[0]);
    const all = await collectStatus();
    const shown = filter ? all.filter((s) => s.dev === filter || s.record?.vif === filter || s.record?.domain === filter) : all;
    if (args.json) {
      process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      return EXIT.ok;
    }
    if (shown.length === 0) process.stdout.write(filter ? `no managed vif matches "${filter}"\n` : 'no managed vifs\n');
    for (const s of shown) process.stdout.write(`${formatStatus(s)}\n`);
    return EXIT.ok;
  },
};

function formatStatus(s: VifStatus): string {
  const r = s.record;
  const head = r
    ? `${s.dev}  domain ${r.domain} (domid ${r.domid}, vif ${r.vif}) on ${r.bridge}, ${r.rules} rules from ${r.configFile}, applied ${r.appliedAt}; anti-spoofing ${r.antispoof} for ${r.mac}${r.ip.length ? ` and ${r.ip.join(' ')}` : ''}`
    : `${s.dev}  (no record)`;
  const lines = [head, `  ${s.state.toUpperCase()}: ${s.detail}`];
  for (const fam of ['ipv4', 'ipv6'] as const)
    for (const dir of ['in', 'out'] as const) {
      const rules = s.chains[fam][dir];
      if (rules.length === 0) continue;
      lines.push(`  ${vifChain(dir, s.dev as never)} (${fam === 'ipv4' ? 'IPv4' : 'IPv6'})    packets      bytes`);
      for (const c of rules) lines.push(`    ${String(c.packets).padStart(28)} ${String(c.bytes).padStart(10)}  ${c.spec}`);
    }
  return lines.join('\n');
}
