import { HookError, unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';

/** One hotplug call, as libxl makes it or as an admin replays it by hand. */
export interface Invocation {
  /** What libxl said: online/offline for a PV vif, add/remove for an emulated (tap) NIC. */
  readonly command: 'online' | 'offline' | 'add' | 'remove';
  readonly up: boolean;
  readonly typeIf: 'vif' | 'tap';
  /** libxl's name of the device: vifD.N, or vifD.N-emu for a tap. */
  readonly vif: IfName;
  readonly domid: number;
  readonly devid: number;
  /** The backend directory in xenstore, as given (relative to /local/domain/0) or derived. */
  readonly xenbusPath: string;
  /** Replayed by hand (`vif-firewall online vif2.0`) rather than called by libxl. */
  readonly manual: boolean;
}

export const HOTPLUG_COMMANDS = ['online', 'offline', 'add', 'remove'] as const;

/**
 * libxl passes `online type_if=vif` and the device in the environment; an admin passes
 * the device name instead. Returns undefined for the calls vif-common.sh ignores:
 * online/offline of a tap and add/remove of a vif (libxl makes both for an HVM guest).
 */
export function readInvocation(positional: readonly string[], env: NodeJS.ProcessEnv): Invocation | undefined {
  const [command, ...rest] = positional;
  if (!HOTPLUG_COMMANDS.includes(command as Invocation['command']))
    throw new HookError(`unknown command "${command ?? ''}": expected one of ${HOTPLUG_COMMANDS.join(', ')}`);
  const cmd = command as Invocation['command'];
  const assignments = new Map(rest.filter((a) => a.includes('=')).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const names = rest.filter((a) => !a.includes('='));
  if (names.length > 1) throw new HookError(`expected one device name, got ${names.join(' ')}`);
  const manualName = names[0];
  const explicitType = assignments.get('type_if') ?? env.type_if;
  const typeIf = explicitType ?? (manualName?.endsWith('-emu') ? 'tap' : 'vif');
  if (typeIf !== 'vif' && typeIf !== 'tap') throw new HookError(`unknown interface type type_if=${typeIf}`);
  const up = cmd === 'online' || cmd === 'add';
  if (!manualName && (typeIf === 'vif') !== (cmd === 'online' || cmd === 'offline')) return undefined;

  const given = manualName ?? (typeIf === 'vif' ? env.vif : env.INTERFACE);
  if (!given)
    throw new HookError(
      `${typeIf === 'vif' ? 'vif' : 'INTERFACE'} is not set: libxl sets it; by hand, name the device: vif-firewall ${cmd} vif2.0`,
    );
  const vif = unwrap(parseIfName(given));
  const fromName = /^vif(\d+)\.(\d+)(-emu)?$/.exec(vif);
  const fromPath = /(?:^|\/)backend\/vif\/(\d+)\/(\d+)$/.exec(env.XENBUS_PATH ?? '');
  const ids = typeIf === 'vif' && !manualName && fromPath ? fromPath : fromName;
  if (!ids)
    throw new HookError(
      typeIf === 'vif' && !manualName
        ? `XENBUS_PATH "${env.XENBUS_PATH ?? ''}" does not name a vif backend (backend/vif/DOMID/DEVID)`
        : `cannot tell domain and device from "${vif}": name it as libxl does (vifDOMID.DEVID${typeIf === 'tap' ? '-emu' : ''})`,
    );
  const domid = Number(ids[1]);
  const devid = Number(ids[2]);
  const xenbusPath =
    typeIf === 'vif' && !manualName && env.XENBUS_PATH ? env.XENBUS_PATH : `/local/domain/0/backend/vif/${domid}/${devid}`;
  return { command: cmd, up, typeIf, vif, domid, devid, xenbusPath, manual: manualName !== undefined };
}
