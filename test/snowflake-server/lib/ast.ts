// Statement shapes the fake executes. Anything that does not parse into one of these is rejected
// with a Snowflake-style compilation error.
import type { Json } from './values';

export interface Ident {
  value: string; // resolved name: unquoted identifiers upper-cased, quoted kept verbatim
  raw: string; // as written, used in error messages
}
export type Name = Ident[]; // 1..3 parts: [db.][schema.]object

export type Expr =
  | { k: 'lit'; v: Json; raw: string }
  | { k: 'col'; qual?: string; name: string; raw: string }
  | { k: 'and' | 'or'; l: Expr; r: Expr }
  | { k: 'not'; e: Expr }
  | { k: 'cmp'; op: string; l: Expr; r: Expr }
  | { k: 'isnull'; e: Expr; neg: boolean }
  | { k: 'in'; e: Expr; list: Expr[]; neg: boolean }
  | { k: 'fn'; name: string; args: Expr[]; star: boolean; raw: string };

export interface StageRef {
  table: Name; // only table stages (@%tbl) are modelled
  path: string; // prefix inside the stage, without leading slash
  raw: string;
}

export interface ColumnDef {
  name: string;
  declared: string;
}

export interface SelectItem {
  expr: Expr | 'star';
  alias?: string;
  text: string; // source text, used to derive Snowflake's default column name
}

export interface Select {
  items: SelectItem[];
  from?: { name: Name; alias?: string };
  where?: Expr;
  orderBy?: { expr: Expr; desc: boolean }[];
  limit?: number;
}

export interface MergeClause {
  matched: boolean;
  cond?: Expr;
  action: 'update' | 'delete' | 'insert';
  sets?: { col: string; expr: Expr }[];
  columns?: string[];
  values?: Expr[];
}

export type Stmt =
  | { kind: 'use'; what: 'WAREHOUSE' | 'DATABASE' | 'SCHEMA' | 'ROLE'; name: Name }
  | { kind: 'createDb' | 'createSchema'; name: Name; ifNotExists: boolean }
  | {
      kind: 'createTable';
      name: Name;
      orReplace: boolean;
      ifNotExists: boolean;
      temporary: boolean;
      columns?: ColumnDef[];
      like?: Name;
    }
  | { kind: 'dropTable'; name: Name; ifExists: boolean }
  | {
      kind: 'alterTableAdd';
      name: Name;
      ifExists: boolean;
      ifNotExists: boolean;
      columns: ColumnDef[];
    }
  | { kind: 'remove' | 'list'; stage: StageRef; pattern?: string }
  | { kind: 'truncate'; name: Name; ifExists: boolean }
  | {
      kind: 'put';
      file: string;
      stage: StageRef;
      autoCompress: boolean;
      overwrite: boolean;
      sourceCompression: string;
      parallel: number;
    }
  | {
      kind: 'copy';
      table: Name;
      stage: StageRef;
      files?: string[];
      pattern?: string;
      compression: string; // AUTO | GZIP | BZ2 | BROTLI | ZSTD | DEFLATE | RAW_DEFLATE | NONE
      matchByColumnName: 'NONE' | 'CASE_SENSITIVE' | 'CASE_INSENSITIVE';
      /** FILE_FORMAT's ALLOW_DUPLICATE (default FALSE: an object with a key twice fails the COPY). */
      allowDuplicate: boolean;
      purge: boolean;
      force: boolean;
    }
  | { kind: 'delete'; table: Name; alias?: string; where?: Expr }
  | {
      kind: 'update';
      table: Name;
      alias?: string;
      sets: { col: string; expr: Expr }[];
      where?: Expr;
    }
  | {
      kind: 'merge';
      target: Name;
      targetAlias?: string;
      source: Name;
      sourceAlias?: string;
      on: Expr;
      clauses: MergeClause[];
    }
  | { kind: 'insert'; table: Name; columns?: string[]; values?: Expr[][]; select?: Select }
  | { kind: 'select'; select: Select }
  | { kind: 'begin' | 'commit' | 'rollback' }
  | { kind: 'alterSession'; sets: Record<string, string> };
