// Token cursor plus the pieces shared by all statements: names, stage references, bind
// parameters and the expression grammar (OR/AND/NOT, comparisons, IS NULL, IN, calls, ::casts).
import type { Expr, Ident, Name, StageRef } from './ast';
import { readQuoted, syntaxError, type Token } from './lexer';
import type { Json } from './values';

export type Bindings = Record<string, { type: string; value: unknown }>;

const RESERVED = new Set(
  'WHERE USING ON SET WHEN ORDER LIMIT GROUP FROM AND OR NOT VALUES SELECT JOIN INNER LEFT THEN'.split(' '),
);

export class TokenStream {
  protected i = 0;
  protected nextParam = 1;
  constructor(
    protected sql: string,
    protected t: Token[],
    protected binds?: Bindings,
  ) {}

  peek(o = 0): Token {
    return this.t[Math.min(this.i + o, this.t.length - 1)]!;
  }
  next(): Token {
    return this.t[Math.min(this.i++, this.t.length - 1)]!;
  }
  fail(why?: string, tok = this.peek()): never {
    throw syntaxError(this.sql, tok.pos, tok.raw, why);
  }
  isKw(...kws: string[]): boolean {
    const p = this.peek();
    return p.kind === 'ident' && kws.includes(p.value);
  }
  kw(...kws: string[]): string | undefined {
    return this.isKw(...kws) ? this.next().value : undefined;
  }
  expectKw(...kws: string[]): string {
    return this.kw(...kws) ?? this.fail();
  }
  op(o: string): boolean {
    const p = this.peek();
    if (p.kind === 'op' && p.value === o) return !!this.next();
    return false;
  }
  expectOp(o: string): void {
    if (!this.op(o)) this.fail();
  }
  atEnd(): boolean {
    this.op(';');
    return this.peek().kind === 'eof';
  }
  ident(): Ident {
    const p = this.peek();
    if (p.kind !== 'ident' && p.kind !== 'qident') this.fail();
    this.next();
    return { value: p.value, raw: p.raw };
  }
  name(): Name {
    const parts = [this.ident()];
    while (parts.length < 3 && this.op('.')) parts.push(this.ident());
    return parts;
  }
  alias(): string | undefined {
    if (this.kw('AS')) return this.ident().value;
    const p = this.peek();
    if ((p.kind === 'ident' && !RESERVED.has(p.value)) || p.kind === 'qident') return this.ident().value;
    return undefined;
  }
  optionValue(): string {
    const p = this.next();
    if (p.kind === 'ident' || p.kind === 'number') return p.value.toUpperCase();
    if (p.kind === 'string') return p.value.toUpperCase();
    return this.fail(undefined, p);
  }
  stage(): StageRef {
    const tok = this.peek();
    const raw = tok.kind === 'stage' ? tok.raw : tok.kind === 'string' ? tok.value : this.fail();
    this.next();
    if (!raw.startsWith('@%')) this.fail('only table stages (@%table) are modelled', tok);
    let i = 2;
    const table: Name = [];
    for (;;) {
      if (raw[i] === '"') {
        const q = readQuoted(raw, i);
        table.push({ value: q.value, raw: raw.slice(i, q.end) });
        i = q.end;
      } else {
        const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(raw.slice(i)) ?? this.fail('bad stage name', tok);
        table.push({ value: m[0].toUpperCase(), raw: m[0] });
        i += m[0].length;
      }
      if (raw[i] !== '.') break;
      i++;
    }
    const rest = raw.slice(i);
    if (rest && !rest.startsWith('/')) this.fail('bad stage path', tok);
    return { table, path: rest.replace(/^\/+/, ''), raw };
  }

  assignments(): { col: string; expr: Expr }[] {
    const sets = [];
    do {
      let col = this.ident().value;
      if (this.op('.')) col = this.ident().value; // alias-qualified target column
      this.expectOp('=');
      sets.push({ col, expr: this.expr() });
    } while (this.op(','));
    return sets;
  }

  columnList(): string[] {
    const cols = [];
    do cols.push(this.ident().value);
    while (this.op(','));
    this.expectOp(')');
    return cols;
  }

  exprList(): Expr[] {
    const list = [];
    do list.push(this.expr());
    while (this.op(','));
    return list;
  }

  expr(): Expr {
    let l = this.andExpr();
    while (this.kw('OR')) l = { k: 'or', l, r: this.andExpr() };
    return l;
  }
  andExpr(): Expr {
    let l = this.notExpr();
    while (this.kw('AND')) l = { k: 'and', l, r: this.notExpr() };
    return l;
  }
  notExpr(): Expr {
    return this.kw('NOT') ? { k: 'not', e: this.notExpr() } : this.predicate();
  }
  predicate(): Expr {
    const l = this.primary();
    const p = this.peek();
    if (p.kind === 'op' && ['=', '<', '>', '<=', '>=', '<>', '!='].includes(p.value)) {
      this.next();
      return { k: 'cmp', op: p.value === '!=' ? '<>' : p.value, l, r: this.primary() };
    }
    if (this.kw('IS')) {
      const neg = !!this.kw('NOT');
      this.expectKw('NULL');
      return { k: 'isnull', e: l, neg };
    }
    const neg = this.isKw('NOT') && this.peek(1).value === 'IN' ? !!this.next() : false;
    if (this.kw('IN')) {
      this.expectOp('(');
      const list = this.exprList();
      this.expectOp(')');
      return { k: 'in', e: l, list, neg };
    }
    return l;
  }
  primary(): Expr {
    const p = this.next();
    let e: Expr;
    if (p.kind === 'string') e = { k: 'lit', v: p.value, raw: p.raw };
    else if (p.kind === 'number') e = { k: 'lit', v: Number(p.value), raw: p.raw };
    else if (p.kind === 'param') e = this.param(p);
    else if (p.kind === 'op' && p.value === '-' && this.peek().kind === 'number') {
      const n = this.next();
      e = { k: 'lit', v: -Number(n.value), raw: '-' + n.raw };
    } else if (p.kind === 'op' && p.value === '(') {
      e = this.expr();
      this.expectOp(')');
    } else if (p.kind === 'ident' && ['NULL', 'TRUE', 'FALSE'].includes(p.value)) {
      e = { k: 'lit', v: p.value === 'NULL' ? null : p.value === 'TRUE', raw: p.raw };
    } else if ((p.kind === 'ident' || p.kind === 'qident') && this.peek().value === '(' && this.peek().kind === 'op') {
      this.next();
      const star = this.op('*');
      const args = star || this.peek().value === ')' ? [] : this.exprList();
      this.expectOp(')');
      e = { k: 'fn', name: p.value, args, star, raw: '' };
    } else if (p.kind === 'ident' || p.kind === 'qident') {
      if (this.op('.')) {
        const c = this.ident();
        e = { k: 'col', qual: p.value, name: c.value, raw: `${p.raw}.${c.raw}` };
      } else {
        e = { k: 'col', name: p.value, raw: p.raw };
      }
    } else {
      return this.fail(undefined, p);
    }
    while (this.op('::')) e = { k: 'fn', name: '::', args: [e], star: false, raw: this.ident().value };
    return e;
  }
  param(p: Token): Expr {
    const idx = p.value === '?' ? String(this.nextParam++) : p.value;
    const b = this.binds?.[idx];
    if (!b) this.fail(`missing bind variable ${idx}`, p);
    if (Array.isArray(b.value)) this.fail('array binds not supported', p);
    const s = b.value as string | null;
    const v: Json =
      s === null ? null : b.type === 'FIXED' || b.type === 'REAL' ? Number(s) : b.type === 'BOOLEAN' ? s === 'true' : s;
    return { k: 'lit', v, raw: p.raw };
  }
}
