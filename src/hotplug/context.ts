import type { Invocation } from '../read/invocation.js';
import type { Settings } from '../read/settings.js';
import type { Locking } from '../apply/firewall.js';

/** What every step of one hotplug call may need: the call and the hook's settings. */
export interface CallContext {
  readonly invocation: Invocation;
  readonly settings: Settings;
  /** Warnings gathered on the way, logged with the call's outcome. */
  readonly warnings: string[];
  /** Process that ran us: xl during `xl create`. */
  readonly parentPid: number;
  /** Where device identities are read (/sys; see read/device.ts). */
  readonly sysfs: string;
}

export function locking(settings: Settings): Locking {
  return { stateDir: settings.stateDir, timeoutSeconds: settings.lockTimeoutSeconds };
}

/** vif-common.sh: a vifname= rename applies to the vif and, with -emu appended, to its emulated twin. */
export function wantedName(invocation: Invocation, vifname: string | undefined): string {
  if (!vifname) return invocation.vif;
  return invocation.typeIf === 'tap' ? `${vifname}-emu` : vifname;
}
