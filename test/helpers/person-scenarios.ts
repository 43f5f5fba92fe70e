import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseSource } from '@bx/clickhouse';
import { chdbSession, type ChdbSession } from '../modern-engine/chdb';
import { testEnv } from './env';
import { PERSONS_DDL_MODERN, TestPersons, valuesOf, type MappingRow, type PersonRow } from './persons';

/** The intervals the scenarios run in: [9:00, 10:00), [10:00, 11:00) and [11:00, 12:00) of 2024-03-01 UTC. */
export const I0 = { start: Date.parse('2024-03-01T09:00:00Z'), end: Date.parse('2024-03-01T10:00:00Z') };
export const I1 = { start: I0.end, end: Date.parse('2024-03-01T11:00:00Z') };
export const I2 = { start: I1.end, end: Date.parse('2024-03-01T12:00:00Z') };

export const P = {
  /** Properties updated three times across the two intervals (and once after them). */
  updated: '10000000-0000-4000-8000-000000000001',
  /** The person `b` is merged away from: a higher version than `updated`'s. */
  mergedAway: '10000000-0000-4000-8000-000000000002',
  /** Deleted in the first interval. */
  deleted: '10000000-0000-4000-8000-000000000003',
  /** Its versions arrive out of order in the first interval. */
  outOfOrder: '10000000-0000-4000-8000-000000000004',
  /** Its distinct_id is mapped in the first interval; its first row arrives in the second. */
  late: '10000000-0000-4000-8000-000000000005',
  /** Never changes. */
  quiet: '10000000-0000-4000-8000-000000000006',
  /** Team 2's. */
  otherTeam: '10000000-0000-4000-8000-000000000007',
};

const CREATED = '2024-02-01 00:00:00';
const at = (hhmm: string) => `2024-03-01 ${hhmm}:00`;

function person(id: string, version: number, ts: string, props: object, extra: Partial<PersonRow> = {}): PersonRow {
  return {
    id,
    team_id: extra.team_id ?? 1,
    properties: JSON.stringify(props),
    is_identified: 0,
    is_deleted: extra.is_deleted ?? 0,
    version,
    created_at: extra.created_at ?? CREATED,
    _timestamp: at(ts),
  };
}

function mapping(distinctId: string, personId: string, version: number, ts: string, deleted = 0, team = 1): MappingRow {
  return {
    team_id: team,
    distinct_id: distinctId,
    person_id: personId,
    is_deleted: deleted,
    version,
    _timestamp: at(ts),
  };
}

/**
 * The scenarios as source rows, each insert a part of its own
 * (parts unmerged, as ReplacingMergeTree may hold them): properties updated
 * three times across two intervals; a merge (`b` moves from `mergedAway`
 * to `updated`); a deleted person and a deleted mapping; versions arriving
 * out of order within an interval; a distinct_id whose person arrives an
 * interval later; rows after the second interval's end; another team.
 */
export const SCENARIO_INSERTS: ReadonlyArray<{ persons?: PersonRow[]; mappings?: MappingRow[] }> = [
  {
    persons: [
      person(P.updated, 0, '09:00', { name: 'v0' }),
      person(P.mergedAway, 7, '09:00', { name: 'merged away' }),
      person(P.deleted, 0, '09:00', { name: 'to delete' }),
      person(P.quiet, 0, '09:00', { name: 'quiet' }),
    ],
    mappings: [
      mapping('a', P.updated, 0, '09:00'),
      mapping('a2', P.updated, 0, '09:00'),
      mapping('b', P.mergedAway, 0, '09:00'),
      mapping('b2', P.mergedAway, 0, '09:00'),
      mapping('c', P.deleted, 0, '09:00'),
      mapping('d', P.quiet, 0, '09:00'),
      mapping('f', P.quiet, 0, '09:00'),
      mapping('o', P.outOfOrder, 0, '09:00'),
    ],
  },
  { persons: [person(P.updated, 1, '10:10', { name: 'v1' }), person(P.outOfOrder, 3, '10:05', { name: 'o3' })] },
  {
    persons: [
      person(P.outOfOrder, 2, '10:15', { name: 'o2' }),
      person(P.deleted, 1, '10:20', { name: 'to delete' }, { is_deleted: 1 }),
    ],
    mappings: [
      mapping('m', P.quiet, 2, '10:05'),
      mapping('e', P.late, 0, '10:20'),
      mapping('b', P.updated, 1, '10:30'),
      mapping('d', P.quiet, 1, '10:45', 1),
    ],
  },
  {
    persons: [person(P.updated, 2, '10:40', { name: 'v2' }), person(P.outOfOrder, 1, '10:50', { name: 'o1' })],
    mappings: [mapping('m', P.outOfOrder, 1, '10:25'), mapping('a', P.otherTeam, 0, '10:10', 0, 2)],
  },
  {
    persons: [
      person(P.otherTeam, 0, '10:10', { name: 'team 2' }, { team_id: 2 }),
      person(P.updated, 3, '11:30', { name: 'v3' }),
      person(P.late, 0, '11:15', { name: 'arrived' }, { created_at: '2024-03-01 11:14:00' }),
    ],
  },
  // After the second interval: a re-run of it must not see these.
  { persons: [person(P.updated, 4, '12:30', { name: 'v4' })], mappings: [mapping('a2', P.quiet, 1, '12:10')] },
];

/** A mapping row arriving late: `z` mapped to the quiet person with a _timestamp inside I1 (10:50). */
export const LATE_MAPPING: MappingRow = mapping('z', P.quiet, 0, '10:50');

export const byDistinctId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
  String(a.distinct_id).localeCompare(String(b.distinct_id));

/** A persons record as the destinations hold it (JSON Lines). */
export type PersonRecord = {
  team_id: number;
  distinct_id: string;
  person_id: string;
  properties: Record<string, unknown>;
  person_version: number;
  person_distinct_id_version: number;
  created_at: string | null;
  is_deleted: boolean;
  _inserted_at: string;
};

const iso = (t: string) => `${t.replace(' ', 'T')}+00:00`;
const record = (
  distinctId: string,
  personId: string,
  props: object,
  versions: [mapping: number, person: number],
  insertedAt: string,
  extra: Partial<PersonRecord> = {},
): PersonRecord => ({
  team_id: 1,
  distinct_id: distinctId,
  person_id: personId,
  properties: props as Record<string, unknown>,
  person_version: versions[1],
  person_distinct_id_version: versions[0],
  created_at: iso(CREATED),
  is_deleted: false,
  _inserted_at: iso(at(insertedAt)),
  ...extra,
});

/** What a run of each interval exports for team 1, sorted by distinct_id. */
export const EXPECTED: Readonly<Record<'I0' | 'I1' | 'I2', readonly PersonRecord[]>> = {
  // Everything as first ingested.
  I0: [
    record('a', P.updated, { name: 'v0' }, [0, 0], '09:00'),
    record('a2', P.updated, { name: 'v0' }, [0, 0], '09:00'),
    // Before the merge: the old person, with the higher person version (7).
    record('b', P.mergedAway, { name: 'merged away' }, [0, 7], '09:00'),
    record('b2', P.mergedAway, { name: 'merged away' }, [0, 7], '09:00'),
    record('c', P.deleted, { name: 'to delete' }, [0, 0], '09:00'),
    record('d', P.quiet, { name: 'quiet' }, [0, 0], '09:00'),
    record('f', P.quiet, { name: 'quiet' }, [0, 0], '09:00'),
    record('o', P.outOfOrder, {}, [0, 0], '09:00', { created_at: null }),
  ],
  I1: [
    record('a', P.updated, { name: 'v2' }, [0, 2], '10:40'),
    record('a2', P.updated, { name: 'v2' }, [0, 2], '10:40'),
    // Merged: now the updated person, whose version (2) is below the old person's (7).
    record('b', P.updated, { name: 'v2' }, [1, 2], '10:40'),
    record('c', P.deleted, { name: 'to delete' }, [0, 1], '10:20', { is_deleted: true }),
    record('d', P.quiet, { name: 'quiet' }, [1, 0], '10:45', { is_deleted: true }),
    // No person row yet.
    record('e', P.late, {}, [0, 0], '10:20', { created_at: null }),
    // Version 2 of the mapping (10:05) wins over version 1 (10:25).
    record('m', P.quiet, { name: 'quiet' }, [2, 0], '10:05'),
    // Version 3 (10:05) wins over versions 2 and 1 that came after it.
    record('o', P.outOfOrder, { name: 'o3' }, [0, 3], '10:05'),
  ],
  I2: [
    record('a', P.updated, { name: 'v3' }, [0, 3], '11:30'),
    record('a2', P.updated, { name: 'v3' }, [0, 3], '11:30'),
    record('b', P.updated, { name: 'v3' }, [1, 3], '11:30'),
    record('e', P.late, { name: 'arrived' }, [0, 0], '11:15', { created_at: iso('2024-03-01 11:14:00') }),
  ],
};

/**
 * What a table destination holds after exporting `runs`, in any order and
 * any number of times: per distinct_id, the record with the highest
 * versions (mapping, then person); at equal versions a person's row over
 * the placeholder of a distinct_id whose person had none (created_at null).
 */
export function merged(...runs: ReadonlyArray<readonly PersonRecord[]>): PersonRecord[] {
  const latest = new Map<string, PersonRecord>();
  const key = (r: PersonRecord) => [r.person_distinct_id_version, r.person_version, r.created_at === null ? 0 : 1];
  const higher = (a: number[], b: number[]) => {
    const i = a.findIndex((x, j) => x !== b[j]);
    return i !== -1 && a[i]! > b[i]!;
  };
  for (const r of runs.flat()) {
    const stored = latest.get(r.distinct_id);
    if (!stored || higher(key(r), key(stored))) latest.set(r.distinct_id, r);
  }
  return [...latest.values()].sort(byDistinctId);
}

/** The table after the three intervals. */
export const MERGED: readonly PersonRecord[] = merged(EXPECTED.I0, EXPECTED.I1, EXPECTED.I2);

/** A database of its own holding the scenarios' rows, and a source reading the test server. */
export async function scenarioSource(batchBytes?: number): Promise<{ ch: TestPersons; source: ClickHouseSource }> {
  const ch = await new TestPersons().setup();
  for (const rows of SCENARIO_INSERTS) await ch.insert(rows);
  const source = new ClickHouseSource({
    url: testEnv.CLICKHOUSE_URL,
    username: 'default',
    password: '',
    requestTimeoutMs: 30_000,
    ...(batchBytes ? { batchBytes } : {}),
  });
  return { ch, source };
}

/**
 * A chdb session (a modern engine) whose database `posthog` holds the
 * scenarios' rows, merges stopped (every version a row, as TestPersons);
 * `dir` is its folder, for the caller to remove.
 */
export function scenarioChdb(prefix: string): { session: ChdbSession; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const session = chdbSession(dir);
  session.query('CREATE DATABASE IF NOT EXISTS posthog');
  for (const ddl of PERSONS_DDL_MODERN('posthog')) session.query(ddl);
  session.query('SYSTEM STOP MERGES posthog.person');
  session.query('SYSTEM STOP MERGES posthog.person_distinct_id2');
  for (const rows of SCENARIO_INSERTS) {
    if (rows.persons?.length) session.query(`INSERT INTO posthog.person VALUES ${valuesOf(rows.persons)}`);
    if (rows.mappings?.length) {
      session.query(`INSERT INTO posthog.person_distinct_id2 VALUES ${valuesOf(rows.mappings)}`);
    }
  }
  return { session, dir };
}
