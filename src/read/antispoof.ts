import { HookError, unwrap } from '../errors.js';
import type { AntispoofSpec } from '../compile/antispoof.js';
import { parseCidr } from '../rules/address.js';
import { parseMac } from '../rules/mac.js';
import { ANTISPOOF_LEVELS, type AntispoofLevel } from '../rules/model.js';
import { getString } from '../xlconfig/access.js';
import type { XlConfig } from '../xlconfig/model.js';

/** An anti-spoofing level key (`antispoof` in the settings, `firewall_antispoof` in a domain config), when set. */
export function antispoofLevelOf(cfg: XlConfig, key: string): AntispoofLevel | undefined {
  const v = unwrap(getString(cfg, key));
  if (!v) return undefined;
  const level = ANTISPOOF_LEVELS.find((l) => l === v.value.toLowerCase());
  if (!level) throw new HookError(`${key} must be one of ${ANTISPOOF_LEVELS.map((l) => `"${l}"`).join(', ')}, not "${v.value}"`, v.at);
  return level;
}

/** A vif spec without mac= gets one from xl at start: show and check stand this one in for it. */
export const MAC_STAND_IN = '00:16:3e:00:00:00';

/**
 * The device's identity as xenstore gives it (source names where it was read, for messages): `mac`, and `ip` (space-separated addresses or
 * networks, both families; absent = no IP anti-spoofing). Anything unreadable fails the call:
 * a guest is never bridged with checks we could not build.
 */
export function antispoofSpec(level: AntispoofLevel, mac: string | undefined, ip: string | undefined, source: string): AntispoofSpec {
  const where = (key: string, e: HookError) => new HookError(`${source}/${key}: ${e.message}`);
  if (mac === undefined) throw new HookError(`${source}/mac is not set: the anti-spoofing checks need the guest's MAC (or set firewall_antispoof = "off")`);
  const parsedMac = parseMac(mac);
  if (!parsedMac.ok) throw where('mac', parsedMac.error);
  const words = (ip ?? '').split(/\s+/).filter(Boolean);
  const cidrs = words.map((w) => {
    const c = parseCidr(w);
    if (!c.ok) throw where('ip', c.error);
    return c.value;
  });
  return { level, mac: parsedMac.value, ip: words.length ? cidrs : undefined };
}
