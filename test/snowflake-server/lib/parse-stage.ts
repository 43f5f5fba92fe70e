// Parsing of the stage-related statements: PUT, COPY INTO <table>, REMOVE and LIST.
import type { Stmt } from './ast';
import { syntaxError, tokenize } from './lexer';
import { COPY_COMPRESSIONS } from './stage';
import { TokenStream } from './token-stream';

// PUT's local file argument may be an unquoted file:// URL, which is not a SQL token, so it is cut
// off the raw text before the rest of the statement is tokenized.
export function parsePut(sql: string): Stmt {
  let i = sql.search(/\S/) + 3;
  while (/\s/.test(sql[i]!)) i++;
  let file: string;
  if (sql[i] === "'") {
    const end = sql.indexOf("'", i + 1);
    if (end < 0) throw syntaxError(sql, i, "'", 'unterminated file name');
    file = sql.slice(i + 1, end);
    i = end + 1;
  } else {
    const start = i;
    while (i < sql.length && !/\s/.test(sql[i]!)) i++;
    file = sql.slice(start, i);
  }
  if (!/^file:\/\//i.test(file)) throw syntaxError(sql, 0, file, 'PUT source must be file://');
  const p = new TokenStream(sql, tokenize(' '.repeat(i) + sql.slice(i)));
  const stage = p.stage();
  const opts: Record<string, string> = {};
  while (!p.atEnd()) {
    const key = p.ident().value;
    if (!['AUTO_COMPRESS', 'OVERWRITE', 'PARALLEL', 'SOURCE_COMPRESSION'].includes(key)) {
      p.fail(`PUT option ${key} not supported`);
    }
    p.expectOp('=');
    opts[key] = p.optionValue();
  }
  return {
    kind: 'put',
    file: file.replace(/^file:\/\//i, ''),
    stage,
    autoCompress: (opts.AUTO_COMPRESS ?? 'TRUE') === 'TRUE',
    overwrite: (opts.OVERWRITE ?? 'FALSE') === 'TRUE',
    sourceCompression: (opts.SOURCE_COMPRESSION ?? 'AUTO_DETECT').toLowerCase(),
    parallel: Number(opts.PARALLEL ?? 4),
  };
}

export function parseCopy(p: TokenStream): Stmt {
  p.expectKw('INTO');
  const table = p.name();
  if (p.peek().value === '(') p.fail('COPY with a column list / transformation not supported');
  p.expectKw('FROM');
  const stage = p.stage();
  const c: Extract<Stmt, { kind: 'copy' }> = {
    kind: 'copy',
    table,
    stage,
    compression: 'AUTO',
    matchByColumnName: 'NONE',
    allowDuplicate: false,
    purge: false,
    force: false,
  };
  let type = '';
  while (!p.atEnd()) {
    const key = p.ident().value;
    p.expectOp('=');
    if (key === 'FILES') {
      p.expectOp('(');
      c.files = [];
      do c.files.push(p.next().value);
      while (p.op(','));
      p.expectOp(')');
    } else if (key === 'PATTERN') {
      c.pattern = p.next().value;
    } else if (key === 'FILE_FORMAT') {
      p.expectOp('(');
      while (!p.op(')')) {
        const fk = p.ident().value;
        p.expectOp('=');
        const fv = p.optionValue();
        if (fk === 'TYPE') type = fv;
        else if (fk === 'COMPRESSION') {
          if (!COPY_COMPRESSIONS.includes(fv)) p.fail(`COMPRESSION = ${fv} is not a compression`);
          c.compression = fv;
        } else if (fk === 'ALLOW_DUPLICATE') c.allowDuplicate = fv === 'TRUE';
        else p.fail(`file format option ${fk} not supported`);
        p.op(',');
      }
    } else if (key === 'MATCH_BY_COLUMN_NAME') {
      c.matchByColumnName = p.optionValue() as 'NONE';
    } else if (key === 'PURGE' || key === 'FORCE') {
      c[key === 'PURGE' ? 'purge' : 'force'] = p.optionValue() === 'TRUE';
    } else if (key === 'ON_ERROR') {
      if (p.optionValue() !== 'ABORT_STATEMENT') p.fail('only ON_ERROR = ABORT_STATEMENT');
    } else {
      p.fail(`COPY option ${key} not supported`);
    }
  }
  if (type !== 'JSON') p.fail("only FILE_FORMAT = (TYPE = 'JSON') is modelled");
  return c;
}

export function parseRemoveOrList(p: TokenStream, keyword: string): Stmt {
  const stage = p.stage();
  let pattern: string | undefined;
  if (p.kw('PATTERN')) {
    p.expectOp('=');
    pattern = p.next().value;
  }
  return { kind: keyword === 'REMOVE' || keyword === 'RM' ? 'remove' : 'list', stage, pattern };
}
