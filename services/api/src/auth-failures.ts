import type { Request, Response } from 'express';
import { isIPv6 } from 'node:net';

export interface AuthFailureLimit {
  /** Failed tokens a client may send per window. Default 20. */
  limit: number;
  /** Window, in ms. Default 60000. */
  windowMs: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { limit: 20, windowMs: 60_000 };
/** Clients tracked at once; the oldest are forgotten past it, so a flood of addresses cannot grow memory. */
const MAX_CLIENTS = 100_000;

/**
 * Counts wrong tokens (bearer, session cookie, login form) per client and
 * refuses a client that sent too many, until its window ends: 20 a minute
 * leaves an attacker about 29,000 guesses a day against a token of at least
 * 16 characters. Only failures count, so a script sending many requests at
 * once with the right token is never slowed (express-rate-limit counts every
 * request first and gives successes back afterwards, which would refuse
 * concurrent valid requests). A client is `req.ip` (which honours
 * TRUST_PROXY), an IPv6 one its /64. In memory, per API process.
 */
export class AuthFailureLimiter {
  private readonly clients = new Map<string, { failures: number; resetAt: number }>();

  constructor(
    private readonly opts: AuthFailureLimit = DEFAULT_AUTH_FAILURE_LIMIT,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Seconds until the client may try again, or 0 when it may now. */
  blockedFor(req: Request): number {
    const entry = this.clients.get(clientOf(req));
    if (!entry || entry.failures < this.opts.limit) return 0;
    const left = entry.resetAt - this.clock();
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** Records a wrong token from the client. */
  failed(req: Request): void {
    const key = clientOf(req);
    const now = this.clock();
    let entry = this.clients.get(key);
    if (!entry || entry.resetAt <= now) {
      this.clients.delete(key);
      if (this.clients.size >= MAX_CLIENTS) this.forgetOldest(now);
      entry = { failures: 0, resetAt: now + this.opts.windowMs };
      this.clients.set(key, entry);
    }
    entry.failures++;
  }

  /** Answers 429 and returns true when the client is refused for now. */
  refuse(req: Request, res: Response): boolean {
    const seconds = this.blockedFor(req);
    if (seconds === 0) return false;
    res
      .status(429)
      .set('Retry-After', String(seconds))
      .json({
        error: {
          code: 'too_many_requests',
          message: `too many wrong tokens from this client; try again in ${seconds} s`,
          details: [],
        },
      });
    return true;
  }

  private forgetOldest(now: number): void {
    for (const [key, entry] of this.clients) {
      if (entry.resetAt <= now || this.clients.size >= MAX_CLIENTS) this.clients.delete(key);
      else break;
    }
  }
}

/** The client's address; an IPv6 address counts as its /64, which one host usually holds whole. */
function clientOf(req: Request): string {
  const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  if (!isIPv6(ip) || ip.startsWith('::ffff:')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).join(':')}::/64`;
}
