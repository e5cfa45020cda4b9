import { type Result, fail, ok } from '../errors.js';
import type { Cidr, Family } from './model.js';

const BITS: Record<Family, number> = { 4: 32, 6: 128 };
const FAMILY_NAME: Record<Family, string> = { 4: 'IPv4', 6: 'IPv6' };

/**
 * An IPv4/IPv6 address or network, in the one canonical text iptables-save prints, so
 * that compiled rules compare equal to installed ones. A bare address is a /32 or /128.
 * Addresses are kept as byte arrays (4 or 16) so masking works the same for both families.
 */
export function parseCidr(text: string): Result<Cidr> {
  if (text === '') return fail('missing address');
  const zone = text.indexOf('%');
  // A zone names an interface of the host that wrote it; iptables has no way to match one.
  if (zone >= 0) return fail(`"${text}" has a zone id ("${text.slice(zone)}"), which a firewall address cannot have`);
  const [addressText, prefixText, ...extra] = text.split('/') as [string, string | undefined, ...string[]];
  if (extra.length > 0) return fail(`"${text}" is not an address or network: more than one "/"`);
  const family: Family = addressText.includes(':') ? 6 : 4;
  const bytes = family === 4 ? parseIPv4(addressText) : parseIPv6(addressText);
  if (!bytes.ok) return bytes;
  const prefix = parsePrefix(prefixText, family);
  if (!prefix.ok) return prefix;
  if (family === 6 && isIPv4Mapped(bytes.value, prefix.value)) {
    const v4 = formatIPv4(bytes.value.slice(12)) + (prefix.value === 128 ? '' : `/${prefix.value - 96}`);
    // The kernel never carries such a packet as IPv6, so the rule would silently match nothing.
    return fail(`"${text}" is an IPv4-mapped IPv6 address, which never appears in IPv6 traffic; write ${v4}`);
  }
  const network = maskHostBits(bytes.value, prefix.value);
  const address = family === 4 ? formatIPv4(network) : formatIPv6(network);
  if (network.some((b, i) => b !== bytes.value[i])) {
    return fail(`host bits set in ${text}, did you mean ${address}/${prefix.value}?`);
  }
  return ok({ family, address, prefix: prefix.value });
}

function parsePrefix(text: string | undefined, family: Family): Result<number> {
  const max = BITS[family];
  if (text === undefined) return ok(max);
  if (!/^\d+$/.test(text)) return fail(`"/${text}" is not a prefix length: expected /0 to /${max}`);
  const n = Number(text);
  if (n > max) return fail(`prefix /${text} out of range 0-${max} for ${FAMILY_NAME[family]}`);
  return ok(n);
}

function parseIPv4(text: string): Result<number[]> {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return fail(`"${text}" is not an IPv4 or IPv6 address`);
  }
  // inet_aton reads 010 as 8, other tools as 10: refuse to guess which the admin meant.
  if (parts.some((p) => p.length > 1 && p.startsWith('0'))) {
    return fail(`"${text}" has a leading zero, which some tools read as octal; write ${parts.map(Number).join('.')}`);
  }
  return ok(parts.map(Number));
}

/** RFC 4291 2.2 text forms: eight groups, at most one `::`, optionally a dotted IPv4 tail. */
function parseIPv6(text: string): Result<number[]> {
  const invalid = fail<number[]>(`"${text}" is not a valid IPv6 address`);
  const halves = text.split('::');
  if (halves.length > 2) return invalid;
  const words: number[][] = [];
  for (const [i, half] of halves.entries()) {
    const w = parseGroups(half, i === halves.length - 1);
    if (!w) return invalid;
    words.push(w);
  }
  const [head, tail] = words as [number[], number[] | undefined];
  if (tail === undefined) return head.length === 8 ? ok(bytesOfWords(head)) : invalid;
  // `::` stands for at least one zero group.
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return invalid;
  return ok(bytesOfWords([...head, ...new Array<number>(missing).fill(0), ...tail]));
}

/** The 16-bit words of colon-separated groups; only the address's last group may be dotted IPv4. */
function parseGroups(text: string, isLast: boolean): number[] | undefined {
  if (text === '') return [];
  const groups = text.split(':');
  const words: number[] = [];
  for (const [i, group] of groups.entries()) {
    if (/^[0-9a-f]{1,4}$/i.test(group)) {
      words.push(parseInt(group, 16));
    } else if (isLast && i === groups.length - 1 && group.includes('.')) {
      const v4 = parseIPv4(group);
      if (!v4.ok) return undefined;
      const [a, b, c, d] = v4.value as [number, number, number, number];
      words.push((a << 8) | b, (c << 8) | d);
    } else {
      return undefined;
    }
  }
  return words;
}

function bytesOfWords(words: readonly number[]): number[] {
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

/** ::ffff:0:0/96 (RFC 4291 2.5.5.2), whenever the prefix keeps the address inside it. */
function isIPv4Mapped(bytes: readonly number[], prefix: number): boolean {
  return prefix >= 96 && bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

function maskHostBits(bytes: readonly number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const kept = Math.min(8, Math.max(0, prefix - 8 * i));
    return b & (0xff << (8 - kept)) & 0xff;
  });
}

function formatIPv4(bytes: readonly number[]): string {
  return bytes.join('.');
}

/** RFC 5952: lower-case hex, no leading zeros, the first longest run of two or more zero groups as `::`. */
function formatIPv6(bytes: readonly number[]): string {
  const words = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = { start: 0, length: 0 };
  let run = { start: 0, length: 0 };
  for (const [i, w] of words.entries()) {
    run = w === 0 ? { start: run.length === 0 ? i : run.start, length: run.length + 1 } : { start: i + 1, length: 0 };
    if (run.length > best.length) best = run;
  }
  const hex = words.map((w) => w.toString(16));
  if (best.length < 2) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}
