// Table DDL: CREATE [OR REPLACE] [TEMPORARY|TRANSIENT] TABLE [IF NOT EXISTS] (... | LIKE ...),
// DROP TABLE [IF EXISTS] and ALTER TABLE ... ADD COLUMN.
import type { ColumnDef, Stmt } from './ast';
import { notExists, rawName, STATUS, type Engine, type QueryResult, type Session } from './engine';
import { SqlError } from './lexer';
import { mapDeclaredType, type Column } from './values';

function toColumns(defs: ColumnDef[]): Column[] {
  return defs.map((c) => {
    const type = mapDeclaredType(c.declared);
    if (!type) {
      throw new SqlError(
        '001003',
        '42000',
        `SQL compilation error:\nunsupported data type '${c.declared}' (snowflake test bed)`,
      );
    }
    return { name: c.name, type, declared: c.declared };
  });
}

export function createTable(e: Engine, s: Session, st: Extract<Stmt, { kind: 'createTable' }>): QueryResult {
  const q = e.qualify(s, st.name);
  e.checkExists(q.db, q.schema, rawName(st.name));
  const existing = e.find(s, st.name);
  // A temporary table may shadow a permanent one of the same name.
  if (existing && (existing.temporary || !st.temporary)) {
    if (st.ifNotExists) return STATUS(`${q.name} already exists, statement succeeded.`);
    if (!st.orReplace) {
      const msg = `SQL compilation error:\nObject '${rawName(st.name)}' already exists.`;
      throw new SqlError('002002', '42710', msg);
    }
    e.remove(existing);
  }
  const columns = st.like ? e.get(s, st.like).columns.map((c) => ({ ...c })) : toColumns(st.columns ?? []);
  e.tables.push({
    ...e.allocateStage(),
    ...q,
    columns,
    rows: [],
    temporary: st.temporary,
    owner: st.temporary ? s.id : undefined,
    loadHistory: new Map(),
  });
  return STATUS(`Table ${q.name} successfully created.`);
}

export function dropTable(e: Engine, s: Session, st: Extract<Stmt, { kind: 'dropTable' }>): QueryResult {
  const t = e.find(s, st.name);
  if (!t) {
    if (!st.ifExists) throw notExists('Table', rawName(st.name), '002003', '42S02');
    const name = st.name.at(-1)!.value;
    return STATUS(`Drop statement executed successfully (${name} already dropped).`);
  }
  e.remove(t);
  return STATUS(`${t.name} successfully dropped.`);
}

export function alterTableAdd(e: Engine, s: Session, st: Extract<Stmt, { kind: 'alterTableAdd' }>): QueryResult {
  const t = e.find(s, st.name);
  if (!t) {
    if (st.ifExists) return STATUS('Statement executed successfully.');
    throw notExists('Table', rawName(st.name), '002003', '42S02');
  }
  const added = toColumns(st.columns).filter((c) => {
    if (!t.columns.some((x) => x.name === c.name)) return true;
    if (st.ifNotExists) return false;
    throw new SqlError('001430', '42601', `SQL compilation error:\ncolumn '${c.name}' already exists`);
  });
  t.columns = [...t.columns, ...added];
  t.rows = t.rows.map((r) => [...r, ...added.map(() => null)]);
  return STATUS('Statement executed successfully.');
}
