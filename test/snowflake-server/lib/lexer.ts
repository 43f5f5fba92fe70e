// Tokenizer for the small SQL dialect the fake understands. It follows Snowflake's lexical rules
// where they matter for identifier resolution: unquoted identifiers fold to UPPER case, "quoted"
// ones are kept verbatim (with "" as an escaped quote), and string literals accept both '' and
// backslash escapes.

export class SqlError extends Error {
  constructor(
    readonly code: string,
    readonly sqlState: string,
    message: string,
  ) {
    super(message);
  }
}

// Snowflake's generic "I can't parse this" error; the fake uses it for anything it does not model
// so that an unsupported statement fails loudly instead of silently succeeding.
export function syntaxError(sql: string, pos: number, near: string, why?: string): SqlError {
  const before = sql.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - (before.lastIndexOf('\n') + 1);
  const hint = why ? ` (snowflake test bed: ${why})` : '';
  return new SqlError(
    '001003',
    '42000',
    `SQL compilation error:\nsyntax error line ${line} at position ${col} unexpected '${near}'.${hint}`,
  );
}

export type TokenKind = 'ident' | 'qident' | 'string' | 'number' | 'op' | 'param' | 'stage' | 'eof';

export interface Token {
  kind: TokenKind;
  value: string; // normalized: identifiers folded/unquoted, strings unescaped
  raw: string; // exact source text
  pos: number;
}

const OPS = ['<=', '>=', '<>', '!=', '::', '||', '=', '<', '>', '(', ')', ',', '.', '*', ';', '+', '-', '/'];

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const push = (kind: TokenKind, value: string, start: number) =>
    out.push({ kind, value, raw: sql.slice(start, i), pos: start });
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i) || sql.startsWith('//', i)) {
      while (i < sql.length && sql[i] !== '\n') i++;
    } else if (sql.startsWith('/*', i)) {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'") {
      const start = i;
      let v = '';
      i++;
      for (;;) {
        if (i >= sql.length) throw syntaxError(sql, start, "'", 'unterminated string literal');
        const ch = sql[i];
        if (ch === '\\' && i + 1 < sql.length) {
          const n = sql[i + 1];
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '0' ? '\0' : n;
          i += 2;
        } else if (ch === "'" && sql[i + 1] === "'") {
          v += "'";
          i += 2;
        } else if (ch === "'") {
          i++;
          break;
        } else {
          v += ch;
          i++;
        }
      }
      push('string', v, start);
    } else if (c === '"') {
      const start = i;
      const v = readQuoted(sql, i);
      i = v.end;
      push('qident', v.value, start);
    } else if (c === '@') {
      // Stage references (@%"tbl"/prefix/, @"db"."s"."stage") run until whitespace, a comma or a
      // closing parenthesis that is not inside double quotes.
      const start = i;
      i = scanStageRef(sql, i);
      push('stage', sql.slice(start, i), start);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const start = i;
      const m = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(sql.slice(i));
      i += m ? m[0].length : 1;
      push('number', sql.slice(start, i), start);
    } else if (/[A-Za-z_$]/.test(c)) {
      const start = i;
      while (i < sql.length && /[A-Za-z0-9_$]/.test(sql[i]!)) i++;
      push('ident', sql.slice(start, i).toUpperCase(), start);
    } else if (c === '?') {
      const start = i++;
      push('param', '?', start);
    } else if (c === ':' && /[0-9]/.test(sql[i + 1] ?? '')) {
      const start = i++;
      while (i < sql.length && /[0-9]/.test(sql[i]!)) i++;
      push('param', sql.slice(start + 1, i), start);
    } else {
      const op = OPS.find((o) => sql.startsWith(o, i));
      if (!op) throw syntaxError(sql, i, c);
      const start = i;
      i += op.length;
      push('op', op, start);
    }
  }
  out.push({ kind: 'eof', value: '', raw: '<EOF>', pos: sql.length });
  return out;
}

export function readQuoted(s: string, start: number): { value: string; end: number } {
  let v = '';
  let i = start + 1;
  for (;;) {
    if (i >= s.length) throw syntaxError(s, start, '"', 'unterminated quoted identifier');
    if (s[i] === '"' && s[i + 1] === '"') {
      v += '"';
      i += 2;
    } else if (s[i] === '"') {
      return { value: v, end: i + 1 };
    } else {
      v += s[i++];
    }
  }
}

export function scanStageRef(s: string, start: number): number {
  let i = start;
  let quoted = false;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (/\s/.test(ch!) || ch === ',' || ch === ')' || ch === ';')) break;
    i++;
  }
  return i;
}

// Splits on top-level semicolons so that a multi-statement request can be rejected the same way
// Snowflake does when MULTI_STATEMENT_COUNT is left at its default of 1.
export function splitStatements(sql: string): string[] {
  const toks = tokenize(sql);
  const parts: string[] = [];
  let start = 0;
  for (const t of toks) {
    if ((t.kind === 'op' && t.value === ';') || t.kind === 'eof') {
      const text = sql.slice(start, t.pos).trim();
      if (text) parts.push(text);
      start = t.pos + 1;
    }
  }
  return parts;
}
