import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { HookError } from '../errors.js';
import type { Family } from '../rules/model.js';
import { change, effects } from './effects.js';
import { tryRun } from './exec.js';

const SYSCTLS = ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables'] as const;
const path = (name: string) => `/proc/sys/net/bridge/${name}`;

/** The two sysctls as the kernel holds them, by family; undefined when br_netfilter is not loaded. */
export function readBrNetfilter(): Record<Family, string | undefined> {
  const read = (name: string): string | undefined => {
    try {
      return readFileSync(path(name), 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  return { 4: read(SYSCTLS[0]), 6: read(SYSCTLS[1]) };
}

/**
 * physdev rules only ever see bridged traffic when br_netfilter hands it to iptables;
 * without it every rule we install would silently do nothing. So load and enable it,
 * or refuse. Returns a warning for the log when it had to change something.
 */
export async function ensureBrNetfilter(): Promise<string | undefined> {
  const done: string[] = [];
  if (!existsSync(path(SYSCTLS[0]))) {
    await tryRun('modprobe', ['br_netfilter'], { changes: true });
    // A fresh br_netfilter has both sysctls at 1.
    if (effects().dryRun) return 'would load br_netfilter';
    if (!existsSync(path(SYSCTLS[0])))
      throw new HookError('br_netfilter is not loaded and `modprobe br_netfilter` did not load it: bridged traffic cannot be filtered');
    done.push('loaded br_netfilter');
  }
  for (const name of SYSCTLS) {
    if (readFileSync(path(name), 'utf8').trim() === '1') continue;
    await change(
      `set net.bridge.${name}=1`,
      () => {
        try {
          writeFileSync(path(name), '1');
        } catch (e) {
          throw new HookError(`net.bridge.${name} is 0 and cannot be set to 1 (${(e as Error).message}): bridged traffic would not be filtered`);
        }
      },
      undefined,
    );
    done.push(`set net.bridge.${name}=1`);
  }
  if (done.length === 0) return undefined;
  return `${done.join(', ')} so that bridged traffic reaches iptables (persist it in /etc/modules-load.d and /etc/sysctl.d)`;
}
