/**
 * Keeps the user's event stream whole across reconnections.
 *
 * The server numbers each user's events (`seq`, from 1, in order; numbers of events
 * that have no client-side name may be skipped). One socket receives them in order, and
 * a reply to a request is written in the same stream: the events before it happened
 * before the request was handled. So after a reconnect the SDK asks for what it missed
 * (`events_since {seq: lastSeq}`) and, until the reply, holds back the live events that
 * arrive: they are either in the replay (applied once, by `seq`) or newer than it.
 * A snapshot of live calls (`subscribe_call`, with the `last_seq` it reflects) resets
 * the stream the same way when the missed events are no longer kept.
 */

export interface Numbered {
  seq: number;
}

export class Sequencer<T extends Numbered> {
  /** The last event applied; null until the first snapshot or event. */
  lastSeq: number | null = null;
  private held: T[] | null = null;

  constructor(private readonly apply: (event: T) => void) {}

  /** Whether live events are held back for a replay or a snapshot. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** A live event from the socket. */
  live(event: T): void {
    if (this.held !== null) {
      this.held.push(event);
      return;
    }
    this.accept(event);
  }

  /** Hold live events back until `replayed()` or `snapshot()`. */
  hold(): void {
    this.held ??= [];
  }

  /** The replay of what was missed; `lastSeq` is the server's last seq at the reply. */
  replayed(items: T[], lastSeq: number): void {
    for (const event of [...items].sort((a, b) => a.seq - b.seq)) this.accept(event);
    if (this.lastSeq === null || lastSeq > this.lastSeq) {
      // Events after the last applied one that clients never see (no name for them).
      this.lastSeq = lastSeq;
    }
    this.release();
  }

  /** A snapshot of the state as of `lastSeq` (null: unknown) replaces the stream's
   * position: held events it already reflects are dropped. */
  snapshot(lastSeq: number | null): void {
    if (lastSeq !== null) this.lastSeq = lastSeq;
    this.release();
  }

  /** Stop holding back (e.g. the connection was lost again before the reply). */
  private release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const event of held) this.accept(event);
  }

  private accept(event: T): void {
    if (this.lastSeq !== null && event.seq <= this.lastSeq) return; // seen already
    this.lastSeq = event.seq;
    this.apply(event);
  }
}
