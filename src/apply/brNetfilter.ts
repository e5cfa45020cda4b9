import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { HookError } from '../errors.js';
import { tryRun } from './exec.js';

const SYSCTLS = ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables'] as const;
const path = (name: string) => `/proc/sys/net/bridge/${name}`;

/**
 * physdev rules only ever see bridged traffic when br_netfilter hands it to iptables;
 * without it every rule we install would silently do nothing. So load and enable it,
 * or refuse. Returns a warning for the log when it had to change something.
 */
export async function ensureBrNetfilter(): Promise<string | undefined> {
  let loaded = false;
  if (!existsSync(path(SYSCTLS[0]))) {
    await tryRun('modprobe', ['br_netfilter']);
    if (!existsSync(path(SYSCTLS[0])))
      throw new HookError('br_netfilter is not loaded and `modprobe br_netfilter` did not load it: bridged traffic cannot be filtered');
    loaded = true;
  }
  const enabled: string[] = [];
  for (const name of SYSCTLS) {
    if (readFileSync(path(name), 'utf8').trim() === '1') continue;
    try {
      writeFileSync(path(name), '1');
    } catch (e) {
      throw new HookError(`net.bridge.${name} is 0 and cannot be set to 1 (${(e as Error).message}): bridged traffic would not be filtered`);
    }
    enabled.push(`net.bridge.${name}=1`);
  }
  if (!loaded && enabled.length === 0) return undefined;
  return `${loaded ? 'loaded br_netfilter' : ''}${loaded && enabled.length ? ', ' : ''}${enabled.length ? `set ${enabled.join(', ')}` : ''} so that bridged traffic reaches iptables (persist it in /etc/modules-load.d and /etc/sysctl.d)`;
}
