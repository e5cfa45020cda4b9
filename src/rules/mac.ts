import { type Result, fail, ok } from '../errors.js';

declare const macBrand: unique symbol;
/** An Ethernet unicast address in lower case, `00:16:3e:00:00:02`; only parseMac makes one. */
export type Mac = string & { readonly [macBrand]: true };

/** A guest's MAC as xenstore `mac` (and the vif spec's `mac=`) holds it. */
export function parseMac(text: string): Result<Mac> {
  const mac = text.trim().toLowerCase();
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) return fail(`"${text}" is not a MAC address (expected six hex pairs, 00:16:3e:12:34:56)`);
  // A guest's frames never carry a group address as their source.
  if (parseInt(mac.slice(0, 2), 16) & 1) return fail(`"${text}" is a multicast MAC address, which no guest can have`);
  return ok(mac as Mac);
}

/** The IPv6 link-local address a host forms from its MAC (modified EUI-64, RFC 4291 appendix A). */
export function eui64LinkLocal(mac: Mac): string {
  const b = mac.split(':').map((h) => parseInt(h, 16)) as [number, number, number, number, number, number];
  const group = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `fe80::${group(b[0] ^ 0x02, b[1])}:${group(b[2], 0xff)}:${group(0xfe, b[3])}:${group(b[4], b[5])}`;
}
