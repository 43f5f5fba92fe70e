import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import type { Agent } from 'node:http';
import { BlockList, isIP, type LookupFunction, type Socket } from 'node:net';
import { PermanentError } from './errors';

/** Address ranges a destination may reach only when ALLOWED_PRIVATE_DESTINATIONS lists them. */
const RESERVED: ReadonlyArray<[cidr: string, kind: string]> = [
  ['0.0.0.0/8', 'unspecified'], // connecting to 0.0.0.0 reaches this machine
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'private'], // carrier-grade NAT; some clouds' metadata service lives here
  ['169.254.0.0/16', 'link-local'], // cloud metadata (169.254.169.254)
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fc00::/7', 'private'],
  ['fec0::/10', 'private'], // the old site-local range
  ['fe80::/10', 'link-local'],
];

const reserved = RESERVED.map(([cidr, kind]) => ({ kind, list: blockOf([cidr]) }));

/** Resolves a host name to every address, as `dns.lookup` with `all: true` does (the default). */
export type HostResolver = (hostname: string, options: LookupOptions) => Promise<LookupAddress[]>;

const systemResolver: HostResolver = (hostname, options) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { ...options, all: true }, (err, found) => (err ? reject(err) : resolve(found))),
  );

/** Code of the error a refused destination gives, at create, update, test and run time. */
export const DESTINATION_NOT_ALLOWED = 'DestinationNotAllowed';

/**
 * Which addresses destinations may connect to (contract:
 * ALLOWED_PRIVATE_DESTINATIONS). Public addresses always; loopback, private
 * and link-local ones only when listed, by host name as written in the
 * config or by address or CIDR, on any port, or as `host:port`
 * (`[v6]:port`) on that port only. Checked on the addresses a name resolves
 * to, and again when connecting (`lookup`, `checkAddress`), so a name that
 * resolves to 127.0.0.1, or starts to, is refused as loopback is. Where the
 * port is not known, only entries without one allow.
 */
export class NetworkPolicy {
  /** Listed host names, lower case: `name` for any port, `name:port` for one. */
  private readonly hosts: ReadonlySet<string>;
  /** Listed addresses and CIDRs by port; ANY_PORT for any. */
  private readonly addresses = new Map<number, BlockList>();

  /**
   * `allowed`: the entries of ALLOWED_PRIVATE_DESTINATIONS (host names,
   * addresses, CIDRs, each maybe with `:port`); `resolver`: how names
   * resolve (tests give names addresses of their own).
   */
  constructor(
    readonly allowed: readonly string[] = [],
    private readonly resolver: HostResolver = systemResolver,
  ) {
    const entries = allowed.map(parseEntry);
    const hosts = entries.filter((e) => !isAddressEntry(e.target));
    this.hosts = new Set(hosts.map((e) => (e.port === ANY_PORT ? e.target : `${e.target}:${e.port}`).toLowerCase()));
    for (const port of new Set(entries.map((e) => e.port))) {
      const listed = entries.filter((e) => e.port === port && isAddressEntry(e.target)).map((e) => e.target);
      if (listed.length) this.addresses.set(port, blockOf(listed));
    }
  }

  /** Parses ALLOWED_PRIVATE_DESTINATIONS; throws on an entry that is neither a host name, an address nor a CIDR. */
  static parse(value: string | undefined): NetworkPolicy {
    const entries = (value ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean);
    for (const entry of entries) {
      const { target } = parseEntry(entry);
      if (!isAddressEntry(target) && !HOST_NAME.test(target)) {
        throw new Error(
          `'${entry}' is neither a host name, an IP address nor a CIDR, each maybe with :port ([IPv6]:port)`,
        );
      }
    }
    return new NetworkPolicy(entries);
  }

  /** Why connecting to `address` (of `host`) on `port` (unknown: undefined) is refused, or null when it is allowed. */
  refusal(host: string, address: string, port?: number): string | null {
    const ip = unmapped(address);
    const family = isIP(ip);
    if (family === 0) return null;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    const kind = reserved.find((r) => r.list.check(ip, type))?.kind;
    if (!kind) return null;
    const name = bare(host).toLowerCase();
    const listed = (p: number) =>
      this.hosts.has(p === ANY_PORT ? name : `${name}:${p}`) || !!this.addresses.get(p)?.check(ip, type);
    if (listed(ANY_PORT) || (port !== undefined && listed(port))) return null;
    const via = bare(host) === ip ? '' : ` (${bare(host)})`;
    const at = port === undefined ? '' : ` port ${port}`;
    return (
      `destination address ${ip}${via}${at} is a ${kind} address; ` +
      'list it (or host:port) in ALLOWED_PRIVATE_DESTINATIONS to allow destinations there'
    );
  }

  /** Throws a PermanentError when connecting to `address` of `host` on `port` is refused. */
  checkAddress(host: string, address: string, port?: number): void {
    const refused = this.refusal(host, address, port);
    if (refused) throw new PermanentError(refused, { code: DESTINATION_NOT_ALLOWED });
  }

  /**
   * Resolves `host` as a connection would and checks every address. A name
   * that does not resolve (yet) passes: connecting will fail on its own, and
   * its addresses are checked again then.
   */
  async checkHost(host: string, port?: number): Promise<void> {
    const name = bare(host);
    if (isIP(name)) return this.checkAddress(name, name, port);
    const addresses = await this.resolver(name, {}).catch((): LookupAddress[] => []);
    for (const { address } of addresses) this.checkAddress(name, address, port);
  }

  /**
   * The addresses to connect to for `host`, in the resolver's order, each
   * checked (one refused refuses the host, as `lookup` does): for drivers
   * that take no `lookup` (pg). Connect to them in turn, keeping `host` as
   * the TLS server name, so the checked address is the one reached.
   */
  async resolveChecked(host: string, port?: number): Promise<string[]> {
    const name = bare(host);
    if (isIP(name)) {
      this.checkAddress(name, name, port);
      return [name];
    }
    return new Promise<string[]>((resolve, reject) =>
      this.lookupAt(port)(name, { all: true }, (err, found) =>
        err ? reject(err) : resolve((found as unknown as LookupAddress[]).map((a) => a.address)),
      ),
    );
  }

  /**
   * A `lookup` for sockets, HTTP agents and drivers: resolves as Node does
   * and fails with the policy's error when an address is refused. Literal
   * IP hosts never reach a lookup; `checkAddress` covers those. The port is
   * not known here: only entries without one allow (see `lookupAt`).
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => this.lookupAt()(hostname, options, callback);

  /** `lookup` for connections to `port`. */
  lookupAt(port?: number): LookupFunction {
    return (hostname, options, callback) => this.lookupOn(port, hostname, options, callback);
  }

  private lookupOn(port: number | undefined, ...[hostname, options, callback]: Parameters<LookupFunction>): void {
    const answer = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 4);
      if (addresses.length === 0) {
        const none = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
        return callback(none, '', 4);
      }
      for (const { address } of addresses) {
        const refused = this.refusal(hostname, address, port);
        if (refused) {
          const error = Object.assign(new PermanentError(refused, { code: DESTINATION_NOT_ALLOWED }), {
            errno: undefined,
            syscall: 'lookup',
            hostname,
          });
          return callback(error as unknown as NodeJS.ErrnoException, '', 4);
        }
      }
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    };
    this.resolver(hostname, options).then(
      (addresses) => answer(null, addresses),
      (err: NodeJS.ErrnoException) => answer(err, []),
    );
  }

  /**
   * Makes an HTTP(S) agent connect only where the policy allows: names go
   * through `lookup`, literal addresses (which Node never looks up) are
   * checked before connecting. Works on any http.Agent, the SDKs' own
   * subclasses included; returns the agent.
   */
  guardAgent<A extends Agent>(agent: A): A {
    const options = (agent as unknown as { options: Record<string, unknown> }).options;
    options.lookup = this.lookup;
    type Create = (
      options: { host?: string; hostname?: string; port?: number | string; lookup?: LookupFunction },
      cb: (err: Error | null, s?: Socket) => void,
    ) => Socket;
    const guarded = agent as unknown as { createConnection: Create };
    const create = guarded.createConnection;
    guarded.createConnection = (connect, cb) => {
      const host = connect.host ?? connect.hostname ?? '';
      const port = connect.port === undefined || connect.port === '' ? undefined : Number(connect.port);
      const refused = isIP(bare(host)) ? this.refusal(host, host, port) : null;
      if (refused) {
        cb(new PermanentError(refused, { code: DESTINATION_NOT_ALLOWED }));
        return undefined as unknown as Socket;
      }
      // This connection's port is known here: names resolve through a lookup that checks it.
      return create.call(agent, { ...connect, lookup: this.lookupAt(port) }, cb);
    };
    return agent;
  }
}

/** The port of an entry without one: it allows every port. */
const ANY_PORT = 0;

/**
 * An entry of ALLOWED_PRIVATE_DESTINATIONS: `host:port`, `a.b.c.d:port` and
 * `[v6]:port` allow that port only; anything else (a bare IPv6 address too:
 * `::1` is no port) every port.
 */
function parseEntry(entry: string): { target: string; port: number } {
  const match = /^(\[[^\]]*\]|[^:[\]]+):(\d{1,5})$/.exec(entry);
  const port = match ? Number(match[2]) : ANY_PORT;
  if (!match || port < 1 || port > 65535) return { target: entry, port: ANY_PORT };
  return { target: match[1]!, port };
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

function isAddressEntry(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  const family = isIP(bare(address ?? ''));
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
}

function blockOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const ip = unmapped(bare(address));
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, Number(bits), type);
  }
  return list;
}

/** `[::1]` → `::1` (URL host form). */
function bare(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1');
}

/** An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, `::ffff:7f00:1`) as the IPv4 address it reaches. */
export function unmapped(address: string): string {
  const ip = bare(address);
  const dotted = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (dotted && isIP(dotted[1]!) === 4) return dotted[1]!;
  const hex = /^(?:0{0,4}:){0,5}:?ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex && isIP(ip) === 6) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return ip;
}
