// In-memory catalog, sessions and statement dispatch. Tables keep rows as immutable arrays (every
// DML builds a new array) so a transaction can be rolled back by restoring the array references
// captured the first time the transaction touched a table.
import fs from 'node:fs';
import path from 'node:path';
import type { Name, Stmt } from './ast';
import { alterTableAdd, createTable, dropTable } from './ddl';
import { preparePut, runCopy, runRemoveOrList, type PutInfo } from './stage';
import { runDelete, runInsert, runMerge, runSelect, runUpdate } from './dml';
import { SqlError } from './lexer';
import type { Cell, ColType, Column } from './values';

export interface LoadRecord {
  checksum: string;
  rows: number;
  loadedAt: Date;
}

export interface Table {
  id: number;
  db: string;
  schema: string;
  name: string;
  columns: Column[];
  rows: Cell[][];
  temporary: boolean;
  owner?: number;
  stageDir: string;
  // COPY load metadata: stage-relative path -> checksum of the content that was loaded.
  loadHistory: Map<string, LoadRecord>;
}

export interface Session {
  id: number;
  user: string;
  role?: string;
  warehouse?: string;
  database?: string;
  schema?: string;
  params: Record<string, string>;
  txn?: Map<Table, { rows: Cell[][]; loadHistory: Map<string, LoadRecord> }>;
}

export interface QueryResult {
  columns: { name: string; type: ColType }[];
  rows: Cell[][];
  statementTypeId: number;
}

export type Outcome = { result: QueryResult } | { put: PutInfo };

export const STATUS = (msg: string): QueryResult => ({
  columns: [{ name: 'status', type: 'TEXT' }],
  rows: [[msg]],
  statementTypeId: 0x6000,
});

export const notExists = (what: string, raw: string, code = '002003', sqlState = '02000') =>
  new SqlError(code, sqlState, `SQL compilation error:\n${what} '${raw}' does not exist or not authorized.`);

export const rawName = (n: Name) => n.map((p) => p.raw).join('.');
const DDL = ['createTable', 'dropTable', 'alterTableAdd', 'createDb', 'createSchema'];

export class Engine {
  readonly tables: Table[] = [];
  readonly databases = new Map<string, Set<string>>();
  private nextTableId = 1;

  constructor(
    readonly stageRoot: string,
    private readonly strictCatalog: boolean,
    /** Whether COPY keeps the rows it loads; without, it counts them (a benchmark's big loads). */
    readonly keepLoadedRows = true,
  ) {}

  ensureSchema(db: string, schema?: string): void {
    if (!this.databases.has(db)) this.databases.set(db, new Set());
    if (schema) this.databases.get(db)!.add(schema);
  }

  checkExists(db: string, schema?: string, raw = db): void {
    if (!this.strictCatalog) return this.ensureSchema(db, schema);
    if (!this.databases.has(db)) throw notExists('Database', raw, '002043', '02000');
    if (schema && !this.databases.get(db)!.has(schema)) throw notExists('Schema', raw, '002043');
  }

  // Fills in the session's current database/schema like Snowflake's name resolution does.
  qualify(s: Session, name: Name): { db: string; schema: string; name: string } {
    const parts = name.map((p) => p.value);
    const [obj, sch, db] = [parts.at(-1)!, parts.at(-2) ?? s.schema, parts.at(-3) ?? s.database];
    if (!db || !sch) {
      throw new SqlError(
        '090105',
        '22000',
        `Cannot perform operation. This session does not have a current ${db ? 'schema' : 'database'}. Call 'USE ${db ? 'SCHEMA' : 'DATABASE'}', or use a qualified name.`,
      );
    }
    return { db, schema: sch, name: obj };
  }

  find(s: Session, name: Name): Table | undefined {
    const q = this.qualify(s, name);
    const same = (t: Table) => t.db === q.db && t.schema === q.schema && t.name === q.name;
    // A session's temporary table shadows a permanent table with the same name.
    return (
      this.tables.find((t) => same(t) && t.temporary && t.owner === s.id) ??
      this.tables.find((t) => same(t) && !t.temporary)
    );
  }

  get(s: Session, name: Name): Table {
    const t = this.find(s, name);
    if (!t) throw notExists('Object', rawName(name), '002003', '42S02');
    return t;
  }

  // Called by every DML before it replaces a table's rows so ROLLBACK can restore them.
  touch(s: Session, t: Table): void {
    if (s.txn && !s.txn.has(t)) s.txn.set(t, { rows: t.rows, loadHistory: new Map(t.loadHistory) });
  }

  rollback(s: Session): void {
    for (const [t, snap] of s.txn ?? []) {
      t.rows = snap.rows;
      t.loadHistory = snap.loadHistory;
    }
    s.txn = undefined;
  }

  closeSession(s: Session): void {
    this.rollback(s); // an open transaction is rolled back when its session ends
    for (const t of this.tables.filter((t) => t.temporary && t.owner === s.id)) this.remove(t);
  }

  // Each table object gets its own stage directory, so DROP + CREATE starts with an empty stage.
  allocateStage(): { id: number; stageDir: string } {
    const id = this.nextTableId++;
    const stageDir = path.join(this.stageRoot, `table-${id}`);
    fs.mkdirSync(stageDir, { recursive: true });
    return { id, stageDir };
  }

  remove(t: Table): void {
    this.tables.splice(this.tables.indexOf(t), 1);
    fs.rmSync(t.stageDir, { recursive: true, force: true }); // the table stage goes with it
  }

  execute(s: Session, st: Stmt): Outcome {
    // Snowflake runs DDL in its own transaction and commits any open one first.
    if (DDL.includes(st.kind)) s.txn = undefined;
    switch (st.kind) {
      case 'use':
        return { result: this.use(s, st.what, st.name) };
      case 'createDb':
      case 'createSchema': {
        const parts = st.name.map((p) => p.value);
        const db = st.kind === 'createDb' ? parts[0] : (parts.at(-2) ?? s.database);
        if (!db) throw new SqlError('090105', '22000', 'This session does not have a current database.');
        const exists = st.kind === 'createDb' ? this.databases.has(db) : !!this.databases.get(db)?.has(parts.at(-1)!);
        if (exists && !st.ifNotExists) {
          throw new SqlError('002002', '42710', `SQL compilation error:\nObject '${rawName(st.name)}' already exists.`);
        }
        this.ensureSchema(db, st.kind === 'createDb' ? 'PUBLIC' : parts.at(-1));
        if (st.kind === 'createDb') Object.assign(s, { database: db, schema: 'PUBLIC' });
        else Object.assign(s, { database: db, schema: parts.at(-1) });
        return {
          result: STATUS(
            exists
              ? `${parts.at(-1)} already exists, statement succeeded.`
              : `${st.kind === 'createDb' ? 'Database' : 'Schema'} ${parts.at(-1)} successfully created.`,
          ),
        };
      }
      case 'createTable':
        return { result: createTable(this, s, st) };
      case 'dropTable':
        return { result: dropTable(this, s, st) };
      case 'alterTableAdd':
        return { result: alterTableAdd(this, s, st) };
      case 'truncate': {
        const t = this.find(s, st.name);
        if (!t && !st.ifExists) throw notExists('Table', rawName(st.name), '002003', '42S02');
        if (t) {
          this.touch(s, t);
          t.rows = [];
          t.loadHistory = new Map(); // unlike DELETE, TRUNCATE also forgets load metadata
        }
        return { result: STATUS('Statement executed successfully.') };
      }
      case 'begin':
        s.txn ??= new Map();
        return { result: STATUS('Statement executed successfully.') };
      case 'commit':
        s.txn = undefined;
        return { result: STATUS('Statement executed successfully.') };
      case 'rollback':
        this.rollback(s);
        return { result: STATUS('Statement executed successfully.') };
      case 'alterSession':
        Object.assign(s.params, st.sets);
        return { result: STATUS('Statement executed successfully.') };
      case 'put':
        return { put: preparePut(this, s, st) };
      case 'copy':
        return { result: runCopy(this, s, st) };
      case 'remove':
      case 'list':
        return { result: runRemoveOrList(this, s, st) };
      case 'select':
        return { result: runSelect(this, s, st.select) };
      case 'insert':
        return { result: runInsert(this, s, st) };
      case 'delete':
        return { result: runDelete(this, s, st) };
      case 'update':
        return { result: runUpdate(this, s, st) };
      case 'merge':
        return { result: runMerge(this, s, st) };
    }
  }

  private use(s: Session, what: string, name: Name): QueryResult {
    const parts = name.map((p) => p.value);
    if (what === 'WAREHOUSE') s.warehouse = parts[0];
    else if (what === 'ROLE') s.role = parts[0];
    else if (what === 'DATABASE') {
      this.checkExists(parts[0]!, undefined, rawName(name));
      Object.assign(s, { database: parts[0], schema: 'PUBLIC' });
    } else {
      const db = parts.length > 1 ? parts[0] : s.database;
      if (!db) throw new SqlError('090105', '22000', 'This session does not have a current database.');
      this.checkExists(db, parts.at(-1), rawName(name));
      Object.assign(s, { database: db, schema: parts.at(-1) });
    }
    return STATUS('Statement executed successfully.');
  }
}
