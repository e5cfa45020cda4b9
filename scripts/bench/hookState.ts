// What M earlier `online` calls of vif-firewall leave besides the iptables rules (which
// tables.ts learns from the kernel): the anti-spoofing chains in the nft bridge table, and
// one state record per device. Both grow with M, and the hook reads both, so a background
// of M guests without them would measure a host that cannot exist.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileAntispoof } from '../../src/compile/antispoof.js';
import { bridgeInstallTransaction, bridgeNewDevicesTransaction } from '../../src/compile/bridge.js';
import { unwrap } from '../../src/errors.js';
import { parseIfName } from '../../src/ifname.js';
import { antispoofSpec } from '../../src/read/antispoof.js';
import { readGuestRules } from '../../src/read/domainConfig.js';
import { DEFAULT_SETTINGS } from '../../src/read/settings.js';

export interface Guest {
  readonly domid: number;
  readonly dev: string;
  readonly name: string;
  readonly mac: string;
}

/**
 * One nft transaction installing every guest's checks, from the hook's own compiler with the
 * inputs online gives it (the guest's config, xenstore `mac`, the default level full);
 * equivalence() checks it against what sequential calls leave.
 */
export async function bridgeBulkScript(configFile: string, guests: readonly Guest[]): Promise<string> {
  const { ruleSet } = await readGuestRules(configFile, 0, DEFAULT_SETTINGS);
  const devices = guests.map((g) => ({ dev: unwrap(parseIfName(g.dev)), body: compileAntispoof(antispoofSpec('full', g.mac, undefined, 'bench'), ruleSet) }));
  const [first, ...rest] = devices;
  return first ? (bridgeInstallTransaction(first.dev, first.body) ?? '') + bridgeNewDevicesTransaction(rest) : '';
}

/** The record one online wrote, as a template for the others. */
export function learnRecord(stateDir: string, vif: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(stateDir, 'vifs', `${vif}.json`), 'utf8')) as Record<string, unknown>;
}

/** The template's record with each guest's identity. */
export function recordsFor(template: Record<string, unknown>, guests: readonly Guest[]): [file: string, text: string][] {
  return guests.map((g) => [
    `${g.dev}.json`,
    `${JSON.stringify({ ...template, vif: g.dev, dev: g.dev, domain: g.name, domid: g.domid, mac: g.mac }, null, 2)}\n`,
  ]);
}
