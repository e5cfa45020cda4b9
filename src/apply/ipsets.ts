import { existsSync } from 'node:fs';
import { isOurIpset, refreshScript } from '../compile/ipsets.js';
import type { AddressSet } from '../rules/model.js';
import { narrate } from './effects.js';
import { run, tryRun } from './exec.js';
import type { Turn } from './firewall.js';

/**
 * The kernel sets behind named address sets (compile/ipsets.ts). Called under the hook's
 * lock, in the network namespace the hook runs in (ipsets, like the tables, are per namespace).
 */

/** Gives each set its members, in one `ipset restore`; a set no rule references yet is created. */
export async function refreshSets(sets: readonly AddressSet[]): Promise<void> {
  const script = refreshScript(sets);
  if (script) await run('ipset', ['restore'], { input: script, changes: true });
}

/**
 * Loads the sets a device's rules use while its turn holds the lock, so that no offline can
 * destroy one between its loading and the transaction that references it; gives the turn
 * back if that fails.
 */
export async function loadSetsFor(turn: Turn, sets: readonly AddressSet[]): Promise<Turn> {
  try {
    await refreshSets(sets);
    return turn;
  } catch (e) {
    await turn.release();
    throw e;
  }
}

/** Loaded by the kernel on the first set of any network namespace: without it there is no set to list. */
const IP_SET_MODULE = '/sys/module/ip_set';

/** Our sets in the kernel (`vfw4-admins`, …); none when ipset is not installed. */
export async function listOurSets(): Promise<string[]> {
  // Spares every offline of a host without sets a process.
  if (!existsSync(IP_SET_MODULE)) return [];
  const listed = await tryRun('ipset', ['list', '-n']).catch(() => undefined);
  return listed && listed.exitCode === 0 ? listed.stdout.split('\n').filter(isOurIpset) : [];
}

/**
 * Destroys our sets that no rule references any more, after the rules that used them are
 * gone. The kernel knows which are referenced and refuses to destroy those, so each is
 * simply tried. Never fails: a set left behind is harmless, and offline must finish.
 */
export async function removeUnusedSets(): Promise<void> {
  for (const name of await listOurSets()) {
    const r = await tryRun('ipset', ['destroy', name], { changes: true }).catch(() => undefined);
    if (r && r.exitCode !== 0) narrate(`set ${name} kept: ${r.stderr.trim()}`);
  }
}
