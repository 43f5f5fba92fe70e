// Recursive-descent parser for exactly the statement shapes a batch-export destination issues.
// It is deliberately strict: an unknown keyword or option raises 001003 instead of being skipped.
import type { ColumnDef, Expr, MergeClause, Select, Stmt } from './ast';
import { tokenize } from './lexer';
import { parseCopy, parsePut, parseRemoveOrList } from './parse-stage';
import { TokenStream, type Bindings } from './token-stream';

export type { Bindings } from './token-stream';

export function parseStatement(sql: string, binds?: Bindings): Stmt {
  if (/^\s*PUT\s/i.test(sql)) return parsePut(sql);
  return new Parser(sql, tokenize(sql), binds).statement();
}

const STATEMENT_KEYWORDS = (
  'USE CREATE DROP TRUNCATE COPY REMOVE RM LIST LS DELETE UPDATE MERGE INSERT SELECT ' +
  'BEGIN START COMMIT ROLLBACK ALTER'
).split(' ');

class Parser extends TokenStream {
  statement(): Stmt {
    const s = this.body();
    if (!this.atEnd()) this.fail();
    return s;
  }

  private body(): Stmt {
    const k = this.expectKw(...STATEMENT_KEYWORDS);
    switch (k) {
      case 'USE': {
        const what = (this.kw('WAREHOUSE', 'DATABASE', 'SCHEMA', 'ROLE') ?? 'DATABASE') as 'DATABASE';
        return { kind: 'use', what, name: this.name() };
      }
      case 'CREATE':
        return this.create();
      case 'DROP': {
        this.expectKw('TABLE');
        const ifExists = !!this.kw('IF') && !!this.expectKw('EXISTS');
        return { kind: 'dropTable', ifExists, name: this.name() };
      }
      case 'TRUNCATE': {
        this.kw('TABLE');
        const ifExists = !!this.kw('IF') && !!this.expectKw('EXISTS');
        return { kind: 'truncate', ifExists, name: this.name() };
      }
      case 'COPY':
        return parseCopy(this);
      case 'REMOVE':
      case 'RM':
      case 'LIST':
      case 'LS':
        return parseRemoveOrList(this, k);
      case 'DELETE': {
        this.expectKw('FROM');
        const table = this.name();
        const alias = this.alias();
        return { kind: 'delete', table, alias, where: this.kw('WHERE') ? this.expr() : undefined };
      }
      case 'UPDATE': {
        const table = this.name();
        const alias = this.alias();
        this.expectKw('SET');
        const sets = this.assignments();
        return {
          kind: 'update',
          table,
          alias,
          sets,
          where: this.kw('WHERE') ? this.expr() : undefined,
        };
      }
      case 'MERGE':
        return this.merge();
      case 'INSERT': {
        this.expectKw('INTO');
        const table = this.name();
        const columns = this.op('(') ? this.columnList() : undefined;
        if (this.kw('VALUES')) {
          const values: Expr[][] = [];
          do {
            this.expectOp('(');
            values.push(this.exprList());
            this.expectOp(')');
          } while (this.op(','));
          return { kind: 'insert', table, columns, values };
        }
        this.expectKw('SELECT');
        return { kind: 'insert', table, columns, select: this.select() };
      }
      case 'SELECT':
        return { kind: 'select', select: this.select() };
      case 'BEGIN':
        this.kw('WORK', 'TRANSACTION');
        return { kind: 'begin' };
      case 'START':
        this.expectKw('TRANSACTION');
        return { kind: 'begin' };
      case 'COMMIT':
      case 'ROLLBACK':
        this.kw('WORK');
        return { kind: k === 'COMMIT' ? 'commit' : 'rollback' };
      default: {
        if (this.expectKw('SESSION', 'TABLE') === 'TABLE') return this.alterTable();
        this.expectKw('SET');
        const sets: Record<string, string> = {};
        do {
          const key = this.ident().value;
          this.expectOp('=');
          sets[key] = this.peek().kind === 'string' ? this.next().value : this.optionValue();
        } while (!this.atEnd());
        return { kind: 'alterSession', sets };
      }
    }
  }

  private create(): Stmt {
    const orReplace = !!this.kw('OR') && !!this.expectKw('REPLACE');
    this.kw('LOCAL', 'GLOBAL');
    const mod = this.kw('TEMPORARY', 'TEMP', 'VOLATILE', 'TRANSIENT');
    const what = this.expectKw('TABLE', 'DATABASE', 'SCHEMA');
    const ifNotExists = !!this.kw('IF') && !!this.expectKw('NOT') && !!this.expectKw('EXISTS');
    const name = this.name();
    if (what !== 'TABLE') {
      return { kind: what === 'DATABASE' ? 'createDb' : 'createSchema', name, ifNotExists };
    }
    const temporary = !!mod && mod !== 'TRANSIENT';
    const base = { kind: 'createTable' as const, name, orReplace, ifNotExists, temporary };
    const like = this.kw('LIKE') ? this.name() : undefined;
    const columns = like ? undefined : this.op('(') && this.columnDefs();
    if (columns) this.expectOp(')');
    // A table COMMENT is accepted and ignored: it has no effect on data.
    if (this.kw('COMMENT')) {
      this.expectOp('=');
      if (this.next().kind !== 'string') this.fail('COMMENT needs a string');
    }
    return { ...base, like, columns: columns || undefined };
  }

  private columnDefs(): ColumnDef[] {
    const columns = [];
    do {
      const col = this.ident().value;
      const typeStart = this.peek();
      this.ident();
      let end = typeStart.pos + typeStart.raw.length;
      if (this.op('(')) {
        while (!this.op(')')) if (this.next().kind === 'eof') this.fail();
        end = this.t[this.i - 1]!.pos + 1;
      }
      const declared = this.sql.slice(typeStart.pos, end);
      if (this.kw('NOT')) this.expectKw('NULL');
      else this.kw('NULL');
      columns.push({ name: col, declared });
    } while (this.op(','));
    return columns;
  }

  // ALTER TABLE t ADD [COLUMN] [IF NOT EXISTS] c type [, c type ...] (schema evolution).
  private alterTable(): Stmt {
    const ifExists = !!this.kw('IF') && !!this.expectKw('EXISTS');
    const name = this.name();
    this.expectKw('ADD');
    this.kw('COLUMN');
    const ifNotExists = !!this.kw('IF') && !!this.expectKw('NOT') && !!this.expectKw('EXISTS');
    return { kind: 'alterTableAdd', name, ifExists, ifNotExists, columns: this.columnDefs() };
  }

  private merge(): Stmt {
    this.expectKw('INTO');
    const target = this.name();
    const targetAlias = this.alias();
    this.expectKw('USING');
    if (this.peek().value === '(') this.fail('MERGE USING (subquery) not supported');
    const source = this.name();
    const sourceAlias = this.alias();
    this.expectKw('ON');
    const on = this.expr();
    const clauses: MergeClause[] = [];
    while (this.kw('WHEN')) {
      const matched = !this.kw('NOT');
      this.expectKw('MATCHED');
      const cond = this.kw('AND') ? this.expr() : undefined;
      this.expectKw('THEN');
      const a = this.expectKw(...(matched ? ['UPDATE', 'DELETE'] : ['INSERT']));
      if (a === 'UPDATE') {
        this.expectKw('SET');
        clauses.push({ matched, cond, action: 'update', sets: this.assignments() });
      } else if (a === 'DELETE') {
        clauses.push({ matched, cond, action: 'delete' });
      } else {
        const columns = this.op('(') ? this.columnList() : undefined;
        this.expectKw('VALUES');
        this.expectOp('(');
        const values = this.exprList();
        this.expectOp(')');
        clauses.push({ matched, cond, action: 'insert', columns, values });
      }
    }
    if (!clauses.length) this.fail();
    return { kind: 'merge', target, targetAlias, source, sourceAlias, on, clauses };
  }

  private select(): Select {
    const items: Select['items'] = [];
    do {
      const start = this.peek().pos;
      if (this.op('*')) {
        items.push({ expr: 'star', text: '*' });
        continue;
      }
      const expr = this.expr();
      const last = this.t[this.i - 1];
      const text = this.sql.slice(start, last!.pos + last!.raw.length);
      items.push({ expr, text, alias: this.alias() });
    } while (this.op(','));
    const s: Select = { items };
    if (this.kw('FROM')) {
      if (this.peek().value === '(') this.fail('subqueries not supported');
      s.from = { name: this.name(), alias: this.alias() };
    }
    if (this.kw('WHERE')) s.where = this.expr();
    if (this.kw('ORDER')) {
      this.expectKw('BY');
      s.orderBy = [];
      do {
        const expr = this.expr();
        const desc = this.kw('ASC', 'DESC') === 'DESC';
        s.orderBy.push({ expr, desc });
      } while (this.op(','));
    }
    if (this.kw('LIMIT')) s.limit = Number(this.next().value);
    return s;
  }
}
