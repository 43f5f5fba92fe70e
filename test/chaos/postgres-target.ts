import { type BatchExport, type Span } from '@bx/core';
import { Client } from 'pg';
import { uniqueName } from '../helpers/env';
import { adminConfig, destinationConfig } from '../helpers/postgres';
import { sleep } from '../helpers/processes';
import type { ChaosSystem } from './chaos-system';
import { sourceRows, tally, type Verdict } from './verify';

/**
 * A schema of its own on the chaos suite's PostgreSQL (which the scenarios
 * stop and restart: every query opens a connection of its own and tries again
 * while the server is away), its exports, and the auditor's view of the table.
 */
export class PostgresTarget {
  readonly schema = uniqueName('bx_chaos').replace(/-/g, '_');
  readonly table = 'events';
  readonly name = `"${this.schema}"."${this.table}"`;

  async setup(): Promise<this> {
    await this.query(`CREATE SCHEMA "${this.schema}"`);
    return this;
  }

  /** One statement on a connection of its own; retried for up to 30 s while the server is down. */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    for (let tries = 0; ; tries++) {
      const client = new Client({ ...adminConfig(), application_name: 'bx chaos auditor' });
      client.on('error', () => undefined);
      try {
        await client.connect();
        return (await client.query(sql, params)).rows as T[];
      } catch (err) {
        const code = (err as { code?: string }).code;
        const down = code === 'ECONNREFUSED' || code === '57P03' || code === '57P01' || !code;
        if (!down || tries >= 150) throw err;
        await sleep(200);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  /** A session held for the test (a lock); the caller ends it. */
  async session(): Promise<Client> {
    const client = new Client({ ...adminConfig(), application_name: 'bx chaos session' });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** An hourly export of `team_id` into this schema's table. */
  async createExport(
    sys: ChaosSystem,
    teamId: number,
    range: { start_at: string; end_at: string },
  ): Promise<BatchExport> {
    return sys.exports.create({
      name: `chaos postgres team ${teamId}`,
      team_id: teamId,
      interval: 'hour',
      ...range,
      destination: {
        type: 'Postgres',
        config: destinationConfig(this.schema, this.table),
      },
    });
  }

  /** Run ids of the loads whose COPY is under way (their sessions are named `bx <run id>`). */
  async copying(): Promise<string[]> {
    const rows = await this.query<{ name: string }>(
      `SELECT application_name AS name FROM pg_stat_activity
        WHERE application_name LIKE 'bx %' AND state = 'active' AND query LIKE 'COPY%'`,
    );
    return rows.map((r) => r.name.slice(3));
  }

  /** Sessions of loads still open. */
  async loadSessions(): Promise<number> {
    const [row] = await this.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE application_name LIKE 'bx %' AND application_name NOT LIKE 'bx chaos %' AND application_name <> 'bx check'`,
    );
    return row!.n;
  }

  /** Rows of the team per interval, as a reader sees them now. */
  async counts(teamId: number, spans: readonly Span[]): Promise<number[]> {
    const rows = await this.query<{ at: string }>(
      `SELECT extract(epoch FROM inserted_at)::bigint AS at FROM ${this.name} WHERE team_id = $1`,
      [teamId],
    );
    const counts = spans.map(() => 0);
    for (const r of rows) {
      const i = spans.findIndex((s) => s.start <= Number(r.at) * 1000 && Number(r.at) * 1000 < s.end);
      if (i >= 0) counts[i]!++;
    }
    return counts;
  }

  /** The table against the source, row by row, per interval. */
  async verify(sys: ChaosSystem, teamId: number, spans: readonly Span[]): Promise<Verdict> {
    const source = await sourceRows(sys.ch, teamId, spans);
    const rows = await this.query<{ uuid: string; at: string }>(
      `SELECT uuid, extract(epoch FROM inserted_at)::bigint AS at FROM ${this.name} WHERE team_id = $1`,
      [teamId],
    );
    const found = spans.map((): string[] => []);
    let stray = 0;
    for (const r of rows) {
      const i = spans.findIndex((s) => s.start <= Number(r.at) * 1000 && Number(r.at) * 1000 < s.end);
      if (i >= 0) found[i]!.push(r.uuid);
      else stray++;
    }
    return tally(spans, source, found, [], stray);
  }

  async drop(): Promise<void> {
    await this.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch(() => undefined);
  }
}
