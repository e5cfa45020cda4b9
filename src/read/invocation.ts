import { HookError, unwrap } from '../errors.js';
import { parseIfName, type IfName } from '../ifname.js';
import { quote } from '../report/text.js';

export const HOTPLUG_COMMANDS = ['online', 'offline', 'add', 'remove'] as const;
type Command = (typeof HOTPLUG_COMMANDS)[number];

/** A hotplug call as given: checked only as far as usage goes (a bad device is reported like any failure). */
export interface Call {
  /** What libxl said: online/offline for a PV vif, add/remove for an emulated (tap) NIC. */
  readonly command: Command;
  readonly up: boolean;
  readonly typeIf: 'vif' | 'tap';
  /** The device name as given: $vif, $INTERFACE, or the admin's argument. */
  readonly given: string | undefined;
  /** Replayed by hand (`vif-firewall online vif2.0`) rather than called by libxl. */
  readonly manual: boolean;
  /** The backend directory in xenstore, where failures are reported; undefined when it cannot be told. */
  readonly xenbusPath: string | undefined;
}

/** One hotplug call with its device identified. */
export interface Invocation extends Call {
  /** libxl's name of the device: vifD.N, or vifD.N-emu for a tap. */
  readonly vif: IfName;
  readonly domid: number;
  readonly devid: number;
  readonly xenbusPath: string;
}

/**
 * libxl passes `online type_if=vif` and the device in the environment; an admin passes
 * the device name instead. Returns undefined for the calls vif-common.sh ignores:
 * online/offline of a tap and add/remove of a vif (libxl makes both for an HVM guest).
 * Throws only for bad usage.
 */
export function readCall(positional: readonly string[], env: NodeJS.ProcessEnv): Call | undefined {
  const [command, ...rest] = positional;
  if (!HOTPLUG_COMMANDS.includes(command as Command))
    throw new HookError(`unknown command "${command ?? ''}": expected one of ${HOTPLUG_COMMANDS.join(', ')}`);
  const cmd = command as Command;
  const assignments = new Map(rest.filter((a) => a.includes('=')).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
  const names = rest.filter((a) => !a.includes('='));
  if (names.length > 1) throw new HookError(`expected one device name, got ${names.join(' ')}`);
  const manualName = names[0];
  const typeIf = assignments.get('type_if') ?? env.type_if ?? (manualName?.endsWith('-emu') ? 'tap' : 'vif');
  if (typeIf !== 'vif' && typeIf !== 'tap') throw new HookError(`unknown interface type type_if=${typeIf}`);
  if (!manualName && (typeIf === 'vif') !== (cmd === 'online' || cmd === 'offline')) return undefined;
  const given = manualName ?? (typeIf === 'vif' ? env.vif : env.INTERFACE);
  const ids = idsFromName(given);
  if (!manualName && env.XENBUS_PATH) checkSameDevice(typeIf, given, env.XENBUS_PATH);
  const xenbusPath =
    typeIf === 'vif' && !manualName && env.XENBUS_PATH
      ? env.XENBUS_PATH
      : ids && `/local/domain/0/backend/vif/${ids.domid}/${ids.devid}`;
  return { command: cmd, up: cmd === 'online' || cmd === 'add', typeIf, given, manual: manualName !== undefined, xenbusPath };
}

/**
 * libxl names one device twice: vifD.N (vifD.N-emu for the tap) and backend/vif/D/N.
 * Names that disagree are not a call libxl makes, and acting on either would put one
 * domain's rules on another's device or report to the wrong domain, so neither is used.
 */
function checkSameDevice(typeIf: 'vif' | 'tap', given: string | undefined, xenbusPath: string): void {
  const fromPath = XENBUS_PATH.exec(xenbusPath);
  if (!fromPath) throw new HookError(`XENBUS_PATH ${quote(xenbusPath)} does not name a vif backend (backend/vif/DOMID/DEVID)`);
  const expected = `vif${Number(fromPath[1])}.${Number(fromPath[2])}${typeIf === 'tap' ? '-emu' : ''}`;
  if (given !== expected)
    throw new HookError(
      `${typeIf === 'vif' ? 'vif' : 'INTERFACE'}=${quote(given ?? '')} and XENBUS_PATH=${quote(xenbusPath)} name different devices (libxl passes ${expected} with this XENBUS_PATH)`,
    );
}

/** Names the device and its domain; a failure here is a hotplug failure (exit 1, reported to xenstore). */
export function identify(call: Call): Invocation {
  if (!call.given)
    throw new HookError(
      `${call.typeIf === 'vif' ? 'vif' : 'INTERFACE'} is not set: libxl sets it; by hand, name the device: vif-firewall ${call.command} vif2.0`,
    );
  const vif = unwrap(parseIfName(call.given));
  const fromPath = XENBUS_PATH.exec(call.xenbusPath ?? '');
  const ids = call.typeIf === 'vif' && !call.manual && fromPath ? { domid: Number(fromPath[1]), devid: Number(fromPath[2]) } : idsFromName(vif);
  if (!ids || !call.xenbusPath)
    throw new HookError(
      call.typeIf === 'vif' && !call.manual
        ? `XENBUS_PATH "${call.xenbusPath ?? ''}" does not name a vif backend (backend/vif/DOMID/DEVID)`
        : `cannot tell domain and device from "${vif}": name it as libxl does (vifDOMID.DEVID${call.typeIf === 'tap' ? '-emu' : ''})`,
    );
  return { ...call, vif, ...ids, xenbusPath: call.xenbusPath };
}

/** Relative to the backend domain's home, as libxl passes it, or absolute. */
const XENBUS_PATH = /^(?:\/local\/domain\/\d+\/)?backend\/vif\/(\d+)\/(\d+)$/;

function idsFromName(name: string | undefined): { domid: number; devid: number } | undefined {
  const m = /^vif(\d+)\.(\d+)(-emu)?$/.exec(name ?? '');
  return m ? { domid: Number(m[1]), devid: Number(m[2]) } : undefined;
}
