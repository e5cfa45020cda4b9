import { existsSync } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HookError, unwrap } from '../errors.js';
import { type RuleEnv, parseRuleSet, type RuleLine } from '../rules/parse.js';
import { DEFAULT_POLICY, type AntispoofLevel, type RuleSet } from '../rules/model.js';
import { antispoofLevelOf } from './antispoof.js';
import { readConfigText } from './configFile.js';
import { quote } from '../report/text.js';
import { getString, getStringList } from '../xlconfig/access.js';
import { parseXlConfig } from '../xlconfig/parse.js';
import { configFileFromXlArgv } from '../xlconfig/xlCommandLine.js';

/** The domain config a call uses, and how it was found (said by --dry-run, --verbose and show). */
export interface LocatedConfig {
  readonly file: string;
  readonly how: string;
}

/**
 * Where the guest's config is. During `xl create FILE` the hook is xl's child, and xl's
 * argv and cwd name exactly the file it parsed (libxl has stored nothing yet and drops
 * our keys anyway). Otherwise (network-attach, a replay) the domain's name finds it.
 * When nothing is found, the error lists every place that was tried.
 */
export async function locateDomainConfig(domain: string, configDirs: readonly string[], parentPid?: number): Promise<LocatedConfig> {
  const xl = parentPid === undefined ? undefined : await configOfXlParent(parentPid);
  if (xl?.exists) return { file: xl.file, how: `named by the command line of its parent, xl create (pid ${parentPid})` };
  if (!usableAsFileName(domain))
    throw new HookError(
      `no domain config for ${quote(domain)}: a name with '/' or a control character, or "." or "..", is never looked up in config_dirs`,
    );
  const candidates = configDirs.flatMap((dir) => [join(dir, `${domain}.cfg`), join(dir, domain)]);
  const found = candidates.find((f) => existsSync(f));
  if (found) return { file: found, how: `found by the domain's name ${quote(domain)} in config_dirs (${configDirs.join(', ')})` };
  const tried = [...(xl ? [`${xl.file} (named by xl create, pid ${parentPid}: gone)`] : []), ...candidates];
  throw new HookError(
    `no domain config for ${quote(domain)}: tried ${tried.join(', ')}${xl ? '' : ' (not run by xl create: the domain\'s name is looked up in config_dirs)'}`,
  );
}

/** A domain name names a file inside config_dirs only if it cannot lead out of them. */
function usableAsFileName(domain: string): boolean {
  return domain !== '.' && domain !== '..' && !/[/\x00-\x1f\x7f]/.test(domain);
}

/** The file on the command line of an `xl create` that is our parent, if it is one. */
async function configOfXlParent(pid: number): Promise<{ file: string; exists: boolean } | undefined> {
  try {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a, i, all) => a || i < all.length - 1);
    const file = configFileFromXlArgv(argv, await readlink(`/proc/${pid}/cwd`));
    return file === undefined ? undefined : { file, exists: existsSync(file) };
  } catch {
    return undefined;
  }
}

export interface GuestRules {
  readonly ruleSet: RuleSet;
  /** The config's `name`, when it has one. */
  readonly domain: string | undefined;
  /** How many vifs the config's `vif` list has. */
  readonly vifs: number;
  /** The `vifname=`, `mac=`, `ip=` and `bridge=` of vif N in the config's `vif` list, when set (`show` works from these; a hotplug call from xenstore). */
  readonly vifname: string | undefined;
  readonly mac: string | undefined;
  readonly ip: string | undefined;
  readonly bridge: string | undefined;
  /** The guest's `firewall_antispoof`, when set: it overrides the hook's `antispoof` setting. */
  readonly antispoof: AntispoofLevel | undefined;
  /** Which key the rules came from (`firewall_vif1`, `firewall`), or undefined for the defaults. */
  readonly key: string | undefined;
  /** That key's lines as written (none for the defaults). */
  readonly lines: readonly RuleLine[];
  readonly warnings: readonly string[];
}

/** The rules for one device: `firewall_vifN` replaces `firewall` for devid N. `env` has the named sets of vif-firewall.conf. */
export async function readGuestRules(file: string, devid: number, env: RuleEnv = {}): Promise<GuestRules> {
  let text: string;
  try {
    text = await readConfigText(file, 'domain config');
  } catch (e) {
    if (e instanceof HookError) throw e;
    throw new HookError(`cannot read domain config ${file}: ${(e as Error).message}`);
  }
  return guestRulesOf(text, file, devid, env);
}

export function guestRulesOf(text: string, file: string, devid: number, env: RuleEnv = {}): GuestRules {
  const cfg = unwrap(parseXlConfig(text, file));
  const domain = unwrap(getString(cfg, 'name'))?.value;
  const vifList = unwrap(getStringList(cfg, 'vif')) ?? [];
  const spec = vifSpecOf(vifList[devid]?.value ?? '');
  const vifs = vifList.length;
  const [vifname, mac, ip, bridge] = [spec.get('vifname'), spec.get('mac'), spec.get('ip'), spec.get('bridge')];
  const antispoof = antispoofLevelOf(cfg, 'firewall_antispoof');
  for (const key of [`firewall_vif${devid}`, 'firewall']) {
    const lines = unwrap(getStringList(cfg, key));
    if (lines) return { ruleSet: unwrap(parseRuleSet(lines, env)), domain, vifs, vifname, mac, ip, bridge, antispoof, key, lines, warnings: [] };
  }
  return {
    antispoof,
    ruleSet: { rules: [], policy: DEFAULT_POLICY, log: { in: false, out: false } },
    domain,
    vifs,
    vifname,
    mac,
    ip,
    bridge,
    key: undefined,
    lines: [],
    warnings: [`${file} has no firewall key: default policies apply (inbound dropped, outbound accepted)`],
  };
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
