import type { Direction } from '../rules/model.js';
import type { IfName } from '../ifname.js';

/**
 * Every chain we create starts with VIF-FW (dispatch) or vif-fw- (per vif), so our
 * rules are recognisable, and no name ever contains the domain name (which may be long,
 * odd, or spelled like a builtin target). Longest per-vif name: "vif-fw-out-" + 15 = 26,
 * inside iptables' 28-character limit.
 */
export const TOP_CHAIN = 'VIF-FW';
/** Reached from TOP_CHAIN in this order: every guest's out rules, then every guest's in rules, then the accept of what both let through. */
export const DISPATCH = { out: 'VIF-FW-OUT', in: 'VIF-FW-IN', pass: 'VIF-FW-PASS' } as const;
/** Reached from INPUT: each guest's out rules for what it sends to dom0 itself (see transaction.ts). */
export const INPUT_CHAIN = 'VIF-FW-INPUT';
/** Reached from OUTPUT: each guest's in rules for what dom0 itself sends it (see transaction.ts). */
export const OUTPUT_CHAIN = 'VIF-FW-OUTPUT';
export const SKELETON_CHAINS = [TOP_CHAIN, DISPATCH.out, DISPATCH.in, DISPATCH.pass, INPUT_CHAIN, OUTPUT_CHAIN] as const;
/** The builtin chains we hook into, each with exactly one jump, at the top, to its chain of ours. */
export const HOOKS = { FORWARD: TOP_CHAIN, INPUT: INPUT_CHAIN, OUTPUT: OUTPUT_CHAIN } as const;
export type HookChain = keyof typeof HOOKS;
export const HOOK_CHAINS = Object.keys(HOOKS) as HookChain[];
/** TOP_CHAIN's rules. */
export const SKELETON_BODY = [DISPATCH.out, DISPATCH.in, DISPATCH.pass].map((c) => `-j ${c}`);

const VIF_CHAIN_PREFIX = 'vif-fw-';

export function vifChain(direction: Direction, dev: IfName): string {
  return `${VIF_CHAIN_PREFIX}${direction}-${dev}`;
}

/** The device a per-vif chain belongs to, or undefined when the chain is not a per-vif chain of ours. */
export function deviceOfVifChain(chain: string): { direction: Direction; dev: string } | undefined {
  const m = /^vif-fw-(in|out)-(.+)$/.exec(chain);
  return m ? { direction: m[1] as Direction, dev: m[2]! } : undefined;
}

export function isOurChain(chain: string): boolean {
  return chain.startsWith(VIF_CHAIN_PREFIX) || (SKELETON_CHAINS as readonly string[]).includes(chain);
}
