import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HookError } from '../../src/errors.js';
import { guestRulesOf } from '../../src/read/domainConfig.js';
import { parseSettings } from '../../src/read/settings.js';
import { parseRuleSet } from '../../src/rules/parse.js';
import { random as prng } from '../support/generate.js';

/**
 * Seeded mutation of real configs, settings and rules: whatever the input, the parsers
 * return a value or a config error that names file, line and column. Anything else (a
 * TypeError, a RangeError, an error without a position) escaping is a bug. The seed is
 * fixed, so a failure reproduces; the failing input is in the message.
 */

const SEED = 0x5eed_f11e;
const ROUNDS = 2500;

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/xl/${name}`, import.meta.url)), 'utf8');

const CONFIGS = [fixture('george.cfg'), fixture('xlexample.hvm'), fixture('xlexample.pvlinux')];
const SETTINGS = [
  'config_dirs = [ "/etc/xen", "/etc/xen/auto" ]\nlog_file = "/var/log/xen/x.log"\nstate_dir = "/run/vif-firewall"\naccept_allowed = 1\nlock_timeout = 25\nsyslog = 0\nantispoof = "mac"\n',
];
const RULES = [
  'allow in tcp 22',
  'allow in tcp 80,443 from 198.51.100.0/24, 2001:db8::/32',
  'allow in udp 60000-61000 to 10.0.0.1',
  'allow out icmp echo-request',
  'allow in icmpv6 neighbour-solicitation',
  'reject in ssh from 203.0.113.7',
  'drop out tcp 25',
  'policy in accept',
  'log out',
];

/** Fragments that reach the corners of both languages. */
const SNIPPETS = [
  '[', ']', '"', "'", '\\', '\n', '\r\n', '\0', ',', '=', '+=', '#', ';', ' ', '\t', 'é', '😀', '\u2028', '\x1b',
  'x'.repeat(100), '['.repeat(70), ']'.repeat(70), '0x', '08', '99999999999999999999', '-', '/', ':', '.', '%eth0', '::ffff:',
  'allow', 'drop', 'policy', 'log', 'in', 'out', 'tcp', 'udp', 'icmp', 'any', 'from', 'to', 'ssh', '10.0.0.0/8', '2001:db8::/200',
  'firewall = ', 'firewall_vif0 = ', 'firewall_antispoof = ', 'vif = ', 'name = ', 'state_dir = ', 'lock_timeout = ',
];

function mutate(text: string, random: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const at = () => Math.floor(random() * (text.length + 1));
  let out = text;
  for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
    const i = Math.floor(random() * (out.length + 1));
    const len = 1 + Math.floor(random() * 12);
    switch (Math.floor(random() * 5)) {
      case 0:
        out = out.slice(0, i) + pick(SNIPPETS) + out.slice(i);
        break;
      case 1:
        out = out.slice(0, i) + out.slice(i + len);
        break;
      case 2:
        out = out.slice(0, i) + out.slice(i, i + len) + out.slice(i);
        break;
      case 3:
        out = out.slice(0, i) + String.fromCharCode(Math.floor(random() * 0x300)) + out.slice(i + 1);
        break;
      default: {
        const j = at();
        out = out.slice(0, i) + text.slice(j, j + len) + out.slice(i);
      }
    }
  }
  return out;
}

/** 'ok', or 'error' for a positioned config error; anything else fails the test with the input. */
function outcome(input: string, parse: () => unknown): 'ok' | 'error' {
  try {
    parse();
    return 'ok';
  } catch (e) {
    if (e instanceof HookError && e.where) return 'error';
    throw new Error(`${e instanceof HookError ? `unpositioned error "${e.message}"` : String(e)} for input ${JSON.stringify(input)}`);
  }
}

/** ROUNDS inputs from make; both outcomes must occur, so the mutations neither break everything nor nothing. */
function campaign(seed: number, make: (random: () => number) => [input: string, parse: () => unknown]): void {
  const random = prng(seed);
  const seen = { ok: 0, error: 0 };
  for (let i = 0; i < ROUNDS; i++) seen[outcome(...make(random))]++;
  expect(seen.ok).toBeGreaterThan(ROUNDS / 20);
  expect(seen.error).toBeGreaterThan(ROUNDS / 4);
}

describe(`mutated input (seed ${SEED}, ${ROUNDS} rounds each)`, () => {
  it('domain configs give rules or a positioned error', () => {
    let i = 0;
    campaign(SEED, (random) => {
      const text = mutate(CONFIGS[i++ % CONFIGS.length]!, random);
      return [text, () => guestRulesOf(text, '/etc/xen/m.cfg', Math.floor(random() * 2))];
    });
  });

  it('settings files give settings or a positioned error', () => {
    campaign(SEED + 1, (random) => {
      const text = mutate(SETTINGS[0]!, random);
      return [text, () => parseSettings(text, '/etc/xen/vif-firewall.conf')];
    });
  });

  it('rules give a rule set or a positioned error', () => {
    campaign(SEED + 2, (random) => {
      const lines = RULES.filter(() => random() < 0.4).map((rule) => ({
        value: random() < 0.6 ? mutate(rule, random) : rule,
        at: { file: '/etc/xen/m.cfg', line: 3, col: 3 },
      }));
      return [
        JSON.stringify(lines.map((l) => l.value)),
        () => {
          const r = parseRuleSet(lines);
          if (!r.ok) throw r.error;
        },
      ];
    });
  });
});
