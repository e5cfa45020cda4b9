import { type Result, fail, ok } from '../errors.js';
import type { Port, PortRange } from './model.js';

const PORT_MIN = 1;
const PORT_MAX = 65535;

/** Port 0 is excluded: it never appears on the wire, so a rule naming it is a mistake. */
export function parsePort(text: string): Result<Port> {
  if (text === '') return fail('missing port');
  if (!/^\d+$/.test(text)) return fail(`"${text}" is not a port: expected a number ${PORT_MIN}-${PORT_MAX}`);
  const n = Number(text);
  if (n < PORT_MIN || n > PORT_MAX) return fail(`port ${text} out of range ${PORT_MIN}-${PORT_MAX}`);
  return ok(n as Port);
}

/** `22` or `60000-61000`. */
export function parsePortRange(text: string): Result<PortRange> {
  const bounds = /^(\d+)-(\d+)$/.exec(text);
  if (!bounds) {
    // iptables writes ranges with ':'; point a user who knows that at our spelling.
    if (/[-:]/.test(text)) return fail(`"${text}" is not a port range: write it as 8000-8080`);
    const port = parsePort(text);
    return port.ok ? ok({ from: port.value, to: port.value }) : port;
  }
  const from = parsePort(bounds[1]!);
  if (!from.ok) return from;
  const to = parsePort(bounds[2]!);
  if (!to.ok) return to;
  if (from.value > to.value) return fail(`port range ${text} is backwards, did you mean ${to.value}-${from.value}?`);
  return ok({ from: from.value, to: to.value });
}

/** `80,443,8000-8080`, spaces after commas allowed; order is kept as written. */
export function parsePortList(text: string): Result<PortRange[]> {
  const ranges: PortRange[] = [];
  for (const entry of text.split(',')) {
    const range = parsePortRange(entry.trim());
    if (!range.ok) return range;
    ranges.push(range.value);
  }
  return ok(ranges);
}
