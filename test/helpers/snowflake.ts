import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { SnowflakeConfig } from '@bx/destination-snowflake';
import {
  loadSnowflakeSdk,
  type SdkBinds,
  type SdkConnection,
  type SdkConnectionOptions,
} from '@bx/destination-snowflake';
import type { SnowflakeServer } from '../snowflake-server/snowflake-server';
import type { SourceEvent } from './events';

export { startSnowflakeServer, type SnowflakeServer } from '../snowflake-server/snowflake-server';

// The destination's loader: the same process-wide SDK settings as production
// (no platform detection, no ./snowflake.log).
const sdk = () => loadSnowflakeSdk();

/** A raw SDK connection to the test server, as a client other than the destination. */
export function connect(server: SnowflakeServer, extra: Partial<SdkConnectionOptions> = {}): Promise<SdkConnection> {
  const conn = sdk().createConnection({
    accessUrl: server.url, // http:// is accepted; no TLS, so OCSP/CRL never come into play
    account: 'testacct', // required: otherwise the SDK derives "127" from the host name
    username: 'test',
    password: 'test',
    ...extra,
  });
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

export function exec(conn: SdkConnection, sqlText: string, binds?: SdkBinds): Promise<any[]> {
  return new Promise((resolve, reject) =>
    conn.execute({ sqlText, binds, complete: (err, _stmt, rows) => (err ? reject(err) : resolve(rows ?? [])) }),
  );
}

export function destroy(conn: SdkConnection): Promise<void> {
  return new Promise((resolve, reject) => conn.destroy((err) => (err ? reject(err) : resolve())));
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sf-testbed-client-'));
}

export function writeJsonlGz(dir: string, name: string, rows: object[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, zlib.gzipSync(rows.map((r) => JSON.stringify(r)).join('\n') + '\n'));
  return file;
}

export const EVENTS_DDL = `CREATE TABLE IF NOT EXISTS "db"."schema"."events" ("uuid" STRING, "event" STRING, "properties" VARIANT, "elements_chain" STRING, "distinct_id" STRING, "team_id" INTEGER, "timestamp" TIMESTAMP, "created_at" TIMESTAMP, "inserted_at" TIMESTAMP, "person_id" STRING, "person_properties" VARIANT)`;

/** A record as a batch export writes it, for loading tests. */
export function event(i: number, overrides: object = {}): Record<string, unknown> {
  return {
    uuid: `uuid-${i}`,
    event: i % 2 ? '$pageview' : '$autocapture',
    properties: { $browser: 'Chrome', n: i, nested: { a: [1, 2, i] } },
    elements_chain: '',
    distinct_id: `did-${i % 3}`,
    team_id: 1 + (i % 2),
    timestamp: `2024-01-0${1 + (i % 5)}T10:00:00.${String(123456 + i).padStart(6, '0')}+00:00`,
    created_at: '2024-01-01 00:00:00',
    inserted_at: `2024-01-0${1 + (i % 5)}T12:00:00Z`,
    person_id: `person-${i}`,
    person_properties: null,
    ...overrides,
  };
}

/** The error `p` rejects with; fails when it resolves. */
export async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** An RSA key pair as Snowflake key-pair authentication uses it (PKCS#8 private key, SPKI public key). */
export function rsaKeyPair(passphrase?: string): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: passphrase
      ? { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }
      : { type: 'pkcs8', format: 'pem' },
  });
}

/** A destination config pointing at the test server: tables land in ANALYTICS.PUBLIC (unquoted names fold up). */
export function snowflakeConfig(server: SnowflakeServer, overrides: Partial<SnowflakeConfig> = {}): SnowflakeConfig {
  return {
    account: 'testacct',
    user: 'loader',
    password: 'loader-password',
    database: 'analytics',
    schema: 'public',
    warehouse: 'loading_wh',
    table_name: 'events',
    role: null,
    access_url: server.url,
    ...overrides,
  };
}

/** What a table the destination loaded holds for a source event: VARIANTs parsed, TIMESTAMP_NTZ in UTC. */
export function storedRow(e: SourceEvent): Record<string, unknown> {
  const ts = (t: string | null) => (t === null ? null : `${t.replace(' ', 'T')}Z`);
  return {
    uuid: e.uuid,
    event: e.event,
    properties: JSON.parse(e.properties),
    distinct_id: e.distinct_id,
    team_id: e.team_id,
    timestamp: ts(e.timestamp),
    created_at: ts(e.created_at),
    inserted_at: ts(e.inserted_at),
    elements_chain: e.elements_chain,
    person_id: e.person_id,
    person_properties: JSON.parse(e.person_properties),
  };
}

export const byUuid = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a.uuid).localeCompare(String(b.uuid));
