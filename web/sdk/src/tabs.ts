/**
 * Several tabs of one browser, one phone.
 *
 * Each tab has its own API connection, so each sees every event of the user; only one
 * runs the web phone (registers, rings, carries the audio). The leader is the tab that
 * holds a Web Lock named after the server and the user: the browser queues the others,
 * and hands the lock to the next one when the leader's tab closes (or its client is
 * closed), which then starts its own phone. A BroadcastChannel of the same name carries
 * the leader's phone state to the others (they mirror it) and their commands to the
 * leader (answer, mute, dial: what needs the phone).
 *
 * Without Web Locks or BroadcastChannel (an old browser, Node), every tab leads alone.
 */
import { CallboardError } from './errors';
import { Emitter } from './emitter';

export interface LockManagerLike {
  request(
    name: string,
    options: { mode?: 'exclusive' | 'shared'; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown>,
  ): Promise<unknown>;
}

export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export interface TabsOptions {
  locks: LockManagerLike | null;
  channel: ((name: string) => ChannelLike) | null;
  /** How long a follower waits for the leader to answer a command, in milliseconds. */
  commandTimeout: number;
}

/** Messages on the channel. */
type TabMessage =
  | { type: 'state'; from: string; state: unknown }
  | { type: 'ask'; from: string }
  | { type: 'command'; from: string; id: number; op: string; args: unknown }
  | { type: 'result'; to: string; id: number; ok: boolean; value?: unknown; error?: unknown };

export type CommandHandler = (op: string, args: unknown) => Promise<unknown>;

type TabsEvents = {
  /** This tab became the leader (true), or stopped being it (false). */
  leader: [leader: boolean];
  /** The leader's state, in a follower. */
  state: [state: unknown];
};

export class Tabs extends Emitter<TabsEvents> {
  readonly id = Math.random().toString(36).slice(2, 10);
  leader = false;
  /** The leader's last state, in a follower (null: no leader has spoken). */
  remoteState: unknown = null;

  private channel: ChannelLike | null = null;
  private release: (() => void) | null = null;
  private abort: AbortController | null = null;
  private handler: CommandHandler | null = null;
  private localState: unknown = null;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: CallboardError) => void; timer: ReturnType<typeof setTimeout> }>();
  private stopped = false;

  constructor(private readonly options: TabsOptions) {
    super();
  }

  /** Join the election for `name` (the server and user). */
  start(name: string, handler: CommandHandler): void {
    this.handler = handler;
    const { locks, channel } = this.options;
    if (locks === null || channel === null) {
      this.becomeLeader();
      return;
    }
    this.channel = channel(name);
    this.channel.onmessage = (event) => this.receive(event.data as TabMessage);
    this.abort = typeof AbortController === 'function' ? new AbortController() : null;
    const held = new Promise<void>((resolve) => {
      this.release = resolve;
    });
    locks
      .request(name, { mode: 'exclusive', ...(this.abort ? { signal: this.abort.signal } : {}) }, async () => {
        if (this.stopped) return;
        this.becomeLeader();
        await held;
      })
      .catch(() => {
        // Aborted by stop(): this tab never led.
      });
    // Ask whoever leads for its state.
    this.post({ type: 'ask', from: this.id });
  }

  /** Leave the election (and hand the phone to the next tab). */
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.release?.();
    this.release = null;
    if (this.leader) {
      this.leader = false;
      this.localState = null;
      this.post({ type: 'state', from: this.id, state: null });
      this.emit('leader', false);
    }
    for (const [id, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(CallboardError.sdk('closed', 'the client was closed', 499));
      this.waiting.delete(id);
    }
    this.channel?.close();
    this.channel = null;
  }

  /** The leader publishes its phone state to the other tabs. */
  publish(state: unknown): void {
    if (!this.leader) return;
    this.localState = state;
    this.post({ type: 'state', from: this.id, state });
  }

  /** Run `op` in the leader's tab (here, when this tab leads). */
  command(op: string, args: unknown): Promise<unknown> {
    if (this.leader && this.handler !== null) return this.handler(op, args);
    if (this.channel === null || this.remoteState === null) {
      return Promise.reject(CallboardError.sdk('no_phone', 'no tab of this browser runs the phone', 409));
    }
    this.nextId += 1;
    const id = this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(CallboardError.sdk('no_phone', 'the tab that runs the phone did not answer', 504));
      }, this.options.commandTimeout);
      this.waiting.set(id, { resolve, reject, timer });
      this.post({ type: 'command', from: this.id, id, op, args });
    });
  }

  private becomeLeader(): void {
    if (this.leader || this.stopped) return;
    this.leader = true;
    this.remoteState = null;
    this.emit('leader', true);
  }

  private receive(message: TabMessage): void {
    if (typeof message !== 'object' || message === null) return;
    switch (message.type) {
      case 'state':
        if (this.leader || message.from === this.id) return;
        this.remoteState = message.state;
        this.emit('state', message.state);
        return;
      case 'ask':
        if (this.leader) this.post({ type: 'state', from: this.id, state: this.localState });
        return;
      case 'command':
        if (!this.leader || this.handler === null) return;
        this.handler(message.op, message.args).then(
          (value) => this.post({ type: 'result', to: message.from, id: message.id, ok: true, value }),
          (error: unknown) =>
            this.post({ type: 'result', to: message.from, id: message.id, ok: false, error: CallboardError.from(error).toJSON() }),
        );
        return;
      case 'result': {
        if (message.to !== this.id) return;
        const waiting = this.waiting.get(message.id);
        if (waiting === undefined) return;
        this.waiting.delete(message.id);
        clearTimeout(waiting.timer);
        if (message.ok) waiting.resolve(message.value);
        else waiting.reject(CallboardError.from(message.error));
        return;
      }
      default:
        return;
    }
  }

  private post(message: TabMessage): void {
    try {
      this.channel?.postMessage(message);
    } catch {
      // closed
    }
  }
}
