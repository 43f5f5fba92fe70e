import type { BatchFormat, RecordBatch } from '@bx/batch';
import { broken, frameRows } from './row-binary-frames';

/**
 * The rows of a shared answer, told apart by team: each team's rows copied
 * out of the batches as they come (a batch's memory is reused once the next
 * is taken), in the order they came, as the wire bytes they came in. A
 * team's batch is then framed from those bytes exactly as its own query's
 * answer would have been.
 */
export class TeamRows<B extends RecordBatch> {
  private readonly chunks = new Map<number, Buffer[]>();
  /** Wire bytes seen per team, kept or not. */
  private readonly sizes = new Map<number, number>();
  /** Rows kept per team. */
  private readonly counts = new Map<number, number>();
  /** Rows and wire bytes kept so far, all teams together. */
  rows = 0;
  bytes = 0;

  /**
   * `teamColumn`: the int64 column of a row's team. The format's last column
   * must not be nullable: a row ends where its last value does.
   */
  constructor(
    private readonly format: BatchFormat<B>,
    private readonly teamColumn: number,
  ) {
    if (!TeamRows.fits(format, teamColumn)) throw new TypeError('rows of this format cannot be told apart by team');
  }

  /** Whether rows of `format` can be told apart by their column `teamColumn`. */
  static fits(format: BatchFormat, teamColumn: number): boolean {
    const team = format.columns[teamColumn];
    const last = format.columns[format.columns.length - 1];
    return team?.type === 'int64' && !team.nullable && last !== undefined && !last.nullable;
  }

  /** Copies the rows of `batch` out, each to its team's; with `keep` false, only counts each team's bytes. */
  add(batch: RecordBatch, keep = true): void {
    const last = this.format.columns.length - 1;
    let start = 0;
    let runTeam = NaN;
    let runStart = 0;
    let runRow = 0;
    for (let r = 0; r < batch.count; r++) {
      const at = batch.start(r, this.teamColumn);
      // Team ids are safe integers (integerLiteral put them in the query).
      const team = batch.bytes.readInt32LE(at + 4) * 0x1_0000_0000 + batch.bytes.readUInt32LE(at);
      if (team !== runTeam) {
        if (r > 0) this.take(runTeam, batch.bytes, runStart, start, r - runRow, keep);
        runTeam = team;
        runStart = start;
        runRow = r;
      }
      start = batch.end(r, last);
    }
    if (batch.count > 0) this.take(runTeam, batch.bytes, runStart, start, batch.count - runRow, keep);
    if (keep) this.rows += batch.count;
  }

  /** The team with the most wire bytes seen (NaN when none). */
  largest(): number {
    let team = NaN;
    let most = -1;
    for (const [id, bytes] of this.sizes) if (bytes > most) [team, most] = [id, bytes];
    return team;
  }

  /** `team`'s rows as one batch of the format, as its own query's answer would frame them; null when it has none. */
  batch(team: number): B | null {
    const parts = this.chunks.get(team);
    if (!parts) return null;
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const count = this.counts.get(team)!;
    // An index of the rows' size: the framing's default (4,096 rows) cost a tiny run 0.1-0.3 ms to allocate.
    const frames = frameRows(bytes, this.format, new Int32Array(count * this.format.slots));
    if (frames.used !== bytes.length || frames.count !== count) throw broken(bytes, frames.used, 'rows lost apart');
    return this.format.batch(bytes, frames.index, count);
  }

  private take(team: number, bytes: Buffer, from: number, to: number, rows: number, keep: boolean): void {
    this.sizes.set(team, (this.sizes.get(team) ?? 0) + to - from);
    if (!keep) return;
    this.counts.set(team, (this.counts.get(team) ?? 0) + rows);
    const copy = Buffer.allocUnsafe(to - from);
    bytes.copy(copy, 0, from, to);
    this.bytes += copy.length;
    const parts = this.chunks.get(team);
    if (parts) parts.push(copy);
    else this.chunks.set(team, [copy]);
  }
}
