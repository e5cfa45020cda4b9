import type minimist from 'minimist';
import { offline } from '../hotplug/offline.js';
import { online } from '../hotplug/online.js';
import type { CallContext } from '../hotplug/context.js';
import { sysfsRoot } from '../read/device.js';
import { identify, readCall, type Call } from '../read/invocation.js';
import { DEFAULT_SETTINGS, readSettings, type Settings } from '../read/settings.js';
import { HookLog } from '../report/log.js';
import { oneLine } from '../report/text.js';
import { writeKeys } from '../xenstore.js';
import { type Command, EXIT, UsageError, describeError } from './command.js';

const HELP = (name: string) => `usage: vif-firewall ${name} [type_if=vif|tap] [DEVICE] [--dry-run] [--verbose]

As libxl calls it (the device in the environment: vif=vif2.0 XENBUS_PATH=backend/vif/2/0,
or INTERFACE=vif2.0-emu for type_if=tap), or replayed by hand with the device name:
  vif-firewall ${name} vif2.0        (domid and devid come from the name)

  online/add      read the domain config, install the device's chains, attach it to its
                  bridge, report hotplug-status connected
  offline/remove  detach it, remove everything online installed, forget its conntrack entries

options:
  --dry-run   touch nothing: print every xenstore read, every command and the restore text
  --verbose   print each step on stderr

exit: 0 done (or nothing to do), 1 failed (stderr, xenstore hotplug-error, log), 2 bad usage`;

export const hotplugCommands: Command[] = (['online', 'offline', 'add', 'remove'] as const).map((name) => ({
  name,
  summary:
    name === 'online' || name === 'add'
      ? `${name} [DEVICE]: install the device's firewall and attach it (libxl's call, or a replay)`
      : `${name} [DEVICE]: detach the device and remove its firewall`,
  help: HELP(name),
  booleans: ['dry-run'],
  run: (args) => runHotplug(name, args),
}));

async function runHotplug(name: string, args: minimist.ParsedArgs): Promise<number> {
  let call: Call | undefined;
  try {
    call = readCall([name, ...args._.map(String)], process.env);
  } catch (e) {
    throw new UsageError(oneLine(describeError(e)));
  }
  return call ? hotplug(call) : EXIT.ok;
}

/** The one exit path of a hotplug call: success or failure, one log line, and xenstore told as libxl expects. */
async function hotplug(call: Call): Promise<number> {
  const started = process.hrtime.bigint();
  const what = `${call.command} type_if=${call.typeIf} vif=${call.given ?? ''} XENBUS_PATH=${call.xenbusPath ?? ''}`;
  let settings: Settings = DEFAULT_SETTINGS;
  let log = new HookLog(settings.logFile, settings.syslog, what);
  const warnings: string[] = [];
  const ms = () => `${Number((process.hrtime.bigint() - started) / 1000000n)} ms`;
  try {
    settings = await readSettings(process.env);
    log = new HookLog(settings.logFile, settings.syslog, what);
    const invocation = identify(call);
    const ctx: CallContext = { invocation, settings, warnings, parentPid: process.ppid, sysfs: sysfsRoot(process.env) };
    let summary: string;
    if (invocation.up) {
      const o = await online(ctx);
      summary = `domain=${o.domain} dev=${o.dev} bridge=${o.bridge} config=${o.configFile} rules=${o.rules} commit=${o.commit.replaceAll(' ', '-')}`;
    } else {
      const o = await offline(ctx);
      summary = `domain=${o.domain ?? '?'} dev=${o.dev} device=${o.device}`;
    }
    for (const w of warnings) log.write('warning', w);
    log.write('info', `ok ${summary} in ${ms()}`);
    return EXIT.ok;
  } catch (e) {
    // Whatever the input held, the failure is one line that xenstore accepts, so libxl learns why.
    const message = oneLine(describeError(e));
    for (const w of warnings) log.write('warning', w);
    log.write('err', `failed in ${ms()}: ${message}`);
    process.stderr.write(`vif-firewall: ${message}\n`);
    if (call.xenbusPath)
      await writeKeys([
        [`${call.xenbusPath}/hotplug-error`, `vif-firewall: ${message}`],
        [`${call.xenbusPath}/hotplug-status`, 'error'],
      ]).catch((x: unknown) => log.write('err', `could not report the failure to xenstore: ${describeError(x)}`));
    return EXIT.failed;
  }
}
