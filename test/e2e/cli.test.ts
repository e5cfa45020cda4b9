import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { HOOK, createHookWorld, net } from '../support/hook.js';
import { destroyAllDom0s, requireRoot } from '../support/netns.js';

/**
 * The command line's conventions, on the built bundle: the help and version forms, "did you
 * mean", exit 2 for every usage error (nothing done, nothing read); and, in a dom0, which
 * domain config a call used and how it was found, and the versioned --json objects.
 */

const version: string = JSON.parse(readFileSync('package.json', 'utf8')).version;
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'vif-firewall-cli-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The bundle with nothing of libxl's environment, and settings that do not exist: a usage error must come before either matters. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const r = await execa(HOOK, args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VIF_FIREWALL_CONF: join(scratch, 'no-such-settings'), VIF_FIREWALL_CODE_CACHE: '', ...env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

describe('help and version', () => {
  it('-h, --help and help print the overview on stdout and exit 0', async () => {
    for (const form of [['-h'], ['--help'], ['help'], ['help', 'help'], ['help', '--help']]) {
      const r = await cli(form);
      expect(r.exitCode, form.join(' ')).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^usage: vif-firewall <command>/);
      for (const c of ['online', 'offline', 'show', 'status', 'reload', 'sweep', 'check', 'help', 'version']) expect(r.stdout).toContain(`  ${c}`);
    }
  });

  it('help COMMAND, COMMAND --help and COMMAND -h print that command\'s help', async () => {
    for (const form of [['help', 'show'], ['show', '--help'], ['show', '-h'], ['-h', 'show']]) {
      const r = await cli(form);
      expect(r.exitCode, form.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage: vif-firewall show /);
    }
  });

  it('-V, --version and version print the version', async () => {
    for (const form of [['-V'], ['--version'], ['version']]) {
      const r = await cli(form);
      expect(r.exitCode, form.join(' ')).toBe(0);
      expect(r.stdout).toBe(`vif-firewall ${version}`);
    }
  });

  it('no arguments: the overview on stderr, exit 2', async () => {
    const r = await cli([]);
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: vif-firewall <command>/);
  });
});

describe('usage errors: exit 2, one message, nothing done', () => {
  const cases: [string[], string][] = [
    [['stauts'], 'unknown command "stauts": did you mean "status"?'],
    [['relaod', '--all'], 'unknown command "relaod": did you mean "reload"?'],
    [['firewall'], 'unknown command "firewall"\n'],
    [['help', 'sweeep'], 'no command "sweeep": did you mean "sweep"?'],
    [['help', 'show', 'status'], 'help takes one command name'],
    [['help', '-x'], 'help takes a command name, not -x'],
    [['version', 'now'], 'version takes no arguments'],
    [['--verbose'], 'name a command'],
    [['online'], 'name the device: vif-firewall online vif2.0'],
    [['offline'], 'name the device: vif-firewall offline vif2.0'],
    [['online', 'vif1.0', 'vif2.0'], 'expected one device name'],
    [['online', 'type_if=eth', 'vif1.0'], 'unknown interface type type_if=eth'],
    [['online', 'vif1.0', '--dryrun'], 'unknown option --dryrun: did you mean --dry-run?'],
    [['show'], 'name one domain or config file'],
    [['show', 'web', 'db'], 'name one domain or config file, not web db'],
    [['show', 'web', '--vif'], '--vif needs a value'],
    [['show', 'web', '--vif', 'x'], '--vif takes a vif index (0, 1, …), not "x"'],
    [['show', 'web', '--vif', '1.5'], '--vif takes a vif index (0, 1, …), not "1.5"'],
    [['show', 'web', '--vif', '1', '--vif', '2'], '--vif given 2 times'],
    [['show', 'web', '--vfi', '1'], 'unknown option --vfi: did you mean --vif?'],
    [['show', 'web', '--jsno'], 'unknown option --jsno: did you mean --json?'],
    [['status', 'web', 'db'], 'name at most one domain or vif, not web db'],
    [['reload'], 'name one domain or vif, or give --all'],
    [['reload', 'web', 'db'], 'name one domain or vif, or give --all, not web db'],
    [['sweep', 'now'], 'takes no arguments, got now'],
    [['sweep', '--dryrun'], 'unknown option --dryrun: did you mean --dry-run?'],
    [['check'], 'name at least one domain or config file'],
  ];
  for (const [args, message] of cases)
    it(`vif-firewall ${args.join(' ')}`, async () => {
      const r = await cli(args);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe('');
      expect(r.exitCode).toBe(2);
    });
});

describe.skipIf(!requireRoot('command line tests in a dom0'))('config discovery and --json, in a dom0', () => {
  afterEach(destroyAllDom0s);

  it('--dry-run and --verbose name the domain config and how it was found; a missing one lists every place tried', async () => {
    const w = await createHookWorld();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    const file = w.writeConfig('george', 'firewall = [ "allow in tcp 22" ]\n');
    w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10' });
    const found = `domain config ${file}: found by the domain's name "george" in config_dirs (${w.configDir})`;
    const dry = await w.run(['online', 'vif2.0', '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`${found}\n`);
    const verbose = await w.run(['online', 'vif2.0', '--verbose']);
    expect(verbose.exitCode, verbose.stderr).toBe(0);
    expect(verbose.stderr).toContain(`${found}\n`);
    expect((await w.run(['offline', 'vif2.0'])).exitCode).toBe(0);

    rmSync(file);
    const missing = await w.run(['online', 'vif2.0', '--dry-run']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      `no domain config for "george": tried ${join(w.configDir, 'george.cfg')}, ${join(w.configDir, 'george')} (not run by xl create: the domain's name is looked up in config_dirs)`,
    );
  });

  it('under xl create, --verbose says the file came from xl\'s command line', async () => {
    const w = await createHookWorld();
    await w.dom0.addGuest('george', { dom0Dev: 'vif2.0', ...net.guest(0) });
    // Not in config_dirs, and named otherwise: only xl's command line can find it.
    const file = join(w.dom0.tmpDir, 'elsewhere.cfg');
    writeFileSync(file, 'name = "george"\nfirewall = [ "allow in tcp 22" ]\n');
    const vif = w.fillVif({ domid: 2, devid: 0, name: 'george', ip: '192.0.2.10' });
    // exec keeps the pid: the hook's parent is still xl.
    const verbose = join(w.dom0.tmpDir, 'hook-verbose');
    writeFileSync(verbose, `#!/bin/sh\nexec ${HOOK} "$@" --verbose\n`);
    chmodSync(verbose, 0o755);
    const r = await w.onlineUnderXlCreate(file, vif, verbose);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`domain config ${file}: named by the command line of its parent, xl create \\(pid \\d+\\)\\n`));
  });

  it('show names the config and how it was found; --vif N must be a vif of the config; --json is one versioned object', async () => {
    const w = await createHookWorld();
    const file = w.writeConfig('george', 'vif = [ "bridge=xenbr0" ]\nfirewall = [ "allow in tcp 22" ]\nfirewall_vif2 = [ "allow in tcp 80" ]\n');
    const byName = await w.run(['show', 'george']);
    expect(byName.exitCode, byName.stderr).toBe(0);
    expect(byName.stdout.split('\n')[0]).toBe(`domain config ${file}: found by the domain's name "george" in config_dirs (${w.configDir})`);
    const byFile = await w.run(['show', file]);
    expect(byFile.stdout.split('\n')[0]).toBe(`domain config ${file}: given on the command line`);

    const none = await w.run(['show', 'george', '--vif', '1']);
    expect(none.exitCode).toBe(1);
    expect(none.stderr).toContain(`${file} has no vif 1: its vif list has 1 entry (vif 0), and there is no firewall_vif1 key`);
    // A vif attached later (xl network-attach) has no entry in the list, but may have its own rules.
    const attached = await w.run(['show', 'george', '--vif', '2']);
    expect(attached.exitCode, attached.stderr).toBe(0);
    expect(attached.stdout).toContain('firewall_vif2, 1 rules for vif 2');

    const json = await w.run(['show', 'george', '--json']);
    expect(json.exitCode).toBe(0);
    const data = JSON.parse(json.stdout);
    expect(Object.keys(data)[0]).toBe('version');
    expect(data).toMatchObject({ version: 1, file, found: `found by the domain's name "george" in config_dirs (${w.configDir})`, devid: 0 });
  });

  it('sweep --dry-run --json is one versioned object', async () => {
    const w = await createHookWorld();
    const r = await w.run(['sweep', '--dry-run', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ version: 1, dryRun: true, chains: [], records: [] });
  });
});
