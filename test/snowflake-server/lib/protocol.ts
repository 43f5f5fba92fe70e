// JSON bodies in the shapes snowflake-sdk 3.3.0 reads. Only fields the SDK (or a human debugging
// a test) looks at are filled; see NOTES.md for which ones matter.
import type { AuthFailure } from './auth';
import type { QueryResult, Session } from './engine';
import type { SqlError } from './lexer';
import type { PutInfo } from './stage';
import { encodeCell, rowTypeFor } from './values';

// Session parameters echoed in login and query responses. The SDK stores these in a process-wide
// table (lib/parameters.js), so they affect every connection in the test process.
export const PARAMETERS = [
  { name: 'TIMEZONE', value: 'America/Los_Angeles' },
  { name: 'TIMESTAMP_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3 TZHTZM' },
  { name: 'TIMESTAMP_NTZ_OUTPUT_FORMAT', value: 'YYYY-MM-DD HH24:MI:SS.FF3' },
  { name: 'TIMESTAMP_LTZ_OUTPUT_FORMAT', value: '' },
  { name: 'TIMESTAMP_TZ_OUTPUT_FORMAT', value: '' },
  { name: 'DATE_OUTPUT_FORMAT', value: 'YYYY-MM-DD' },
  { name: 'TIME_OUTPUT_FORMAT', value: 'HH24:MI:SS' },
  { name: 'BINARY_OUTPUT_FORMAT', value: 'HEX' },
  { name: 'CLIENT_RESULT_CHUNK_SIZE', value: 160 },
  { name: 'QUERY_CONTEXT_CACHE_SIZE', value: 5 },
  { name: 'MULTI_STATEMENT_COUNT', value: 1 },
];

const context = (s: Session) => ({
  finalDatabaseName: s.database ?? null,
  finalSchemaName: s.schema ?? null,
  finalWarehouseName: s.warehouse ?? null,
  finalRoleName: s.role ?? null,
});

export function loginOk(s: Session, tokens: { token: string; masterToken: string }, echoed: Record<string, unknown>) {
  return {
    data: {
      masterToken: tokens.masterToken,
      token: tokens.token,
      validityInSeconds: 3600,
      masterValidityInSeconds: 14400,
      displayUserName: s.user,
      serverVersion: '9.0.0-testbed',
      firstLogin: false,
      remMeToken: null,
      remMeValidityInSeconds: 0,
      healthCheckInterval: 45,
      newClientForUpgrade: null,
      sessionId: s.id,
      parameters: [...PARAMETERS, ...Object.entries(echoed).map(([name, value]) => ({ name, value }))],
      sessionInfo: {
        databaseName: s.database ?? null,
        schemaName: s.schema ?? null,
        warehouseName: s.warehouse ?? null,
        roleName: s.role ?? null,
      },
      idToken: null,
      idTokenValidityInSeconds: 0,
      responseData: null,
      mfaToken: null,
      mfaTokenValidityInSeconds: 0,
    },
    code: null,
    message: null,
    success: true,
  };
}

export function loginFail(f: AuthFailure, loginName: string) {
  return {
    data: {
      nextAction: 'RETRY_LOGIN',
      authnMethod: 'USERNAME_PASSWORD',
      loginName,
      errorCode: f.code,
    },
    code: f.code,
    message: f.message,
    success: false,
    headers: null,
  };
}

export function queryOk(r: QueryResult, s: Session, queryId: string) {
  return {
    data: {
      parameters: PARAMETERS,
      rowtype: r.columns.map((c) => rowTypeFor(c.name, c.type)),
      rowset: r.rows.map((row) => row.map((cell, i) => encodeCell(cell, r.columns[i]!.type))),
      total: r.rows.length,
      returned: r.rows.length,
      queryId,
      databaseProvider: null,
      ...context(s),
      numberOfBinds: 0,
      arrayBindSupported: false,
      statementTypeId: r.statementTypeId,
      version: 1,
      sendResultTime: Date.now(),
      queryResultFormat: 'json',
      queryContext: { entries: [] },
    },
    code: null,
    message: null,
    success: true,
  };
}

export function queryFail(err: Pick<SqlError, 'code' | 'sqlState' | 'message'>, queryId: string) {
  return {
    data: {
      internalError: false,
      errorCode: err.code,
      age: 0,
      sqlState: err.sqlState,
      queryId,
      line: -1,
      pos: -1,
      type: 'COMPILATION',
    },
    code: err.code,
    message: err.message,
    success: false,
    headers: null,
  };
}

// The PUT answer: the SDK's file transfer agent copies the local file into stageInfo.location.
export function putOk(p: PutInfo, s: Session, queryId: string) {
  return {
    data: {
      uploadInfo: {
        locationType: 'LOCAL_FS',
        location: p.location,
        path: '',
        region: null,
        creds: {},
      },
      src_locations: [p.src],
      parallel: p.parallel,
      threshold: 209715200,
      autoCompress: p.autoCompress,
      overwrite: p.overwrite,
      sourceCompression: p.sourceCompression,
      clientShowEncryptionParameter: false,
      queryId,
      encryptionMaterial: null,
      stageInfo: {
        locationType: 'LOCAL_FS',
        location: p.location,
        path: '',
        region: null,
        storageAccount: null,
        isClientSideEncrypted: false,
        creds: {},
        presignedUrl: null,
        endPoint: null,
      },
      command: 'UPLOAD',
      kind: null,
      operation: 'Node',
      parameters: PARAMETERS,
      ...context(s),
    },
    code: null,
    message: null,
    success: true,
  };
}

export const okEmpty = () => ({ data: null, code: null, message: null, success: true });
