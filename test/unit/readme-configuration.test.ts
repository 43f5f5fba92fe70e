import { expect } from 'chai';
import { CONFIG_VARIABLES, loadConfig } from '@bx/core';
import { POSTGRES_VARIABLES } from '@bx/destination-postgres';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const README = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
const CONTRACT_DEFAULTS: Record<string, unknown> = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  CLICKHOUSE_DATABASE: 'default',
  EVENTS_TABLE: 'events',
  PORT: 8080,
  PERSONS_TABLE: 'person',
  PERSON_DISTINCT_IDS_TABLE: 'person_distinct_id2',
  RECONCILE_WINDOW_HOURS: 72,
  RECONCILE_EVERY_MS: 600_000,
  RUN_RETENTION_DAYS: 90,
  QUEUE_PREFIX: 'bx',
};

/** The README's configuration table: each row's variables with the default it gives (text), when it gives one per variable. */
function readmeTable(): Map<string, string | null> {
  const section = README.slice(README.indexOf('### Configuration'), README.indexOf('## Models'));
  const rows = new Map<string, string | null>();
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    if (!line.startsWith('| `') || cells.length < 3) continue;
    const names = [...cells[0]!.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
    // `bx` (`{bx}` on a Cluster): the remark in brackets is not the default; "empty" is ''.
    const defaults = cells[1]!
      .replace(/ \(.*\)$/, '')
      .split(', ')
      .map((d) => d.trim().replace(/^`|`$/g, ''))
      .map((d) => (d === 'empty' ? '' : d));
    names.forEach((name, i) => rows.set(name, defaults.length === names.length ? defaults[i]! : null));
  }
  return rows;
}

describe('the README documents the configuration the code reads', () => {
  const sut = readmeTable();

  it('every variable the services and the Postgres destination parse is in its table, and nothing else', () => {
    const parsed = [...CONFIG_VARIABLES, ...POSTGRES_VARIABLES].sort();
    expect([...sut.keys()].sort()).to.deep.equal(parsed);
  });

  it("each default in the table is the code's default, and the contract's", () => {
    const config = loadConfig({}) as unknown as Record<string, unknown>;
    const wrong: string[] = [];
    for (const [name, text] of sut) {
      const value = config[name];
      if (text === null || value === undefined || typeof value === 'object') continue;
      if (String(value) !== text) wrong.push(`${name}: README ${text}, code ${String(value)}`);
    }
    expect(wrong).to.deep.equal([]);
    for (const [name, value] of Object.entries(CONTRACT_DEFAULTS)) expect(config[name], name).to.equal(value);
  });
});
