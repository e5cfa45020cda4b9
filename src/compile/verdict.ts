import { addressValue, cidrHolds } from '../rules/cover.js';
import { BUILT_IN } from '../rules/builtin.js';
import { type Flow, decision, matchTakes } from '../rules/evaluate.js';
import type { Action, Family, Rule, RuleSet } from '../rules/model.js';
import { type AntispoofSpec, ownSources, rogueBlocks } from './antispoof.js';

/** The first packet of a connection, as `simulate` takes it: a Flow of one family. */
export type Packet = Flow;

/** What one vif's firewall does with a new packet, and what decided it, in the order the kernel asks. */
export type Verdict =
  /** The nft bridge table's checks of what the guest sends (compile/antispoof.ts). */
  | { readonly action: 'drop'; readonly by: 'anti-spoofing'; readonly why: string }
  /** Traffic every chain lets through before the rules (rules/builtin.ts). */
  | { readonly action: 'allow'; readonly by: 'built-in'; readonly why: string }
  | { readonly action: Action; readonly by: 'rule'; readonly rule: Rule }
  | { readonly action: Action; readonly by: 'policy' };

/**
 * The verdict of the device's compiled firewall on the packet: the anti-spoofing checks (frames
 * from the guest), then the chain of its direction: built-in traffic, the rules in order, the
 * policy. A connection's later packets pass as ESTABLISHED once its first one did.
 */
export function verdictOf(ruleSet: RuleSet, antispoof: AntispoofSpec, packet: Packet): Verdict {
  const spoofed = packet.direction === 'out' ? spoofing(ruleSet, antispoof, packet) : undefined;
  if (spoofed) return { action: 'drop', by: 'anti-spoofing', why: spoofed };
  const builtIn = BUILT_IN.find((b) => b.family === packet.family && b.direction === packet.direction && matchTakes(b.match, packet));
  if (builtIn) return { action: 'allow', by: 'built-in', why: builtIn.what };
  const { action, rule } = decision(ruleSet, packet);
  return rule ? { action, by: 'rule', rule } : { action, by: 'policy' };
}

/** Why the bridge table drops what the guest sends, or undefined when it passes. An unknown source is the guest's own. */
function spoofing(ruleSet: RuleSet, spec: AntispoofSpec, packet: Packet): string | undefined {
  if (spec.level !== 'full') return undefined;
  const rogue = rogueBlocks(ruleSet).find((b) => b.family === packet.family && matchTakes(b.match, packet));
  if (rogue) return `the guest may not act as ${rogue.what} unless an "allow out" rule names the service`;
  const own = ownSources(spec);
  if (!own || packet.source === undefined || mayPrecedeAddress(packet)) return undefined;
  const source = addressValue(packet.source, packet.family)!;
  if (own[packet.family].some((c) => cidrHolds(c, packet.family, source))) return undefined;
  const listed = own[packet.family].map((c) => `${c.address}/${c.prefix}`).join(', ') || `no IPv${packet.family} address`;
  return `source ${packet.source} is not the guest's (ip= of the vif: ${listed})`;
}

/** What a host sends before it has an address: a DHCP request from 0.0.0.0, duplicate address detection and MLD from ::. */
function mayPrecedeAddress(packet: Packet): boolean {
  const unspecified: Record<Family, string> = { 4: '0.0.0.0', 6: '::' };
  if (addressValue(packet.source!, packet.family) !== addressValue(unspecified[packet.family], packet.family)) return false;
  if (packet.family === 4) return packet.proto === 'udp' && packet.sport === 68 && packet.dport === 67 && packet.destination === '255.255.255.255';
  return packet.proto === 'icmpv6' && packet.icmpType !== undefined && [135, 143, 131].includes(packet.icmpType);
}
