import { compileAntispoof, type AntispoofSpec } from './antispoof.js';
import { compileFirewall, type VifChainBodies, type VifContext } from './chains.js';
import type { Family, RuleSet } from '../rules/model.js';

/** One device's whole firewall: its iptables and ip6tables chains, and its anti-spoofing checks. */
export interface VifFirewall {
  readonly chains: Record<Family, VifChainBodies>;
  /** The body of its bridge chain (compile/antispoof.ts); empty: none. */
  readonly bridge: readonly string[];
}

/** What online installs and reload swaps in, from the same inputs. */
export function compileVifFirewall(ruleSet: RuleSet, antispoof: AntispoofSpec, ctx: VifContext): VifFirewall {
  return { chains: compileFirewall(ruleSet, ctx), bridge: compileAntispoof(antispoof, ruleSet) };
}
