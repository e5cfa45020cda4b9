import { readFileSync } from 'node:fs';
import { type Result, fail, ok } from '../errors.js';
import type { Match, ProtocolNumber } from './model.js';

/**
 * IP protocols by name and number, from /etc/protocols (netbase): the same database iptables
 * reads to print `-p 112` back as `-p vrrp`, so the compiler spells each protocol exactly as
 * iptables-save will.
 */
export interface ProtocolTable {
  /** Lower-cased name or alias → number. */
  readonly byName: ReadonlyMap<string, number>;
  /** Number → its official name (the first column), as getprotobynumber gives it. */
  readonly nameOf: ReadonlyMap<number, string>;
}

export const PROTOCOLS_FILE = '/etc/protocols';

/** Reads lines of `name number [alias…] [# comment]`; anything else is skipped, as libc does. */
export function parseProtocolTable(text: string): ProtocolTable {
  const byName = new Map<string, number>();
  const nameOf = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const [name, numberText, ...aliases] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!name || !numberText || !/^\d+$/.test(numberText)) continue;
    const number = Number(numberText);
    if (number > PROTOCOL_MAX) continue;
    if (!nameOf.has(number)) nameOf.set(number, name);
    for (const n of [name, ...aliases]) if (!byName.has(n.toLowerCase())) byName.set(n.toLowerCase(), number);
  }
  return { byName, nameOf };
}

let system: ProtocolTable | undefined;

/** The host's table, read once; without the file only numbers are known (iptables then prints numbers too). */
export function systemProtocols(): ProtocolTable {
  if (!system) {
    let text = '';
    try {
      text = readFileSync(PROTOCOLS_FILE, 'utf8');
    } catch {
      // netbase not installed: names are unknown, numbers still work.
    }
    system = parseProtocolTable(text);
  }
  return system;
}

const PROTOCOL_MAX = 255;

/** The protocols with a kind of their own in the rule model (ports, ICMP types). */
const OWN_KIND: ReadonlyMap<number, Match> = new Map<number, Match>([
  [1, { proto: 'icmp' }],
  [6, { proto: 'tcp' }],
  [17, { proto: 'udp' }],
  [58, { proto: 'icmpv6' }],
  [132, { proto: 'sctp' }],
]);

/**
 * IPv6 extension headers, which ip6tables' `-p` skips to reach the protocol after them: a rule
 * for one would never match there (and 0 is iptables' "every protocol"). AH (51) is one too,
 * but has its own match (compile/chains.ts).
 */
const EXTENSION_HEADERS: ReadonlyMap<number, string> = new Map([
  [0, 'hop-by-hop options'],
  [43, 'routing'],
  [44, 'fragment'],
  [59, 'no next header'],
  [60, 'destination options'],
]);

export const AH: ProtocolNumber = 51 as ProtocolNumber;

/** The match for a protocol name or number, as `proto X` or a bare name writes it. */
export function protocolMatch(text: string, table: ProtocolTable = systemProtocols()): Result<Match> {
  const number = /^\d+$/.test(text) ? Number(text) : table.byName.get(text.toLowerCase());
  if (number === undefined) return fail(`unknown protocol "${text}" (not a number 1-255 nor a name in ${PROTOCOLS_FILE})`);
  if (number > PROTOCOL_MAX) return fail(`protocol ${text} out of range 1-${PROTOCOL_MAX}`);
  const header = EXTENSION_HEADERS.get(number);
  if (header !== undefined) {
    return fail(
      number === 0
        ? `protocol 0 is not a protocol a rule can match: for every protocol write "any"`
        : `protocol ${text} is the IPv6 ${header} header, which a firewall rule cannot match`,
    );
  }
  return ok(OWN_KIND.get(number) ?? { proto: 'other', number: number as ProtocolNumber });
}

/** How iptables-save prints `-p` for a protocol number. */
export function protocolText(number: ProtocolNumber, table: ProtocolTable = systemProtocols()): string {
  return table.nameOf.get(number) ?? String(number);
}
