import type { AddressSet, Cidr, Family, RuleSet } from '../rules/model.js';

/**
 * The kernel sets behind the named address sets: one ipset `hash:net` per family and name,
 * `vfw4-admins` and `vfw6-admins`, so that a set of thousands of networks costs each rule one
 * match, and its members change for every guest at once without a chain being rewritten.
 * Every set ever created has both halves (an empty half matches nothing), so a member of the
 * other family added later is matched by rules that are already installed.
 */

const PREFIX: Record<Family, string> = { 4: 'vfw4-', 6: 'vfw6-' };
/** The set being filled before the swap; a name of our own too, so a crash leaves nothing that clashes. */
const TEMP_PREFIX: Record<Family, string> = { 4: 'vfw4t-', 6: 'vfw6t-' };
const IPSET_FAMILY: Record<Family, string> = { 4: 'inet', 6: 'inet6' };
const FAMILIES: readonly Family[] = [4, 6];

/** ipset names are at most 31 characters; the longest prefix is 6. */
export const SET_NAME_MAX = 31 - TEMP_PREFIX[4].length;

export function ipsetName(family: Family, name: string): string {
  return `${PREFIX[family]}${name}`;
}

/** Whether an ipset (from `ipset list -n`) is one of ours: a set's half or a temporary left by a crash. */
export function isOurIpset(ipset: string): boolean {
  return /^vfw[46]t?-./.test(ipset);
}

/** The sets a rule set uses, each once. */
export function setsUsed(ruleSet: RuleSet): AddressSet[] {
  const byName = new Map<string, AddressSet>();
  for (const rule of ruleSet.rules) for (const set of [...(rule.fromSets ?? []), ...(rule.toSets ?? [])]) byName.set(set.name, set);
  return [...byName.values()];
}

/**
 * One `ipset restore` batch that gives each set exactly these members, atomically for the
 * rules that use it: a temporary set is filled and swapped in, so a packet meets either the
 * old members or the new, never a set half-filled, and a connection allowed by both goes on.
 * A set that does not exist yet is created (empty, then swapped: the same path either way).
 */
export function refreshScript(sets: readonly AddressSet[]): string {
  const lines: string[] = [];
  for (const set of sets) {
    for (const family of FAMILIES) {
      const [live, temp] = [ipsetName(family, set.name), `${TEMP_PREFIX[family]}${set.name}`];
      const create = (name: string) => `create ${name} hash:net family ${IPSET_FAMILY[family]} -exist`;
      lines.push(create(live), create(temp), `flush ${temp}`);
      for (const member of unique(set.members.filter((c) => c.family === family))) lines.push(`add ${temp} ${member} -exist`);
      lines.push(`swap ${temp} ${live}`, `destroy ${temp}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function unique(cidrs: readonly Cidr[]): string[] {
  return [...new Set(cidrs.map((c) => `${c.address}/${c.prefix}`))];
}
