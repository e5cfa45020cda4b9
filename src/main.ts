import minimist from 'minimist';
import { HookError } from './errors.js';
import { offline } from './hotplug/offline.js';
import { online } from './hotplug/online.js';
import type { CallContext } from './hotplug/context.js';
import { identify, readCall, type Call } from './read/invocation.js';
import { DEFAULT_SETTINGS, readSettings, type Settings } from './read/settings.js';
import { HookLog } from './report/log.js';
import { writeKeys } from './xenstore.js';

declare const VERSION: string;

const USAGE = `usage: vif-firewall <online|offline|add|remove> [type_if=vif|tap] [DEVICE]

A Xen vif hotplug script: name it as the script= of a vif (or vif.default.script in
xl.conf) and libxl runs it as it runs vif-bridge. By hand, replay a call with the
device name: vif-firewall online vif2.0 / vif-firewall offline vif2.0.

options:
  --help       this text
  --version    print the version

exit codes: 0 done (or nothing to do), 1 failed (message on stderr, in xenstore
hotplug-error and in the log), 2 bad usage`;

/** Xen's scripts prepend their own PATH; libxl passes the caller's, which may lack sbin. */
function withSbinOnPath(env: NodeJS.ProcessEnv): void {
  env.PATH = [env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'].filter(Boolean).join(':');
}

async function main(argv: readonly string[]): Promise<number> {
  const args = minimist([...argv], { boolean: ['help', 'version'], string: ['_'] });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`vif-firewall ${VERSION}\n`);
    return 0;
  }
  withSbinOnPath(process.env);
  let call: Call | undefined;
  try {
    call = readCall(args._.map(String), process.env);
  } catch (e) {
    process.stderr.write(`vif-firewall: ${describe(e)}\n${USAGE}\n`);
    return 2;
  }
  if (!call) return 0;
  return hotplug(call);
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
    const ctx: CallContext = { invocation, settings, log, warnings, parentPid: process.ppid };
    let summary: string;
    if (invocation.up) {
      const o = await online(ctx);
      summary = `domain=${o.domain} dev=${o.dev} bridge=${o.bridge} config=${o.configFile} rules=${o.rules}`;
    } else {
      const o = await offline(ctx);
      summary = `domain=${o.domain ?? '?'} dev=${o.dev} device=${o.device}`;
    }
    for (const w of warnings) log.write('warning', w);
    log.write('info', `ok ${summary} in ${ms()}`);
    return 0;
  } catch (e) {
    const message = describe(e);
    for (const w of warnings) log.write('warning', w);
    log.write('err', `failed in ${ms()}: ${message}`);
    process.stderr.write(`vif-firewall: ${message}\n`);
    if (call.xenbusPath)
      await writeKeys([
        [`${call.xenbusPath}/hotplug-error`, `vif-firewall: ${message}`],
        [`${call.xenbusPath}/hotplug-status`, 'error'],
      ]).catch((x: unknown) => log.write('err', `could not report the failure to xenstore: ${describe(x)}`));
    return 1;
  }
}

function describe(e: unknown): string {
  if (e instanceof HookError) return e.describe();
  return e instanceof Error ? `internal error: ${e.stack ?? e.message}` : `internal error: ${String(e)}`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`vif-firewall: ${describe(e)}\n`);
    process.exitCode = 1;
  },
);
