import { describe, expect, it } from 'vitest';
import { parseConntrackList } from '../../src/apply/conntrack.js';
import { flowsToCut } from '../../src/compile/cut.js';
import { unwrap } from '../../src/errors.js';
import { parseCidr } from '../../src/rules/address.js';
import { parseRuleSet } from '../../src/rules/parse.js';

const rules = (...lines: string[]) => unwrap(parseRuleSet(lines.map((value, i) => ({ value, at: { file: 'g.cfg', line: i + 1, col: 1 } }))));
const guest = ['192.0.2.10', '2001:db8::a'].map((a) => unwrap(parseCidr(a)));

const V4 = `tcp      6 431995 ESTABLISHED src=192.0.2.1 dst=192.0.2.10 sport=40312 dport=22 src=192.0.2.10 dst=192.0.2.1 sport=22 dport=40312 [ASSURED] mark=0 use=1
tcp      6 431995 ESTABLISHED src=192.0.2.1 dst=192.0.2.10 sport=40313 dport=80 src=192.0.2.10 dst=192.0.2.1 sport=80 dport=40313 [ASSURED] mark=0 use=1
tcp      6 431995 ESTABLISHED src=192.0.2.10 dst=192.0.2.1 sport=50000 dport=25 src=192.0.2.1 dst=192.0.2.10 sport=25 dport=50000 [ASSURED] mark=0 use=1
icmp     1 29 src=192.0.2.1 dst=192.0.2.10 type=8 code=0 id=77 src=192.0.2.10 dst=192.0.2.1 type=0 code=0 id=77 mark=0 use=1
udp      17 29 src=192.0.2.5 dst=192.0.2.6 sport=1000 dport=53 [UNREPLIED] src=192.0.2.6 dst=192.0.2.5 sport=53 dport=1000 mark=0 use=1
`;
const V6 = `tcp      6 431999 ESTABLISHED src=2001:db8::1 dst=2001:db8::a sport=41000 dport=80 src=2001:db8::a dst=2001:db8::1 sport=80 dport=41000 [ASSURED] mark=0 use=1
`;

describe('parseConntrackList', () => {
  it('reads the original tuple of each entry', () => {
    const flows = parseConntrackList(V4, 4);
    expect(flows).toHaveLength(5);
    expect(flows[0]).toEqual({ family: 4, proto: 'tcp', protocol: 6, src: '192.0.2.1', dst: '192.0.2.10', sport: 40312, dport: 22, icmpType: undefined, icmpCode: undefined });
    expect(flows[3]).toMatchObject({ proto: 'icmp', icmpType: 8, sport: undefined });
  });
});

describe('flowsToCut', () => {
  const flows = [...parseConntrackList(V4, 4), ...parseConntrackList(V6, 6)];

  it('cuts the guest flows the new rules forbid, in both directions and families, and no others', () => {
    const cut = flowsToCut(rules('allow in tcp 22', 'allow in ping', 'drop out tcp 25'), guest, flows);
    expect(cut.map((f) => `${f.family} ${f.proto} ${f.src}->${f.dst}:${f.dport ?? f.icmpType}`)).toEqual([
      '4 tcp 192.0.2.1->192.0.2.10:80',
      '4 tcp 192.0.2.10->192.0.2.1:25',
      '6 tcp 2001:db8::1->2001:db8::a:80',
    ]);
  });

  it('keeps everything the new rules allow', () => {
    expect(flowsToCut(rules('allow in tcp 22,80', 'allow in icmp echo-request'), guest, flows)).toEqual([]);
  });

  it('skips entries whose addresses do not read as their family', () => {
    const odd = parseConntrackList('tcp 6 1 ESTABLISHED src=nonsense dst=192.0.2.10 sport=1 dport=80 mark=0\n', 4);
    expect(flowsToCut(rules('allow in tcp 22'), guest, odd)).toEqual([]);
  });
});
