import { exportLagSeconds, type BatchExport, type Run } from '@bx/core';
import type { Request } from 'express';
import type { ConsoleDeps } from '../deps';
import { destinationTarget, formatCount, formatInstant, formatLag, statusBadge } from '../format';
import { html, type Html } from '../html';
import { CONSOLE_PATH, tableScroll } from '../layout';
import { pausedNote } from './export-page';

/** Exports per page of the list. */
export const EXPORTS_PAGE_SIZE = 50;
const DAY_MS = 86_400_000;

interface ListQuery {
  team: string;
  status: '' | 'active' | 'paused';
  sort: 'name' | 'lag' | 'created';
  page: number;
}

interface Row {
  exp: BatchExport;
  lag: number | null;
  lastRun: Run | null;
  rows24h: number;
}

function listQuery(req: Request): ListQuery {
  const q = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : '');
  const status = q('status');
  const sort = q('sort');
  const page = Number(q('page') || '1');
  return {
    team: q('team').trim(),
    status: status === 'active' || status === 'paused' ? status : '',
    sort: sort === 'lag' || sort === 'created' ? sort : 'name',
    page: Number.isInteger(page) && page > 0 ? page : 1,
  };
}

/**
 * Every export with its state, lag and recent activity. Filtering and sorting
 * by lag need every export's lag, which comes from the counters /metrics reads
 * (one round trip per thousand exports, no run record); runs are read only for
 * the EXPORTS_PAGE_SIZE exports shown.
 */
export async function exportsListPage(
  deps: ConsoleDeps,
  req: Request,
  /** Parts of the query to replace (a team filter that was refused). */
  overrides: Partial<ListQuery> = {},
): Promise<{ title: string; body: Html }> {
  const query = { ...listQuery(req), ...overrides };
  const [all, snapshot] = await Promise.all([
    allExports(deps, query.team === '' ? undefined : query.team),
    deps.store.stats.snapshot(),
  ]);
  const stats = new Map(snapshot.exports.map((s) => [s.id, s]));
  const lagOf = (exp: BatchExport) => {
    const s = stats.get(exp.id);
    return s ? exportLagSeconds(snapshot.now, s, exp) : null;
  };
  const filtered = all
    .filter((e) => query.status === '' || (query.status === 'paused') === e.paused)
    .map((exp) => ({ exp, lag: lagOf(exp) }));
  if (query.sort === 'lag') filtered.sort((a, b) => (b.lag ?? -1) - (a.lag ?? -1));
  else if (query.sort === 'name') filtered.sort((a, b) => a.exp.name.localeCompare(b.exp.name));
  else filtered.sort((a, b) => b.exp.created_at.localeCompare(a.exp.created_at) || b.exp.id.localeCompare(a.exp.id));
  const pages = Math.max(1, Math.ceil(filtered.length / EXPORTS_PAGE_SIZE));
  const page = Math.min(query.page, pages);
  const shown = filtered.slice((page - 1) * EXPORTS_PAGE_SIZE, page * EXPORTS_PAGE_SIZE);
  const since = new Date(snapshot.now - DAY_MS).toISOString();
  const rows: Row[] = await Promise.all(
    shown.map(async ({ exp, lag }) => {
      const [latest, recent] = await Promise.all([
        deps.service.latestRuns(exp.id, 1),
        deps.service.listRuns(exp.id, { start: since, limit: '1000' }),
      ]);
      const rows24h = recent.results
        .filter((r) => r.status === 'Completed')
        .reduce((sum, r) => sum + r.records_completed, 0);
      return { exp, lag, lastRun: latest[0] ?? null, rows24h };
    }),
  );
  return {
    title: 'Exports',
    body: html` ${filterForm(query)}
    ${
      rows.length === 0
        ? html`<p>No exports match. <a href="${CONSOLE_PATH}/new">Create an export</a>.</p>`
        : exportsTable(rows, filtered.length)
    }
    ${pager(query, page, pages)}`,
  };
}

/** Every export (of a team), a thousand per call; a deployment holds at most MAX_EXPORTS. */
async function allExports(deps: ConsoleDeps, teamId: string | undefined): Promise<BatchExport[]> {
  const out: BatchExport[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.service.list({ team_id: teamId, limit: '1000', cursor });
    out.push(...page.results);
    cursor = page.next ?? undefined;
  } while (cursor);
  return out;
}

function filterForm(q: ListQuery): Html {
  const option = (value: string, text: string, current: string) =>
    html`<option value="${value}" ${value === current ? html` selected` : ''}>${text}</option>`;
  return html`<form method="get" action="${CONSOLE_PATH}" class="filters" aria-label="Filter exports">
    <div class="field">
      <label for="filter-team">Team id</label>
      <input id="filter-team" name="team" inputmode="numeric" value="${q.team}" size="8" />
    </div>
    <div class="field">
      <label for="filter-status">State</label>
      <select id="filter-status" name="status">
        ${[option('', 'Any', q.status), option('active', 'Active', q.status), option('paused', 'Paused', q.status)]}
      </select>
    </div>
    <div class="field">
      <label for="filter-sort">Sort by</label>
      <select id="filter-sort" name="sort">
        ${[
          option('name', 'Name', q.sort),
          option('lag', 'Lag (most behind first)', q.sort),
          option('created', 'Creation time (newest first)', q.sort),
        ]}
      </select>
    </div>
    <button type="submit">Apply</button>
  </form>`;
}

function exportsTable(rows: Row[], total: number): Html {
  return tableScroll(
    'Exports',
    html`<table class="data">
      <caption>
        ${formatCount(total)} export${total === 1 ? '' : 's'}
      </caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Team</th>
          <th scope="col">Model</th>
          <th scope="col">Destination</th>
          <th scope="col">Interval</th>
          <th scope="col">State</th>
          <th scope="col">Last run</th>
          <th scope="col">Lag</th>
          <th scope="col" class="num">Rows, last 24 h</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          ({ exp, lag, lastRun, rows24h }) =>
            html`<tr data-export-id="${exp.id}">
              <th scope="row" class="name">
                <a href="${CONSOLE_PATH}/${exp.id}"><bdi>${exp.name}</bdi></a>
              </th>
              <td>${exp.team_id}</td>
              <td>${exp.model}</td>
              <td>${exp.destination.type}<br /><span class="muted">${destinationTarget(exp.destination)}</span></td>
              <td>${exp.interval}<br /><span class="muted">${exp.timezone}</span></td>
              <td>
                ${statusBadge(exp.paused ? 'Paused' : 'Active')}${
                  exp.paused_reason ? html`<br /><span class="muted">${exp.paused_reason}</span>` : null
                }
              </td>
              <td>
                ${
                  lastRun
                    ? html`<a href="${CONSOLE_PATH}/${exp.id}/runs/${lastRun.id}">${statusBadge(lastRun.status)}</a
                        >${pausedNote(exp, lastRun)}<br />
                        <span class="muted">${formatInstant(lastRun.finished_at ?? lastRun.created_at)} UTC</span>`
                    : html`<span class="muted">no run yet</span>`
                }
              </td>
              <td>${formatLag(lag)}</td>
              <td class="num">${formatCount(rows24h)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`,
  );
}

function pager(q: ListQuery, page: number, pages: number): Html | null {
  if (pages <= 1) return null;
  const link = (p: number) => {
    const params = new URLSearchParams({ team: q.team, status: q.status, sort: q.sort, page: String(p) });
    return `${CONSOLE_PATH}?${params}`;
  };
  return html`<nav aria-label="Pages of exports" class="pager">
    ${page > 1 ? html`<a href="${link(page - 1)}" rel="prev">Previous page</a>` : null}
    <span>Page ${page} of ${pages}</span>
    ${page < pages ? html`<a href="${link(page + 1)}" rel="next">Next page</a>` : null}
  </nav>`;
}
