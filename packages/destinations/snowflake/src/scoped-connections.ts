import { DESTINATION_NOT_ALLOWED, PermanentError, type NetworkPolicy } from '@bx/core';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Socket, isIP, type LookupFunction } from 'node:net';

/** The policy every TCP connection opened within `withinPolicy` is held to, and its first refusal. */
const scope = new AsyncLocalStorage<{ network: NetworkPolicy; refused?: Error }>();

type Connect = (this: Socket, ...args: unknown[]) => Socket;
interface ConnectOptions {
  host?: string;
  port?: number | string;
  path?: string | null;
  lookup?: LookupFunction;
}

let installed = false;

/**
 * Runs `work` with every TCP connection it opens, however deep in a library,
 * held to `network` when it connects: a name resolves through the policy's
 * lookup (every address checked), a literal address is checked as it is.
 * For the storage SDKs of a Snowflake PUT (AWS, Azure, GCS through axios),
 * which take no agent of ours: the stage's hosts were checked before the
 * upload (vetFileTransfer), but a name that resolved to a public address
 * then and to 127.0.0.1 a moment later (DNS rebinding) had the upload sent
 * to loopback; so did a redirect of the storage answer to a literal address.
 * Only connections made in `work`'s own async context are affected: the
 * rest of the process connects as before. A connection refused fails
 * `work` with the policy's error (PermanentError DestinationNotAllowed),
 * whatever the library made of it (the SDK reports a failed upload as a
 * result row).
 */
export async function withinPolicy<T>(network: NetworkPolicy, work: () => Promise<T>): Promise<T> {
  install();
  const store: { network: NetworkPolicy; refused?: Error } = { network };
  // Never disabled once used, although every await of the process then costs more (about 2.5x
  // the CPU in a loop of awaits on Node 20): disable() would strip the policy from a timer or
  // retry of a finished PUT that connects later.
  const done = await scope.run(store, work).catch((err: unknown) => {
    throw store.refused ?? err;
  });
  if (store.refused) throw store.refused;
  return done;
}

/**
 * Wraps `net.Socket.prototype.connect`, the one call every TCP client
 * (http.Agent, tls.connect, net.connect) makes, once per process; outside
 * a scope it only passes the call on.
 */
function install(): void {
  if (installed) return;
  installed = true;
  const proto = Socket.prototype as unknown as { connect: Connect };
  const connect = proto.connect;
  proto.connect = function (this: Socket, ...args: unknown[]): Socket {
    const store = scope.getStore();
    if (!store) return connect.apply(this, args);
    // `connect(port, host?, cb?)` or `connect(path, cb?)`: as options, so that a lookup can be given.
    if (typeof args[0] === 'number' || typeof args[0] === 'string') {
      const pipe = typeof args[0] === 'string' && !/^\d+$/.test(args[0]);
      const host = !pipe && typeof args[1] === 'string' ? args[1] : undefined;
      const rest = args.slice(host === undefined ? 1 : 2);
      args = [pipe ? { path: args[0] } : { port: args[0], ...(host === undefined ? {} : { host }) }, ...rest];
    }
    // net.connect passes its normalized arguments as one array: [options, callback].
    const options = (Array.isArray(args[0]) ? args[0][0] : args[0]) as ConnectOptions | undefined;
    if (!options || typeof options !== 'object') return connect.apply(this, args);
    // No storage is reached through a local socket (a path): such a connection is not the upload's.
    if (options.path != null) return refuse(this, store, `a local socket (${String(options.path)})`);
    const host = options.host ?? 'localhost';
    const port = options.port === undefined || options.port === '' ? undefined : Number(options.port);
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(bare)) {
      const refused = store.network.refusal(bare, bare, port);
      if (refused) return refuse(this, store, refused);
    } else {
      const lookup = store.network.lookupAt(port);
      // On a copy: the options may be the caller's own object, which it may connect with again outside the scope.
      const scoped: ConnectOptions = {
        ...options,
        lookup: (hostname, opts, callback) =>
          lookup(hostname, opts, (err, ...found: unknown[]) => {
            if ((err as { code?: unknown } | null)?.code === DESTINATION_NOT_ALLOWED) store.refused ??= err!;
            (callback as (...a: unknown[]) => void)(err, ...found);
          }),
      };
      // Node's normalized array is its own (net.connect made it): the copy goes in its place.
      if (Array.isArray(args[0])) args[0][0] = scoped;
      else args[0] = scoped;
    }
    return connect.apply(this, args);
  };
}

/** Fails the connection (and the scope) with the policy's error, before it is made. */
function refuse(socket: Socket, store: { refused?: Error }, why: string): Socket {
  const reason = why.startsWith('destination address') ? why : `destination ${why} is not allowed`;
  const err = (store.refused ??= new PermanentError(reason, { code: DESTINATION_NOT_ALLOWED }));
  process.nextTick(() => socket.destroy(err));
  return socket;
}
