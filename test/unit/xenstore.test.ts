import { describe, expect, it } from 'vitest';
import { parseFlatListing, unsanitise } from '../../src/xenstore.js';

describe('xenstore-ls -f listing', () => {
  const listing = [
    'backend/vif/1/0/bridge = "xenbr0"',
    'backend/vif/1/0/ip = "10.9.0.2 2001:db8::2"',
    'backend/vif/1/0/hotplug-status = ""',
    'backend/vif/1/0/odd = "say "hi" \\\\ \\t"',
    'backend/vif/1/0/queue-0 = ""',
    'backend/vif/1/0/queue-0/tx-ring-ref = "8"',
    'backend/vif/1/0/gone:',
    'backend/vif/1/00/mac = "not ours"',
    '',
  ].join('\n');

  it('gives the direct children of the directory, values unescaped', () => {
    expect(parseFlatListing(listing, 'backend/vif/1/0')).toEqual(
      new Map([
        ['bridge', 'xenbr0'],
        ['ip', '10.9.0.2 2001:db8::2'],
        ['hotplug-status', ''],
        ['odd', 'say "hi" \\ \t'],
        ['queue-0', ''],
      ]),
    );
  });

  it('matches the directory as given, with or without a trailing slash', () => {
    expect(parseFlatListing(listing, 'backend/vif/1/0/').get('bridge')).toBe('xenbr0');
    expect(parseFlatListing(listing, '/local/domain/0/backend/vif/1/0').size).toBe(0);
  });

  it('undoes every escape sanitise_value writes', () => {
    expect(unsanitise('a\\tb\\nc\\rd\\\\e\\x7f\\001')).toBe('a\tb\nc\rd\\e\x7f\x01');
  });
});
