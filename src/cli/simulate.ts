import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { AntispoofSpec } from '../compile/antispoof.js';
import { type Packet, type Verdict, verdictOf } from '../compile/verdict.js';
import { antispoofSpec } from '../read/antispoof.js';
import { locateTarget, readGuestRules, requireVif } from '../read/domainConfig.js';
import { readSettings } from '../read/settings.js';
import { describeOrigin, originData } from '../report/origin.js';
import { icmpTypeCode } from '../rules/cover.js';
import type { Flow } from '../rules/evaluate.js';
import { type IcmpProto, icmpType } from '../rules/icmp.js';
import type { Direction, Family, RuleSet } from '../rules/model.js';
import { parsePort } from '../rules/port.js';
import { type Command, EXIT, UsageError } from './command.js';

const USAGE_LINE = 'simulate <domain | config-file> [--vif N] [--json] in|out <proto> [port | icmp-type] [from ADDR] [to ADDR] [sport P]';

export const simulateCommand: Command = {
  name: 'simulate',
  summary: `${USAGE_LINE}: what the vif's firewall does with a new packet, and which rule decides`,
  help: `usage: vif-firewall ${USAGE_LINE}

Reads the domain's rules as online would (host defaults, groups, firewall_vifN or firewall)
and says what the firewall of vif N (default 0) does with the first packet of a connection:
allow, drop or reject, and what decided it: a rule (with the file and line it came from, and
the groups it came through), the policy, the anti-spoofing checks of what the guest sends, or
"passes: built-in" for what every vif lets through (DHCP as a client, IPv6 neighbour
discovery). Needs no root and changes nothing.

  in | out     to the guest | from the guest
  proto        tcp, udp, icmp, icmpv6, or another protocol by name (/etc/protocols) or number
  port         tcp/udp: the destination port; icmp/icmpv6: the type (echo-request, 8)
  from ADDR    the packet's source address
  to ADDR      the packet's destination address
  sport P      tcp/udp: the source port
  --vif N      the vif's index in the vif list (its devid)
  --json       the same as data

The address family is that of the addresses given, else of the protocol (icmp: IPv4, icmpv6:
IPv6); when neither says, both families are simulated. An address not given is one no rule
names: only rules without addresses on its side match it (and a source not given passes the
anti-spoofing checks, as the guest's own would). A port or type not given likewise.

exit: 0 simulated, 1 the config cannot be found or has an error, 2 bad usage`,
  booleans: ['json'],
  strings: ['vif'],
  async run(args) {
    const [target, ...words] = args._.map(String);
    if (!target) throw new UsageError('name a domain or config file, then the packet');
    const devid = args.vif === undefined ? 0 : Number(args.vif);
    if (!Number.isInteger(devid) || devid < 0) throw new UsageError(`--vif takes a vif index (0, 1, …), not "${args.vif}"`);
    const packet = parsePacket(words, readProtocols());
    const settings = await readSettings(process.env);
    const { file } = await locateTarget(target, settings.configDirs);
    const guest = await readGuestRules(file, devid, settings);
    if (args.vif !== undefined) requireVif(guest, devid, file);
    const level = guest.antispoof ?? settings.antispoof;
    // Without mac= the MAC checks cannot be judged, and a packet of ours is never about the MAC: a stand-in does.
    const antispoof = antispoofSpec(level, guest.mac ?? '00:16:3e:00:00:00', guest.ip, `${file}: vif ${devid}`);
    const results = simulate(guest.ruleSet, antispoof, packet);
    if (args.json) {
      const data = { file, key: guest.key ?? null, domain: guest.domain ?? null, devid, packet: packet.text, results: results.map(resultData) };
      process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [`${file}: vif ${devid} (${guest.key ?? 'no firewall key'}), ${packet.text}:`, ...results.map((r) => `  IPv${r.family}: ${verdictText(r.verdict)}`)];
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};

/** The packet of the command line: one Flow per family it could be. */
export interface PacketSpec {
  readonly flows: readonly Packet[];
  /** The words as given, for the output. */
  readonly text: string;
}

export interface Simulated {
  readonly family: Family;
  readonly verdict: Verdict;
}

/** Each family's verdict. */
export function simulate(ruleSet: RuleSet, antispoof: AntispoofSpec, packet: PacketSpec): Simulated[] {
  return packet.flows.map((flow) => ({ family: flow.family, verdict: verdictOf(ruleSet, antispoof, flow) }));
}

export function verdictText(v: Verdict): string {
  switch (v.by) {
    case 'built-in':
      return `passes: built-in (${v.why})`;
    case 'anti-spoofing':
      return `drop by anti-spoofing: ${v.why}`;
    case 'rule':
      return `${v.action} by ${describeOrigin(v.rule)}: "${v.rule.text}"`;
    case 'policy':
      return `${v.action} by the policy (no rule matches)`;
  }
}

function resultData(r: Simulated) {
  const v = r.verdict;
  const verdict = v.by === 'built-in' ? 'passes: built-in' : v.action;
  return {
    family: r.family,
    verdict,
    by: v.by,
    ...(v.by === 'rule' ? { rule: v.rule.text, origin: originData(v.rule) } : {}),
    ...(v.by === 'built-in' || v.by === 'anti-spoofing' ? { why: v.why } : {}),
    text: verdictText(v),
  };
}

const DIRECTIONS: readonly Direction[] = ['in', 'out'];

/** Protocol names of /etc/protocols (name and aliases → number); none when it cannot be read. */
function readProtocols(): ReadonlyMap<string, number> {
  let text = '';
  try {
    text = readFileSync('/etc/protocols', 'utf8');
  } catch {
    return new Map();
  }
  return protocolNames(text);
}

export function protocolNames(text: string): ReadonlyMap<string, number> {
  const names = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, number, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (name && number && /^\d+$/.test(number)) for (const n of [name, ...aliases]) names.set(n.toLowerCase(), Number(number));
  }
  return names;
}

/**
 * `in|out <proto> [port|type] [from ADDR] [to ADDR] [sport P]`.
 * @throws UsageError naming the word at fault.
 */
export function parsePacket(words: readonly string[], protocols: ReadonlyMap<string, number>): PacketSpec {
  const text = words.join(' ');
  const [direction, protoWord, ...rest] = words.map((w) => w.toLowerCase());
  if (!direction || !DIRECTIONS.includes(direction as Direction)) throw new UsageError(`expected in or out, then the packet, got "${direction ?? ''}"`);
  if (!protoWord) throw new UsageError(`expected a protocol after "${direction}": tcp, udp, icmp, icmpv6, or a name or number of /etc/protocols`);
  const proto = protoOf(protoWord, protocols);
  const flow: { -readonly [K in keyof Flow]: Flow[K] } = { direction: direction as Direction, family: 4, proto };
  let i = 0;
  if (rest[0] !== undefined && !['from', 'to', 'sport'].includes(rest[0])) {
    const arg = rest[i++]!;
    if (proto === 'tcp' || proto === 'udp') flow.dport = port(arg);
    else if (proto === 'icmp' || proto === 'icmpv6') flow.icmpType = icmpNumber(proto, arg);
    else throw new UsageError(`"${arg}": only tcp and udp take a port, icmp and icmpv6 a type`);
  }
  const families = new Set<Family>();
  while (i < rest.length) {
    const [clause, value] = [rest[i]!, rest[i + 1]];
    i += 2;
    if (value === undefined) throw new UsageError(`expected a value after "${clause}"`);
    if (clause === 'sport') {
      if (proto !== 'tcp' && proto !== 'udp') throw new UsageError('only tcp and udp packets have a source port');
      flow.sport = port(value);
    } else if (clause === 'from' || clause === 'to') {
      const family = isIP(value);
      if (family !== 4 && family !== 6) throw new UsageError(`"${value}" is not an IP address`);
      families.add(family);
      flow[clause === 'from' ? 'source' : 'destination'] = value;
    } else throw new UsageError(`unexpected "${clause}": expected from, to or sport`);
  }
  if (families.size > 1) throw new UsageError('from and to name addresses of different families');
  const byProto: readonly Family[] = proto === 'icmp' ? [4] : proto === 'icmpv6' ? [6] : [4, 6];
  const wanted = families.size ? [...families] : byProto;
  if (!wanted.some((f) => byProto.includes(f))) throw new UsageError(`${protoWord} has no IPv${wanted[0]} packets: use ${proto === 'icmp' ? 'icmpv6' : 'icmp'}`);
  return { text, flows: wanted.map((family) => ({ ...flow, family })) };
}

function protoOf(word: string, protocols: ReadonlyMap<string, number>): Flow['proto'] {
  if (word === 'tcp' || word === 'udp' || word === 'icmp' || word === 'icmpv6') return word;
  if (word === 'ipv6-icmp') return 'icmpv6';
  const number = /^\d+$/.test(word) ? Number(word) : protocols.get(word);
  if (number === undefined || number > 255) throw new UsageError(`unknown protocol "${word}": expected tcp, udp, icmp, icmpv6, or a name or number of /etc/protocols`);
  const known: Record<number, Flow['proto']> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmpv6' };
  return known[number] ?? 'other';
}

function port(text: string): number {
  const p = parsePort(text);
  if (!p.ok) throw new UsageError(p.error.message);
  return p.value;
}

function icmpNumber(proto: IcmpProto, text: string): number {
  const type = icmpType(proto, text);
  if (type === undefined) throw new UsageError(`unknown ${proto} type "${text}"`);
  return icmpTypeCode(proto, type).type;
}
