import { type EventRow } from '@bx/core';
import { EventBatch } from '@bx/batch';
import { randomUUID } from 'node:crypto';

/** A source row as inserted into ClickHouse (18.16 text forms). */
export interface SourceEvent {
  uuid: string;
  event: string;
  properties: string;
  timestamp: string;
  team_id: number;
  distinct_id: string;
  elements_chain: string;
  created_at: string;
  person_id: string;
  person_properties: string;
  inserted_at: string | null;
}

/** `2024-01-01T00:00:00Z` → `2024-01-01 00:00:00` (ClickHouse DateTime text, UTC). */
export function chTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

let counter = 0;

export function makeEvent(overrides: Partial<SourceEvent> & { inserted_at: string | null }): SourceEvent {
  counter++;
  const inserted = overrides.inserted_at;
  return {
    uuid: randomUUID(),
    event: `$pageview`,
    properties: JSON.stringify({ $current_url: `https://example.com/${counter}`, n: counter }),
    timestamp: inserted ?? chTime('2024-01-01T00:00:00Z'),
    team_id: 1,
    distinct_id: `user-${counter % 17}`,
    elements_chain: '',
    created_at: inserted ?? chTime('2024-01-01T00:00:00Z'),
    person_id: randomUUID(),
    person_properties: JSON.stringify({ email: `u${counter}@example.com` }),
    ...overrides,
  };
}

/** The contract's JSON record for a source event (what S3 must hold). */
export function expectedRecord(e: SourceEvent): Record<string, unknown> {
  const iso = (t: string | null) => (t === null ? null : `${t.replace(' ', 'T')}+00:00`);
  const json = (t: string) => (t === '' ? null : JSON.parse(t));
  return {
    uuid: e.uuid,
    event: e.event,
    properties: json(e.properties),
    distinct_id: e.distinct_id,
    team_id: e.team_id,
    timestamp: iso(e.timestamp),
    created_at: iso(e.created_at),
    inserted_at: iso(e.inserted_at),
    elements_chain: e.elements_chain,
    person_id: e.person_id,
    person_properties: json(e.person_properties),
  };
}

/** Source events as ClickHouse hands them out (team_id as text). */
export function asRows(events: SourceEvent[]): EventRow[] {
  return events.map((e) => ({ ...e, team_id: String(e.team_id) }));
}

/**
 * Rows as the source yields them in a run: batches of `size`, each one's
 * bytes overwritten once the next is asked for, as ClickHouseSource's
 * reused buffers are. A destination that kept a view of a batch instead of
 * copying (the DestinationWriter contract) writes garbage and fails its test.
 */
export async function* rowBatches(rows: EventRow[], size: number): AsyncGenerator<EventBatch> {
  for (let i = 0; i < rows.length; i += size) {
    const batch = EventBatch.fromRows(rows.slice(i, i + size));
    yield batch;
    batch.bytes.fill(0xee);
  }
}
