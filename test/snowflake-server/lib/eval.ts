// Expression evaluation over one or two table rows (two for MERGE). Column references resolve like
// Snowflake: qualifier = alias or table name, names compared exactly after identifier folding, so
// `uuid` (-> UUID) does not match a column created as "uuid".
import type { Expr } from './ast';
import type { Engine, Session, Table } from './engine';
import { SqlError } from './lexer';
import {
  coerce,
  compare,
  guessType,
  mapDeclaredType,
  toJsonValue,
  type Cell,
  type ColType,
  type Json,
  type Typed,
} from './values';

export interface Binding {
  alias: string;
  table: Table;
  row: Cell[];
}

export interface Scope {
  engine: Engine;
  session: Session;
  bindings: Binding[];
}

const invalidIdent = (raw: string) =>
  new SqlError('000904', '42000', `SQL compilation error: error line 1 at position 0\ninvalid identifier '${raw}'`);

export function resolveColumn(bindings: Binding[], e: Extract<Expr, { k: 'col' }>): [number, number] {
  const hits: [number, number][] = [];
  bindings.forEach((b, bi) => {
    if (e.qual && e.qual !== b.alias) return;
    const ci = b.table.columns.findIndex((c) => c.name === e.name);
    if (ci >= 0) hits.push([bi, ci]);
  });
  if (hits.length === 0) throw invalidIdent(e.raw);
  if (hits.length > 1) {
    throw new SqlError('002028', '42601', `SQL compilation error:\nambiguous column name '${e.raw}'`);
  }
  return hits[0]!;
}

const bool = (v: boolean | undefined): Typed => ({
  type: v === undefined ? 'NULL' : 'BOOLEAN',
  v: v ?? null,
});

export function evaluate(e: Expr, sc: Scope): Typed {
  switch (e.k) {
    case 'lit':
      return { type: e.v === null ? 'NULL' : 'LITERAL', v: e.v };
    case 'col': {
      const [bi, ci] = resolveColumn(sc.bindings, e);
      const b = sc.bindings[bi]!;
      return { type: b.table.columns[ci]!.type, v: b.row[ci] ?? null };
    }
    case 'and':
    case 'or': {
      const l = truth(evaluate(e.l, sc));
      const r = truth(evaluate(e.r, sc));
      if (e.k === 'and') return bool(l === false || r === false ? false : l && r ? true : undefined);
      return bool(l === true || r === true ? true : l === false && r === false ? false : undefined);
    }
    case 'not': {
      const v = truth(evaluate(e.e, sc));
      return bool(v === undefined ? undefined : !v);
    }
    case 'cmp': {
      const c = compare(evaluate(e.l, sc), evaluate(e.r, sc));
      if (c === undefined) return bool(undefined);
      const ops: Record<string, boolean> = {
        '=': c === 0,
        '<>': c !== 0,
        '<': c < 0,
        '<=': c <= 0,
        '>': c > 0,
        '>=': c >= 0,
      };
      return bool(ops[e.op]);
    }
    case 'isnull': {
      const v = evaluate(e.e, sc).v;
      return bool((v === null) !== e.neg);
    }
    case 'in': {
      const l = evaluate(e.e, sc);
      const cs = e.list.map((x) => compare(l, evaluate(x, sc)));
      const hit = cs.includes(0) ? true : cs.includes(undefined) ? undefined : false;
      return bool(hit === undefined ? undefined : hit !== e.neg);
    }
    case 'fn':
      return callFunction(e, sc);
  }
}

export function truth(t: Typed): boolean | undefined {
  if (t.v === null) return undefined;
  if (typeof t.v === 'boolean') return t.v;
  return coerce(toJsonValue(t), 'BOOLEAN') as boolean;
}

function callFunction(e: Extract<Expr, { k: 'fn' }>, sc: Scope): Typed {
  const s = sc.session;
  const text = (v: string | undefined): Typed => ({
    type: v === undefined ? 'NULL' : 'TEXT',
    v: v ?? null,
  });
  const arg = (i: number) => evaluate(e.args[i]!, sc);
  switch (e.name) {
    case 'CURRENT_DATABASE':
      return text(s.database);
    case 'CURRENT_SCHEMA':
      return text(s.schema);
    case 'CURRENT_WAREHOUSE':
      return text(s.warehouse);
    case 'CURRENT_ROLE':
      return text(s.role);
    case 'CURRENT_USER':
      return text(s.user);
    case 'CURRENT_SESSION':
      return text(String(s.id));
    case 'CURRENT_VERSION':
      return text('9.0.0');
    case 'PARSE_JSON': {
      const v = arg(0);
      return v.v === null ? v : { type: 'VARIANT', v: { variant: JSON.parse(String(toJsonValue(v))) as Json } };
    }
    case 'TO_TIMESTAMP':
    case 'TO_TIMESTAMP_NTZ':
      return cast(arg(0), 'TIMESTAMP_NTZ');
    case '::': {
      const type = mapDeclaredType(e.raw);
      if (!type) throw new SqlError('002040', '42601', `SQL compilation error:\nUnsupported data type '${e.raw}'.`);
      return cast(arg(0), type);
    }
    case 'COUNT':
      throw new SqlError(
        '000979',
        '42601',
        'SQL compilation error:\nCOUNT is only supported as the sole select item (snowflake test bed)',
      );
    default:
      throw new SqlError('002140', '42601', `SQL compilation error:\nUnknown function ${e.name}`);
  }
}

function cast(t: Typed, type: ColType): Typed {
  if (t.v === null) return t;
  return { type, v: coerce(toJsonValue(t), type) };
}

// Type used for a SELECT output column.
export function resultType(t: Typed): ColType {
  return t.type === 'LITERAL' || t.type === 'NULL' ? (t.v === null ? 'TEXT' : guessType(t.v)) : t.type;
}
