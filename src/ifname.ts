import { type Result, fail, ok } from './errors.js';

declare const ifNameBrand: unique symbol;
/** A network interface name that is safe as a kernel name, an iptables chain suffix and a physdev match. */
export type IfName = string & { readonly [ifNameBrand]: true };

/** Linux allows 15 bytes (IFNAMSIZ - 1). */
export const IFNAMSIZ_MAX = 15;

/**
 * Stricter than the kernel on purpose: the name ends up unquoted in iptables-restore
 * input and in physdev matches, where a trailing '+' is a wildcard (vif2+ would match
 * every guest of domain 2), so only letters, digits, '.', '_' and '-' are accepted.
 */
export function parseIfName(text: string): Result<IfName> {
  if (text.length === 0) return fail('interface name is empty');
  if (text.length > IFNAMSIZ_MAX)
    return fail(`interface name "${text}" is longer than ${IFNAMSIZ_MAX} characters`);
  if (text === '.' || text === '..') return fail(`"${text}" is not a valid interface name`);
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*$/.test(text))
    return fail(
      `"${text}" is not a valid interface name: use letters, digits, '.', '_' and '-' (not first), at most ${IFNAMSIZ_MAX} characters`,
    );
  return ok(text as IfName);
}
