// SELECT / INSERT / DELETE / UPDATE / MERGE over in-memory tables. Every statement computes the
// complete new row array first and only then swaps it in, so a failing statement changes nothing
// (statement-level atomicity, as in Snowflake).
import type { Expr, Select, Stmt } from './ast';
import { type Engine, type QueryResult, type Session, type Table } from './engine';
import { evaluate, resolveColumn, resultType, truth, type Binding, type Scope } from './eval';
import { SqlError } from './lexer';
import { coerce, compare, toJsonValue, type Cell, type ColType, type Typed } from './values';

const counts = (names: string[], values: number[], statementTypeId: number): QueryResult => ({
  columns: names.map((name) => ({ name, type: 'FIXED' as const })),
  rows: [values],
  statementTypeId,
});

const scopeOf = (engine: Engine, session: Session, bindings: Binding[]): Scope => ({
  engine,
  session,
  bindings,
});

function store(t: Table, colIdx: number, v: Typed): Cell {
  try {
    return coerce(toJsonValue(v), t.columns[colIdx]!.type);
  } catch (err) {
    if (err instanceof SqlError) throw err;
    throw new SqlError('100038', '22018', String(err));
  }
}

function targetColumns(t: Table, cols?: string[]): number[] {
  return (cols ?? t.columns.map((c) => c.name)).map((name) => {
    const i = t.columns.findIndex((c) => c.name === name);
    if (i < 0) throw new SqlError('000904', '42000', `SQL compilation error:\ninvalid identifier '${name}'`);
    return i;
  });
}

function buildRow(t: Table, colIdx: number[], values: Typed[]): Cell[] {
  if (values.length !== colIdx.length) {
    throw new SqlError(
      '002020',
      '21S01',
      `SQL compilation error:\nInsert value list does not match column list expecting ${colIdx.length} but got ${values.length}`,
    );
  }
  const row: Cell[] = t.columns.map(() => null);
  colIdx.forEach((ci, i) => (row[ci] = store(t, ci, values[i]!)));
  return row;
}

// Evaluates a SELECT into typed rows; used directly and as the source of INSERT ... SELECT.
function evalSelect(
  engine: Engine,
  s: Session,
  q: Select,
): { names: string[]; types: (ColType | undefined)[]; rows: Typed[][] } {
  const table = q.from ? engine.get(s, q.from.name) : undefined;
  const alias = q.from?.alias ?? table?.name ?? '';
  let scopes: Scope[] = table
    ? table.rows.map((row) => scopeOf(engine, s, [{ alias, table, row }]))
    : [scopeOf(engine, s, [])];
  if (q.where) scopes = scopes.filter((sc) => truth(evaluate(q.where!, sc)) === true);
  const isCount = (e: Expr | 'star') => e !== 'star' && e.k === 'fn' && e.name === 'COUNT';
  // Output names and, where known without looking at data, output types.
  const names: string[] = [];
  const types: (ColType | undefined)[] = [];
  for (const it of q.items) {
    if (it.expr === 'star') {
      if (!table)
        throw new SqlError('001003', '42000', 'SQL compilation error:\nSELECT * with no tables specified is not valid');
      names.push(...table.columns.map((c) => c.name));
      types.push(...table.columns.map((c) => c.type));
    } else {
      const e = it.expr;
      names.push(it.alias ?? (e.k === 'col' ? e.name : defaultName(it.text)));
      if (e.k === 'col' && table) types.push(table.columns[resolveColumn([{ alias, table, row: [] }], e)[1]]!.type);
      else types.push(isCount(e) ? 'FIXED' : undefined);
    }
  }
  if (q.items.some((it) => isCount(it.expr))) {
    if (q.items.length !== 1)
      throw new SqlError(
        '000979',
        '42601',
        'SQL compilation error:\nmixing aggregates is not supported (snowflake test bed)',
      );
    return { names, types, rows: [[{ type: 'FIXED', v: scopes.length }]] };
  }
  if (q.orderBy) {
    const keys = (sc: Scope) =>
      q.orderBy!.map(({ expr }) =>
        expr.k === 'lit' && typeof expr.v === 'number' ? itemValues(q, sc, table)[expr.v - 1] : evaluate(expr, sc),
      );
    const decorated = scopes.map((sc) => ({ sc, k: keys(sc) }));
    decorated.sort((a, b) => {
      for (let i = 0; i < a.k.length; i++) {
        const desc = q.orderBy![i]!.desc;
        const [x, y] = [a.k[i]!.v === null, b.k[i]!.v === null];
        // Snowflake default: NULLS LAST for ASC, NULLS FIRST for DESC.
        if (x || y) {
          if (x && y) continue;
          return (x ? 1 : -1) * (desc ? -1 : 1);
        }
        const c = compare(a.k[i]!, b.k[i]!) ?? 0;
        if (c) return desc ? -c : c;
      }
      return 0;
    });
    scopes = decorated.map((d) => d.sc);
  }
  if (q.limit !== undefined) scopes = scopes.slice(0, q.limit);
  return { names, types, rows: scopes.map((sc) => itemValues(q, sc, table)) };
}

function itemValues(q: Select, sc: Scope, table?: Table): Typed[] {
  return q.items.flatMap((it) =>
    it.expr === 'star'
      ? table!.columns.map((c, i) => ({ type: c.type, v: sc.bindings[0]!.row[i] ?? null }))
      : [evaluate(it.expr, sc)],
  );
}

// Snowflake names an unaliased expression after its text, upper-casing outside quotes.
function defaultName(text: string): string {
  return text.replace(/("[^"]*")|([^"]+)/g, (_m, q: string, o: string) => q ?? o.toUpperCase());
}

export function runSelect(engine: Engine, s: Session, q: Select): QueryResult {
  const { names, types: known, rows } = evalSelect(engine, s, q);
  const types = names.map((_, i) => known[i] ?? (rows.length ? resultType(rows[0]![i]!) : 'TEXT'));
  return {
    columns: names.map((name, i) => ({ name, type: types[i]! })),
    rows: rows.map((r) => r.map((v, i) => (v.v === null ? null : coerce(toJsonValue(v), types[i]!)))),
    statementTypeId: 0x1000,
  };
}

export function runInsert(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'insert' }>): QueryResult {
  const t = engine.get(s, st.table);
  const colIdx = targetColumns(t, st.columns);
  const sources = st.select
    ? evalSelect(engine, s, st.select).rows
    : st.values!.map((vals) => vals.map((e) => evaluate(e, scopeOf(engine, s, []))));
  const added = sources.map((vals) => buildRow(t, colIdx, vals));
  engine.touch(s, t);
  t.rows = [...t.rows, ...added];
  return counts(['number of rows inserted'], [added.length], 0x3100);
}

export function runDelete(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'delete' }>): QueryResult {
  const t = engine.get(s, st.table);
  const alias = st.alias ?? t.name;
  // Without WHERE every row goes; with it, rows where the condition is FALSE or NULL stay.
  const keep = st.where
    ? t.rows.filter((row) => truth(evaluate(st.where!, scopeOf(engine, s, [{ alias, table: t, row }]))) !== true)
    : [];
  const deleted = t.rows.length - keep.length;
  engine.touch(s, t);
  t.rows = keep;
  return counts(['number of rows deleted'], [deleted], 0x3300);
}

export function runUpdate(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'update' }>): QueryResult {
  const t = engine.get(s, st.table);
  const alias = st.alias ?? t.name;
  const idx = targetColumns(
    t,
    st.sets.map((x) => x.col),
  );
  let updated = 0;
  const rows = t.rows.map((row) => {
    const sc = scopeOf(engine, s, [{ alias, table: t, row }]);
    if (st.where && truth(evaluate(st.where, sc)) !== true) return row;
    updated++;
    const next = [...row];
    st.sets.forEach((x, i) => (next[idx[i]!] = store(t, idx[i]!, evaluate(x.expr, sc))));
    return next;
  });
  engine.touch(s, t);
  t.rows = rows;
  return counts(['number of rows updated', 'number of multi-joined rows updated'], [updated, 0], 0x3200);
}

export function runMerge(engine: Engine, s: Session, st: Extract<Stmt, { kind: 'merge' }>): QueryResult {
  const target = engine.get(s, st.target);
  const source = engine.get(s, st.source);
  const ta = st.targetAlias ?? target.name;
  const sa = st.sourceAlias ?? source.name;
  const matchedSources = new Set<number>();
  const out: Cell[][] = [];
  let [inserted, updated, deleted] = [0, 0, 0];
  for (const trow of target.rows) {
    const hits = source.rows
      .map((srow, i) => ({
        i,
        sc: scopeOf(engine, s, [
          { alias: ta, table: target, row: trow },
          { alias: sa, table: source, row: srow },
        ]),
      }))
      .filter(({ sc }) => truth(evaluate(st.on, sc)) === true);
    hits.forEach((h) => matchedSources.add(h.i));
    const clauses = st.clauses.filter((c) => c.matched);
    if (hits.length > 1 && clauses.length) {
      // ERROR_ON_NONDETERMINISTIC_MERGE defaults to TRUE in Snowflake.
      throw new SqlError(
        '100090',
        '42P18',
        `Duplicate row detected during DML action\nRow Values: ${JSON.stringify(trow.map(String))}`,
      );
    }
    const hit = hits[0];
    const clause = hit && clauses.find((c) => !c.cond || truth(evaluate(c.cond, hit.sc)) === true);
    if (!clause) {
      out.push(trow);
    } else if (clause.action === 'delete') {
      deleted++;
    } else {
      updated++;
      const next = [...trow];
      const idx = targetColumns(
        target,
        clause.sets!.map((x) => x.col),
      );
      clause.sets!.forEach((x, i) => (next[idx[i]!] = store(target, idx[i]!, evaluate(x.expr, hit.sc))));
      out.push(next);
    }
  }
  source.rows.forEach((srow, i) => {
    if (matchedSources.has(i)) return;
    const sc = scopeOf(engine, s, [{ alias: sa, table: source, row: srow }]);
    const clause = st.clauses.find((c) => !c.matched && (!c.cond || truth(evaluate(c.cond, sc)) === true));
    if (!clause) return;
    const vals = clause.values!.map((e) => evaluate(e, sc));
    out.push(buildRow(target, targetColumns(target, clause.columns), vals));
    inserted++;
  });
  engine.touch(s, target);
  target.rows = out;
  const names: string[] = [];
  const values: number[] = [];
  const has = (a: string) => st.clauses.some((c) => c.action === a);
  if (has('insert')) names.push('number of rows inserted') && values.push(inserted);
  if (has('update')) names.push('number of rows updated') && values.push(updated);
  if (has('delete')) names.push('number of rows deleted') && values.push(deleted);
  return counts(names, values, 0x3400);
}
