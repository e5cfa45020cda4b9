import { describe, expect, it } from 'vitest';
import minimist from 'minimist';
import { type Command, UsageError, checkOptions } from '../../src/cli/command.js';
import { JSON_FORMAT_VERSION, jsonOutput } from '../../src/cli/json.js';
import { suggest } from '../../src/cli/suggest.js';

const COMMANDS = ['online', 'offline', 'add', 'remove', 'show', 'status', 'reload', 'sweep', 'check', 'help', 'version'];

describe('did you mean', () => {
  it('finds the command a typo came from: a swap, a missing, an extra or a wrong letter', () => {
    expect(suggest('stauts', COMMANDS)).toBe('status');
    expect(suggest('relaod', COMMANDS)).toBe('reload');
    expect(suggest('sweeep', COMMANDS)).toBe('sweep');
    expect(suggest('onlin', COMMANDS)).toBe('online');
    expect(suggest('chekc', COMMANDS)).toBe('check');
    expect(suggest('SHOW', COMMANDS)).toBe('show');
  });

  it('takes a prefix of exactly one command', () => {
    expect(suggest('stat', COMMANDS)).toBe('status');
    expect(suggest('rel', COMMANDS)).toBe('reload');
    expect(suggest('off', COMMANDS)).toBe('offline');
  });

  it('guesses nothing when nothing is near, when two are equally near, or for a very long word', () => {
    expect(suggest('firewall', COMMANDS)).toBeUndefined();
    expect(suggest('s', COMMANDS)).toBeUndefined(); // too short to be taken as a prefix
    expect(suggest('o', ['on', 'of'])).toBeUndefined();
    expect(suggest(`${'status'.repeat(7)}`, COMMANDS)).toBeUndefined();
    expect(suggest('x'.repeat(100_000), COMMANDS)).toBeUndefined(); // bounded: returns at once
    expect(suggest('', COMMANDS)).toBeUndefined();
  });

  it('finds options too', () => {
    expect(suggest('dryrun', ['help', 'verbose', 'dry-run'])).toBe('dry-run');
    expect(suggest('jsno', ['help', 'verbose', 'json'])).toBe('json');
  });
});

describe('checkOptions', () => {
  const show: Command = {
    name: 'show',
    summary: '',
    help: '',
    booleans: ['json'],
    strings: ['vif', 'dev'],
    positional: { min: 1, max: 1, what: 'one domain or config file' },
    run: async () => 0,
  };
  const parse = (argv: string[]) => minimist(argv, { boolean: ['help', 'verbose', 'json'], string: ['vif', 'dev'], alias: { h: 'help' } });
  const problem = (argv: string[]) => {
    try {
      checkOptions(show, parse(argv));
      return undefined;
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as UsageError).message;
    }
  };

  it('accepts what the command takes', () => {
    expect(problem(['web'])).toBeUndefined();
    expect(problem(['web', '--vif', '1', '--dev', 'vif3.1', '--json', '--verbose'])).toBeUndefined();
    expect(problem(['web', '-h'])).toBeUndefined();
  });

  it('refuses an unknown option, with the nearest known one', () => {
    expect(problem(['web', '--jsno'])).toBe('unknown option --jsno: did you mean --json?');
    expect(problem(['web', '--frobnicate'])).toBe('unknown option --frobnicate');
    expect(problem(['web', '-x'])).toBe('unknown option -x');
  });

  it('refuses a value option without its value, or given twice', () => {
    expect(problem(['web', '--vif'])).toBe('--vif needs a value');
    expect(problem(['web', '--vif', '1', '--vif', '2'])).toBe('--vif given 2 times: give it once');
  });

  it('counts the positional arguments', () => {
    expect(problem([])).toBe('name one domain or config file');
    expect(problem(['web', 'db'])).toBe('name one domain or config file, not web db');
  });
});

describe('--json output', () => {
  it('is one object whose first field is the format version', () => {
    const out = jsonOutput({ file: '/etc/xen/web.cfg' });
    expect(JSON_FORMAT_VERSION).toBe(1);
    expect(Object.keys(out)).toEqual(['version', 'file']);
    expect(out).toEqual({ version: 1, file: '/etc/xen/web.cfg' });
  });
});
