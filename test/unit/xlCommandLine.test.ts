import { describe, expect, it } from 'vitest';
import { configFileFromXlArgv } from '../../src/xlconfig/xlCommandLine.js';

const CWD = '/etc/xen';

describe('configFileFromXlArgv', () => {
  it.each([
    // the forms seen on real hosts
    [['/usr/lib/xen-4.17/bin/xl', 'create', '/etc/xen/george.cfg'], '/etc/xen/george.cfg'],
    [['xl', '-v', 'create', '-c', 'george.cfg'], '/etc/xen/george.cfg'],
    [['xl', 'create', '-f', 'george.cfg'], '/etc/xen/george.cfg'],
    [['xl', 'create', '-p', 'george.cfg', 'memory=512'], '/etc/xen/george.cfg'],
    // run through an interpreter, as Debian's /usr/sbin/xl wrapper is
    [['/bin/bash', '/some/dir/xl', 'create', 'g.cfg'], '/etc/xen/g.cfg'],
    [['/bin/sh', '/usr/sbin/xl', '-v', 'create', 'g.cfg'], '/etc/xen/g.cfg'],
    // the file before, between or after options and VAR=VAL extras (getopt permutes)
    [['xl', 'create', 'g.cfg', '-c', '-p'], '/etc/xen/g.cfg'],
    [['xl', 'create', 'memory=512', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '-q', 'vcpus=2', 'g.cfg', '-e', 'name=x'], '/etc/xen/g.cfg'],
    [['xl', 'create', '-pcdFenqVAi', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '--quiet', '--dryrun', '--vncviewer', '--vncviewer-autopass', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '--ignore-global-affinity-masks', 'g.cfg'], '/etc/xen/g.cfg'],
    // -f / --defconfig in every spelling getopt takes; the last one wins, also over a first operand
    [['xl', 'create', '-fg.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '-pf', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '--defconfig=g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '--defconfig', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', '--defc=g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', 'a.cfg', '-f', 'b.cfg'], '/etc/xen/b.cfg'],
    [['xl', 'create', '-f', 'a.cfg', '-f', 'b.cfg'], '/etc/xen/b.cfg'],
    // getopt reads "-f=x" as -f with the argument "=x": that is the file xl opens
    [['xl', 'create', '-f=george.cfg'], '/etc/xen/=george.cfg'],
    // "--" ends the options, so a file may begin with '-'
    [['xl', 'create', '--', '-odd.cfg'], '/etc/xen/-odd.cfg'],
    // xl's global options, clustered or not, and "--" before the command
    [['xl', '-vvv', '-N', '-f', '-t', '-T', 'create', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', '-vf', '--', 'create', 'g.cfg'], '/etc/xen/g.cfg'],
    // xl takes an unambiguous prefix of the command name
    [['xl', 'cr', 'g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'creat', 'g.cfg'], '/etc/xen/g.cfg'],
    // relative paths join xl's cwd as they are, without folding ".."
    [['xl', 'create', './g.cfg'], '/etc/xen/g.cfg'],
    [['xl', 'create', 'auto/g.cfg'], '/etc/xen/auto/g.cfg'],
    [['xl', 'create', '../xen/g.cfg'], '/etc/xen/../xen/g.cfg'],
  ] as const)('%j → %s', (argv, expected) => {
    expect(configFileFromXlArgv(argv, CWD)).toBe(expected);
  });

  it('joins a cwd ending in "/" without doubling it', () => {
    expect(configFileFromXlArgv(['xl', 'create', 'g.cfg'], '/')).toBe('/g.cfg');
    expect(configFileFromXlArgv(['xl', 'create', 'g.cfg'], '/root/')).toBe('/root/g.cfg');
  });

  it.each([
    // other commands and other programs
    [['xl', 'network-attach', 'george', 'bridge=xenbr0']],
    [['xl', 'destroy', 'george']],
    [['xl', 'help', 'create']],
    [['xl', 'c', 'g.cfg']],
    [['xl', 'createx', 'g.cfg']],
    [['/usr/sbin/xlx', 'create', 'g.cfg']],
    [['/bin/sh', '-c', 'xl create g.cfg']],
    [['xl']],
    [[]],
    // no file, or one operand too many
    [['xl', 'create']],
    [['xl', 'create', '-p', 'memory=512']],
    [['xl', 'create', 'a.cfg', 'b.cfg']],
    [['xl', 'create', '']],
    [['xl', 'create', '-f']],
    [['xl', 'create', '--defconfig']],
    // options xl refuses, or help, after which xl exits without creating
    [['xl', 'create', '-h', 'g.cfg']],
    [['xl', 'create', 'g.cfg', '--help']],
    [['xl', 'create', '-x', 'g.cfg']],
    [['xl', 'create', '--autopass', 'g.cfg']],
    [['xl', 'create', '--vnc', 'g.cfg']],
    [['xl', 'create', '--d=g.cfg']],
    [['xl', 'create', '--quiet=1', 'g.cfg']],
    [['xl', 'create', '--toString', 'g.cfg']],
    [['xl', '-x', 'create', 'g.cfg']],
    [['xl', '--verbose', 'create', 'g.cfg']],
  ] as const)('%j → undefined', (argv) => {
    expect(configFileFromXlArgv(argv, CWD)).toBeUndefined();
  });
});
