import { BlockList } from 'node:net';
import type { Packet } from '../../src/compile/verdict.js';

/**
 * What iptables does with the first packet of a connection in one of our chain bodies, read
 * from the rule specs as iptables-save prints them — written apart from the compiler and from
 * rules/evaluate.ts, so that simulate's verdict can be checked against what is installed.
 * Throws on an option it does not know: the compiler has grown, and so must this.
 */
export type ChainVerdict = 'allow' | 'drop' | 'reject';

export function interpretChain(specs: readonly string[], p: Packet): ChainVerdict {
  for (const spec of specs) {
    const verdict = interpretRule(spec, p);
    if (verdict) return verdict;
  }
  throw new Error(`the chain ends without a verdict: ${specs.join(' | ')}`);
}

const PROTO_NAMES: Record<string, Packet['proto']> = { tcp: 'tcp', udp: 'udp', icmp: 'icmp', 'ipv6-icmp': 'icmpv6' };

/** The verdict of a terminal rule that matches; undefined when it does not match or does not end the chain (LOG). */
function interpretRule(spec: string, p: Packet): ChainVerdict | undefined {
  const words = spec.match(/"[^"]*"|\S+/g) ?? [];
  let matches = true;
  let target = '';
  // Every option's argument is read, whether or not an earlier one already failed to match.
  const and = (m: boolean) => (matches = matches && m);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const arg = () => words[++i]!;
    switch (w) {
      case '-m':
        arg(); // the module's options follow and are read below
        break;
      case '--ctstate':
        and(arg().split(',').includes('NEW'));
        break;
      case '-s':
        and(holds(arg(), p.source!, p.family));
        break;
      case '-d':
        and(holds(arg(), p.destination!, p.family));
        break;
      case '-p':
        and(PROTO_NAMES[arg()] === p.proto);
        break;
      case '--sport':
        and(inRange(arg(), p.sport));
        break;
      case '--dport':
        and(inRange(arg(), p.dport));
        break;
      case '--dports':
        and(arg().split(',').some((r) => inRange(r, p.dport)));
        break;
      case '--icmp-type':
      case '--icmpv6-type': {
        // A packet of ours carries code 0.
        const [type, code] = arg().split('/').map(Number);
        and(type === p.icmpType && (code === undefined || code === 0));
        break;
      }
      case '--limit':
      case '--limit-burst':
      case '--log-prefix':
      case '--reject-with':
        arg();
        break;
      case '-j':
        target = arg();
        break;
      default:
        throw new Error(`chain interpreter: unknown word "${w}" in "${spec}"`);
    }
  }
  if (!matches) return undefined;
  switch (target) {
    case 'RETURN':
      return 'allow';
    case 'DROP':
      return 'drop';
    case 'REJECT':
      return 'reject';
    case 'LOG':
      return undefined;
    default:
      throw new Error(`chain interpreter: unknown target "${target}" in "${spec}"`);
  }
}

function holds(cidr: string, address: string, family: 4 | 6): boolean {
  const [net, prefix] = cidr.split('/') as [string, string];
  const list = new BlockList();
  list.addSubnet(net, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function inRange(range: string, port: number | undefined): boolean {
  const [from, to = from] = range.split(':').map(Number) as [number, number?];
  return port !== undefined && from <= port && port <= to!;
}
