// Fault injection controlled from the test process. Every rule counts the requests it matches
// from the moment it is installed: it lets `nth - 1` matches through, then fires `times` times.

export interface Trigger {
  nth?: number; // first matching request that triggers (1-based, default 1)
  times?: number; // how many consecutive matches trigger (default 1; Infinity = forever)
}

export interface HttpErrorFault extends Trigger {
  status?: number; // default 503
  path?: RegExp; // matched against the request path+query; default: every request
  sql?: RegExp; // only query-requests whose SQL matches
}

export interface StallFault extends Trigger {
  ms?: number; // undefined = hold until releaseStalled() or close()
  path?: RegExp;
  sql?: RegExp;
}

export interface QueryErrorFault extends Trigger {
  sql: RegExp;
  code?: string; // default '002003'
  sqlState?: string; // default '42S02'
  message?: string;
}

// "Crash" after the statement's effects have been applied: either answer with an error
// ('error') or drop the connection without answering ('drop').
export interface CrashFault extends Trigger {
  sql: RegExp;
  mode?: 'error' | 'drop';
  code?: string;
  sqlState?: string;
  message?: string;
}

interface Rule<T> {
  spec: T;
  seen: number;
}

export interface RequestInfo {
  path: string;
  sql?: string;
}

function fires<T extends Trigger>(r: Rule<T>): boolean {
  r.seen++;
  const nth = r.spec.nth ?? 1;
  return r.seen >= nth && r.seen < nth + (r.spec.times ?? 1);
}

// Every matching rule counts the request, even when an earlier rule is the one that fires.
function pick<T extends Trigger>(rules: Rule<T>[], match: (spec: T) => boolean): T | undefined {
  let hit: T | undefined;
  for (const r of rules) if (match(r.spec) && fires(r) && !hit) hit = r.spec;
  return hit;
}

const matches = (spec: { path?: RegExp; sql?: RegExp }, req: RequestInfo) =>
  (!spec.path || spec.path.test(req.path)) && (!spec.sql || (req.sql !== undefined && spec.sql.test(req.sql)));

export class Faults {
  private http: Rule<HttpErrorFault>[] = [];
  private stalls: Rule<StallFault>[] = [];
  private queryErrors: Rule<QueryErrorFault>[] = [];
  private crashes: Rule<CrashFault>[] = [];
  private loginFailures = 0;
  private held = new Set<() => void>();

  /** Answer the matching request(s) with a bare HTTP error status (default 503). */
  httpError(spec: HttpErrorFault = {}): void {
    this.http.push({ spec, seen: 0 });
  }
  /** Hold matching request(s) for `ms` (or until released) before handling them. */
  stall(spec: StallFault = {}): void {
    this.stalls.push({ spec, seen: 0 });
  }
  /** Fail matching statements before execution with a Snowflake error body. */
  queryError(spec: QueryErrorFault): void {
    this.queryErrors.push({ spec, seen: 0 });
  }
  /** Execute matching statements, then fail or drop the connection (state already changed). */
  crashAfter(spec: CrashFault): void {
    this.crashes.push({ spec, seen: 0 });
  }
  /** Reject the next `times` logins with 390100 even when credentials are right. */
  failLogins(times = 1): void {
    this.loginFailures += times;
  }
  /** Let every request currently held by a stall continue. */
  releaseStalled(): void {
    for (const release of this.held) release();
    this.held.clear();
  }
  clear(): void {
    this.http = [];
    this.stalls = [];
    this.queryErrors = [];
    this.crashes = [];
    this.loginFailures = 0;
    this.releaseStalled();
  }

  // ---- used by the server ----
  takeLoginFailure(): boolean {
    return this.loginFailures > 0 ? (this.loginFailures--, true) : false;
  }
  httpStatusFor(req: RequestInfo): number | undefined {
    const spec = pick(this.http, (s) => matches(s, req));
    return spec ? (spec.status ?? 503) : undefined;
  }
  /**
   * Holds a matching request until it is released, its `ms` pass, or its client
   * goes away (`clientGone`): a request whose client left while it was held is
   * never executed, however late the release comes.
   */
  async maybeStall(req: RequestInfo, clientGone: Promise<void>): Promise<void> {
    const spec = pick(this.stalls, (s) => matches(s, req));
    if (!spec) return;
    await new Promise<void>((resolve) => {
      const release = () => {
        this.held.delete(release);
        resolve();
      };
      this.held.add(release);
      void clientGone.then(release);
      if (spec.ms !== undefined) setTimeout(release, spec.ms).unref();
    });
  }
  queryErrorFor(sql: string): QueryErrorFault | undefined {
    return pick(this.queryErrors, (s) => s.sql.test(sql));
  }
  crashFor(sql: string): CrashFault | undefined {
    return pick(this.crashes, (s) => s.sql.test(sql));
  }
}
