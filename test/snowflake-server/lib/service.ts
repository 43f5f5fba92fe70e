// Protocol-level logic independent of HTTP: logins, session tokens, and turning one SQL text into
// a Snowflake response body. The HTTP layer (snowflake-server.ts) adds fault injection, request
// de-duplication and logging around it.
import crypto from 'node:crypto';
import { authenticate, BAD_PASSWORD, type AuthConfig } from './auth';
import type { Engine, Session } from './engine';
import type { Faults } from './faults';
import { SqlError, splitStatements } from './lexer';
import { parseStatement, type Bindings } from './parser';
import { loginFail, loginOk, putOk, queryFail, queryOk } from './protocol';

export type Reply = { success: boolean; code?: string | null };

// Connection parameters (database, schema, ...) are identifiers: upper-cased unless quoted.
const identParam = (v: string | null) =>
  v === null || v === '' ? undefined : /^".*"$/.test(v) ? v.slice(1, -1).replace(/""/g, '"') : v.toUpperCase();

const GONE = {
  data: null,
  code: '390111',
  message: 'Session no longer exists.  New login required to access the service.',
  success: false,
};
const INVALID = {
  data: null,
  code: '390104',
  message: 'Invalid session token. Please login again.',
  success: false,
};

export class Service {
  readonly logins: Record<string, unknown>[] = [];
  private readonly sessions = new Map<string, Session>(); // session token -> session
  private readonly closedTokens = new Set<string>();
  private nextSessionId = 1001;

  constructor(
    private readonly engine: Engine,
    private readonly auth: AuthConfig,
    private readonly faults: Faults,
    private readonly strictCatalog: boolean,
  ) {}

  activeSessions(): Session[] {
    return [...this.sessions.values()];
  }

  login(body: { data?: Record<string, unknown> }, q: URLSearchParams): object {
    this.logins.push(body);
    const data = body.data ?? {};
    const loginName = String(data.LOGIN_NAME ?? '');
    if (this.faults.takeLoginFailure()) return loginFail(BAD_PASSWORD, loginName);
    const failure = authenticate(this.auth, data);
    if (failure) return loginFail(failure, loginName);
    const s: Session = { id: this.nextSessionId++, user: loginName.toUpperCase(), params: {} };
    s.warehouse = identParam(q.get('warehouse'));
    s.role = identParam(q.get('roleName')) ?? 'PUBLIC';
    const db = identParam(q.get('databaseName'));
    // Like Snowflake, an unknown database in the connection options does not fail the login; the
    // session simply has no current database.
    if (db && (!this.strictCatalog || this.engine.databases.has(db))) {
      s.database = db;
      s.schema = identParam(q.get('schemaName')) ?? 'PUBLIC';
      if (!this.strictCatalog) this.engine.ensureSchema(db, s.schema);
    }
    const tokens = { token: crypto.randomUUID(), masterToken: crypto.randomUUID() };
    this.sessions.set(tokens.token, s);
    // Session parameters sent at login are echoed back, as Snowflake does.
    return loginOk(s, tokens, (data.SESSION_PARAMETERS ?? {}) as Record<string, unknown>);
  }

  // Resolves the `Authorization: Snowflake Token="..."` header to a session or an error body.
  sessionFor(authorization: string | undefined): Session | Reply {
    const token = /Snowflake Token="([^"]*)"/.exec(authorization ?? '')?.[1] ?? '';
    return this.sessions.get(token) ?? (this.closedTokens.has(token) ? GONE : INVALID);
  }

  closeSession(s: Session): void {
    this.engine.closeSession(s);
    for (const [token, v] of this.sessions) {
      if (v !== s) continue;
      this.sessions.delete(token);
      this.closedTokens.add(token);
    }
  }

  execute(s: Session, sql: string, binds: Bindings | undefined, queryId: string): Reply {
    try {
      // MULTI_STATEMENT_COUNT defaults to 1, so several statements in one request are refused.
      const stmts = /^\s*PUT\s/i.test(sql) ? [sql] : splitStatements(sql);
      if (stmts.length === 0) throw new SqlError('000900', '42000', 'Empty SQL statement.');
      if (stmts.length > 1) {
        throw new SqlError(
          '000008',
          '0A000',
          `Actual statement count ${stmts.length} did not match the desired statement count 1.`,
        );
      }
      const out = this.engine.execute(s, parseStatement(stmts[0]!, binds));
      return 'put' in out ? putOk(out.put, s, queryId) : queryOk(out.result, s, queryId);
    } catch (err) {
      if (err instanceof SqlError) return queryFail(err, queryId);
      const message = `SQL execution internal error: ${(err as Error).message}`;
      return queryFail({ code: '000603', sqlState: 'XX000', message }, queryId);
    }
  }
}
