/** A small typed event emitter: `on()` returns the function that removes the listener. */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyListener = (...args: any[]) => void;

export type EventMap = { [name: string]: unknown[] };

export class Emitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<AnyListener>>();

  /** Call `listener` on every `name` event; returns a function that stops it. */
  on<K extends keyof E>(name: K, listener: (...args: E[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener as AnyListener);
    return () => this.off(name, listener);
  }

  /** Call `listener` on the next `name` event only. */
  once<K extends keyof E>(name: K, listener: (...args: E[K]) => void): () => void {
    const off = this.on(name, (...args: E[K]) => {
      off();
      listener(...args);
    });
    return off;
  }

  off<K extends keyof E>(name: K, listener: (...args: E[K]) => void): void {
    this.listeners.get(name)?.delete(listener as AnyListener);
  }

  /** A listener that throws is reported on the console; the others still run, and the
   * SDK's own state is never left half-updated by an application's bug. */
  protected emit<K extends keyof E>(name: K, ...args: E[K]): void {
    const set = this.listeners.get(name);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (error) {
        console.error(`callboard: a "${String(name)}" listener failed`, error);
      }
    }
  }
}
