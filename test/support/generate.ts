import { unwrap } from '../../src/errors.js';
import type { Packet } from '../../src/compile/verdict.js';
import { parseRuleSet } from '../../src/rules/parse.js';
import type { Family } from '../../src/rules/model.js';

/**
 * Random rule sets and packets for the agreement tests of `simulate`: seeded, so a failure
 * replays; drawn from small pools so rules and packets meet often.
 */

/** mulberry32: a tiny seeded PRNG. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const pick = <T>(rnd: () => number, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

/** The hosts on the test network of the e2e world (test/support/hook.ts `net`), and one that is not there. */
export const ADDRESSES: Record<Family, readonly string[]> = {
  4: ['192.0.2.1', '192.0.2.77', '203.0.113.9'],
  6: ['2001:db8::1', '2001:db8::77', '2001:db8:ff::9'],
};
const NETS = ['192.0.2.1', '192.0.2.0/24', '192.0.2.77', '203.0.113.0/24', '2001:db8::1', '2001:db8::/64', '2001:db8::77', '192.0.2.1, 2001:db8::1'];
export const PORTS = [22, 53, 80, 443, 1500, 8080];
const MATCHES = ['', 'tcp', 'tcp 22', 'tcp 80,443', 'tcp 1000-2000', 'udp', 'udp 53', 'udp 1500', 'icmp', 'icmp echo-request', 'icmpv6', 'icmpv6 echo-request', 'ssh', 'dns', 'ping', 'http'];

/** A valid rule set of n rules or fewer (combinations the parser refuses are drawn again), as rule lines. */
export function ruleLines(rnd: () => number, n: number): string[] {
  const lines: string[] = [];
  for (let tries = 0; lines.length < n && tries < n * 10; tries++) {
    const words = [pick(rnd, ['allow', 'allow', 'drop', 'reject']), pick(rnd, ['in', 'out']), pick(rnd, MATCHES)];
    if (rnd() < 0.4) words.push('from', pick(rnd, NETS));
    if (rnd() < 0.3) words.push('to', pick(rnd, NETS));
    const line = words.filter(Boolean).join(' ');
    if (parseRuleSet([{ value: line, at: { file: 'gen', line: 1, col: 1 } }]).ok) lines.push(line);
  }
  if (rnd() < 0.4) lines.push(`policy in ${pick(rnd, ['accept', 'reject'])}`);
  if (rnd() < 0.4) lines.push(`policy out ${pick(rnd, ['drop', 'reject'])}`);
  if (rnd() < 0.3) lines.push('log in');
  return lines;
}

/** Parsed as a guest's whole rule set. */
export const ruleSetOf = (lines: readonly string[]) => unwrap(parseRuleSet(lines.map((value, i) => ({ value, at: { file: 'gen.cfg', line: i + 1, col: 1 } }))));

/** What packet() may draw besides family, direction and protocol. */
export interface PacketPool {
  readonly remotes: Record<Family, readonly string[]>;
  readonly ports: readonly number[];
  /** undefined: the packet's source port is left unknown (a real client picks its own). */
  readonly sports?: readonly number[];
  readonly icmpTypes: Record<Family, readonly number[]>;
}

/** Every kind of packet the generated rules tell apart. */
export const ANY_PACKET: PacketPool = { remotes: ADDRESSES, ports: PORTS, sports: [40000, 53, 2000], icmpTypes: { 4: [8, 0, 13], 6: [128, 129, 135] } };

/** A new packet between the guest (guestAddress) and a remote of the pool. */
export function packet(rnd: () => number, guestAddress: Record<Family, string>, pool: PacketPool = ANY_PACKET): Packet {
  const family = pick(rnd, [4, 6] as const);
  const direction = pick(rnd, ['in', 'out'] as const);
  const proto = pick(rnd, ['tcp', 'tcp', 'udp', 'udp', family === 4 ? 'icmp' : 'icmpv6'] as const);
  const remote = pick(rnd, pool.remotes[family]);
  const [source, destination] = direction === 'in' ? [remote, guestAddress[family]] : [guestAddress[family], remote];
  const ports =
    proto === 'icmp' || proto === 'icmpv6'
      ? { icmpType: pick(rnd, pool.icmpTypes[family]) }
      : { dport: pick(rnd, pool.ports), ...(pool.sports ? { sport: pick(rnd, pool.sports) } : {}) };
  return { family, direction, proto, source, destination, ...ports };
}
