/**
 * A read that concurrent callers share, whose answer is kept `keepMs` after
 * it arrives: N requests in that time cost one read. A failed read is
 * shared only while in flight; the next caller reads again.
 */
export class SharedRead<T> {
  private current: { value: Promise<T>; until: number } | null = null;

  constructor(
    private readonly read: () => Promise<T>,
    /** How long an answer is kept once it has arrived, in ms. */
    private readonly keepMs: number,
  ) {}

  get(): Promise<T> {
    if (this.current && Date.now() < this.current.until) return this.current.value;
    const entry = { value: this.read(), until: Number.POSITIVE_INFINITY };
    this.current = entry;
    entry.value.then(
      () => {
        entry.until = Date.now() + this.keepMs;
      },
      () => {
        if (this.current === entry) this.current = null;
      },
    );
    return entry.value;
  }
}
