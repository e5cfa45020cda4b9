import { unwrap } from '../errors.js';
import type { Match } from './model.js';
import { parsePortList, parsePortRange } from './port.js';

// The table is constant, so a bad port here is a bug caught by the first test run, not a user error.
const tcp = (ports: string): Match => ({ proto: 'tcp', ports: unwrap(parsePortList(ports)) });
const udp = (ports: string): Match => ({ proto: 'udp', ports: unwrap(parsePortList(ports)) });
const udpFrom = (sport: string, ports: string): Match => ({ proto: 'udp', ports: unwrap(parsePortList(ports)), sport: unwrap(parsePortRange(sport)) });

/**
 * What a guest sends when it serves the network's infrastructure: DHCP and DHCPv6 replies, and
 * router advertisements. The anti-spoofing layer drops them unless an `allow out` rule names one
 * (compile/antispoof.ts), so these matches are also the services that say so.
 */
export const INFRASTRUCTURE = {
  dhcpServer: udpFrom('67', '68'),
  dhcpv6Server: udpFrom('547', '546'),
  router: { proto: 'icmpv6', type: 'router-advertisement' },
} as const satisfies Record<string, Match>;

/**
 * Services a rule may name instead of a protocol and ports, by lower-case name. Only
 * the well-known port of each (IANA): a service on another port is written with tcp/udp.
 * README.md lists the same table; a test keeps the two in step.
 */
export const SERVICES: ReadonlyMap<string, readonly Match[]> = new Map<string, readonly Match[]>([
  ['ssh', [tcp('22')]],
  ['ftp', [tcp('21')]],
  ['smtp', [tcp('25')]],
  ['submission', [tcp('587')]],
  ['smtps', [tcp('465')]],
  ['dns', [tcp('53'), udp('53')]],
  ['http', [tcp('80')]],
  ['https', [tcp('443')]],
  ['http-alt', [tcp('8080')]],
  ['pop3', [tcp('110')]],
  ['pop3s', [tcp('995')]],
  ['imap', [tcp('143')]],
  ['imaps', [tcp('993')]],
  ['ntp', [udp('123')]],
  ['snmp', [udp('161')]],
  ['syslog', [udp('514')]],
  ['ldap', [tcp('389')]],
  ['ldaps', [tcp('636')]],
  ['mysql', [tcp('3306')]],
  ['postgresql', [tcp('5432')]],
  ['rdp', [tcp('3389')]],
  ['vnc', [tcp('5900')]],
  ['dhcp-server', [INFRASTRUCTURE.dhcpServer]],
  ['dhcpv6-server', [INFRASTRUCTURE.dhcpv6Server]],
  ['router', [INFRASTRUCTURE.router]],
  [
    'ping',
    [
      { proto: 'icmp', type: 'echo-request' },
      { proto: 'icmpv6', type: 'echo-request' },
    ],
  ],
]);
