import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HookError, unwrap } from '../errors.js';
import { parseGuestRuleSet } from '../rules/groups.js';
import type { AntispoofLevel, RuleSet } from '../rules/model.js';
import { DEFAULT_SETTINGS, DEFAULT_SETTINGS_FILE, type Settings } from './settings.js';
import type { XlConfig } from '../xlconfig/model.js';
import { antispoofLevelOf } from './antispoof.js';
import { readConfigText } from './configFile.js';
import { quote } from '../report/text.js';
import { getString, getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { configFileFromXlArgv } from '../xlconfig/xlCommandLine.js';

/**
 * Where the guest's config is. During `xl create FILE` the hook is xl's child, and xl's
 * argv and cwd name exactly the file it parsed (libxl has stored nothing yet and drops
 * our keys anyway). Otherwise (network-attach, a replay) the domain's name finds it.
 */
export async function locateDomainConfig(domain: string, configDirs: readonly string[], parentPid?: number): Promise<string> {
  const fromXl = parentPid === undefined ? undefined : await configOfXlParent(parentPid);
  if (fromXl) return fromXl;
  if (!usableAsFileName(domain))
    throw new HookError(
      `no domain config for ${quote(domain)}: a name with '/' or a control character, or "." or "..", is never looked up in config_dirs`,
    );
  const candidates = configDirs.flatMap((dir) => [join(dir, `${domain}.cfg`), join(dir, domain)]);
  const found = candidates.find((f) => existsSync(f));
  if (!found) throw new HookError(`no domain config for "${domain}": looked for ${candidates.join(', ')}`);
  return found;
}

/** A domain name names a file inside config_dirs only if it cannot lead out of them. */
function usableAsFileName(domain: string): boolean {
  return domain !== '.' && domain !== '..' && !/[/\x00-\x1f\x7f]/.test(domain);
}

async function configOfXlParent(pid: number): Promise<string | undefined> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a, i, all) => a || i < all.length - 1);
    const file = configFileFromXlArgv(argv, await readlink(`/proc/${pid}/cwd`));
    return file && existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

export interface GuestRules {
  readonly ruleSet: RuleSet;
  /** The config's `name`, when it has one. */
  readonly domain: string | undefined;
  /** The `vifname=`, `mac=`, `ip=` and `bridge=` of vif N in the config's `vif` list, when set (`show` works from these; a hotplug call from xenstore). */
  readonly vifname: string | undefined;
  readonly mac: string | undefined;
  readonly ip: string | undefined;
  readonly bridge: string | undefined;
  /** The guest's `firewall_antispoof`, when set: it overrides the hook's `antispoof` setting. */
  readonly antispoof: AntispoofLevel | undefined;
  /** Which key the rules came from (`firewall_vif1`, `firewall`), or undefined for the defaults. */
  readonly key: string | undefined;
  readonly warnings: readonly string[];
}

/** The rules for one device: `firewall_vifN` replaces `firewall` for devid N. */
export async function readGuestRules(file: string, devid: number, settings: Settings): Promise<GuestRules> {
  let text: string;
  try {
    text = await readConfigText(file, 'domain config');
  } catch (e) {
    if (e instanceof HookError) throw e;
    throw new HookError(`cannot read domain config ${file}: ${(e as Error).message}`);
  }
  return guestRulesOf(text, file, devid, settings);
}

/** settings gives the groups a rule may use and the host's defaults, which go first unless the guest opts out. */
export function guestRulesOf(text: string, file: string, devid: number, settings: Settings = DEFAULT_SETTINGS): GuestRules {
  const cfg = unwrap(parseXlConfig(text, file));
  const domain = unwrap(getString(cfg, 'name'))?.value;
  const spec = vifSpecOf(unwrap(getStringList(cfg, 'vif'))?.[devid]?.value ?? '');
  const [vifname, mac, ip, bridge] = [spec.get('vifname'), spec.get('mac'), spec.get('ip'), spec.get('bridge')];
  const antispoof = antispoofLevelOf(cfg, 'firewall_antispoof');
  const key = [`firewall_vif${devid}`, 'firewall'].find((k) => cfg.settings.has(k));
  if (key) return { ruleSet: keyRuleSet(cfg, key, settings), domain, vifname, mac, ip, bridge, antispoof, key, warnings: [] };
  const ruleSet = keyRuleSet(cfg, undefined, settings);
  const defaults = ruleSet.rules.length > 0 ? "the host's firewall_default rules, then " : '';
  return {
    antispoof,
    ruleSet,
    domain,
    vifname,
    mac,
    ip,
    bridge,
    key: undefined,
    warnings: [`${file} has no firewall key: ${defaults}the default policies apply (inbound dropped, outbound accepted)`],
  };
}

/** The rule set of one firewall key of the config (none: the host's defaults alone), as online reads it. */
export function keyRuleSet(cfg: XlConfig, key: string | undefined, settings: Settings): RuleSet {
  const own = key === undefined ? [] : (unwrap(getStringList(cfg, key)) ?? []);
  return unwrap(parseGuestRuleSet(own, settings.shared, defaultsWanted(cfg), settings.file ?? DEFAULT_SETTINGS_FILE));
}

/** A guest's `firewall_default = "off"` keeps the host's defaults out of its rule set. */
function defaultsWanted(cfg: XlConfig): boolean {
  const v = unwrap(getString(cfg, 'firewall_default'));
  if (!v || v.value === 'on') return true;
  if (v.value === 'off') return false;
  throw new HookError(`firewall_default in a guest's config takes "off" (or "on"), not "${v.value}": the defaults themselves are set in the hook's settings`, v.at);
}

/** A vif spec of xl-network-configuration(5): `key=value` pairs separated by commas. */
function vifSpecOf(spec: string): Map<string, string> {
  return new Map(
    spec
      .split(',')
      .map((kv) => kv.trim())
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]),
  );
}
