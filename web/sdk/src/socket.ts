/**
 * The API WebSocket: requests and replies, events, keep-alive, and reconnection.
 *
 * One connection goes through explicit states:
 *
 *     idle -> connecting -> authenticating -> syncing -> open
 *                 ^                                       |  loss (close, error, no pong)
 *                 +------------- waiting <----------------+
 *     any -> closed   (close(), a refused or revoked session)
 *
 * `authentication_challenge` is answered with `hello` and then the reply (the server's
 * order, as in Webitel's engine). `syncing` runs the client's `onOpen` hook (snapshot or
 * replay of missed events) before the socket counts as open. After a loss it waits
 * (exponential backoff with jitter, at once when the browser comes back online) and
 * connects again; requests made while it is down fail at once with `sdk.not_connected`
 * rather than hang, and requests in flight when it drops fail with `sdk.connection_lost`.
 */
import { CallboardError } from './errors';
import { Emitter } from './emitter';
import type { Hello, WireEvent, WireReply } from './wire';

export type SocketState = 'idle' | 'connecting' | 'authenticating' | 'syncing' | 'open' | 'waiting' | 'closed';

/** The part of the browser's WebSocket the SDK uses (a test may give its own). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** Milliseconds before the first retry (then doubling). */
  minDelay: number;
  /** The longest wait between retries, in milliseconds. */
  maxDelay: number;
}

export interface SocketOptions {
  url: string;
  token: string;
  webSocket: WebSocketFactory;
  requestTimeout: number;
  reconnect: ReconnectOptions | false;
  /** After each authentication: bring the client's state up to date. */
  onOpen: (hello: Hello, reconnected: boolean) => Promise<void>;
  onEvent: (frame: WireEvent) => void;
  random?: () => number;
}

type SocketEvents = {
  state: [state: SocketState];
  /** The connection is over for good (refused or revoked session). */
  fatal: [error: CallboardError];
};

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: CallboardError) => void;
  timer: ReturnType<typeof setTimeout>;
}

const KEEPALIVE = '\u0000\u0000\u0000\u0000';

export class ApiSocket extends Emitter<SocketEvents> {
  state: SocketState = 'idle';
  hello: Hello | null = null;
  /** How many times the socket was (re)opened. */
  opened = 0;

  private ws: WebSocketLike | null = null;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private firstConnect: { resolve: (hello: Hello) => void; reject: (error: CallboardError) => void } | null = null;

  constructor(private readonly options: SocketOptions) {
    super();
  }

  /** Connect for the first time; resolves once open. A first attempt that cannot reach
   * the server, or whose token is refused, rejects (and the socket is closed). */
  connect(): Promise<Hello> {
    if (this.state !== 'idle') return Promise.reject(CallboardError.sdk('already_connected', 'connect() was already called'));
    return new Promise<Hello>((resolve, reject) => {
      this.firstConnect = { resolve, reject };
      this.open();
    });
  }

  /** Send a request; resolves with the reply's `data`, rejects with its error. */
  request<T = unknown>(action: string, data?: Record<string, unknown>, timeout?: number): Promise<T> {
    if (this.state !== 'open' && this.state !== 'syncing' && action !== 'authentication_challenge') {
      return Promise.reject(
        CallboardError.sdk('not_connected', `not connected to the server (${this.state}): try again once connected`, 503),
      );
    }
    return this.send<T>(action, data, timeout ?? this.options.requestTimeout);
  }

  /** Drop the connection now and connect again (e.g. the network changed). */
  reconnectNow(): void {
    if (this.state === 'closed' || this.state === 'idle') return;
    if (this.state === 'waiting') {
      this.clearRetry();
      this.open();
      return;
    }
    this.lost('reconnect requested');
  }

  /** Close for good. */
  close(): void {
    if (this.state === 'closed') return;
    this.clearRetry();
    this.detach(1000, 'closed by the client');
    this.failPending(CallboardError.sdk('closed', 'the client was closed', 499));
    this.firstConnect?.reject(CallboardError.sdk('closed', 'the client was closed', 499));
    this.firstConnect = null;
    this.setState('closed');
  }

  // -- one connection ------------------------------------------------------------------

  private open(): void {
    this.setState('connecting');
    let ws: WebSocketLike;
    try {
      ws = this.options.webSocket(this.options.url);
    } catch (error) {
      this.fatal(CallboardError.from(error, 'sdk.bad_url'));
      return;
    }
    this.ws = ws;
    let hello: Hello | null = null;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.setState('authenticating');
      this.send('authentication_challenge', { token: this.options.token }, this.options.requestTimeout).then(
        () => {
          if (this.ws !== ws) return;
          if (hello === null) {
            this.lost('no hello before the authentication reply');
            return;
          }
          void this.synchronise(ws, hello);
        },
        (error: CallboardError) => {
          if (this.ws !== ws) return;
          // The server refused the token (or the license): retrying cannot help. A
          // server error or a lost connection can: try again.
          if (error.code < 500 && !error.id.startsWith('sdk.')) this.fatal(error);
          else this.lost(error.detail);
        },
      );
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== 'string' || event.data === KEEPALIVE) return;
      let frame: unknown;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (typeof frame !== 'object' || frame === null) return;
      const reply = frame as WireReply;
      if (typeof reply.seq_reply === 'number' && reply.seq_reply > 0) {
        this.settle(reply);
        return;
      }
      const wire = frame as WireEvent;
      if (wire.event === 'hello') {
        hello = wire.data as Hello;
        return;
      }
      if (wire.event === 'error') {
        const error = (wire.data as { error?: unknown } | null)?.error;
        const reported = CallboardError.from(error, 'app.session.error');
        if (reported.id === 'app.session.revoked') this.fatal(reported);
        return;
      }
      if (typeof wire.event === 'string') this.options.onEvent(wire);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      if (event.code === 4001) {
        this.fatal(new CallboardError({ id: 'app.session.revoked', status: 'Unauthorized', detail: event.reason || 'the session was revoked', code: 401 }));
        return;
      }
      this.lost(`closed (${event.code})`);
    };
    ws.onerror = () => {
      // A close event follows; nothing to do here.
    };
  }

  private async synchronise(ws: WebSocketLike, hello: Hello): Promise<void> {
    this.hello = hello;
    this.setState('syncing');
    const reconnected = this.opened > 0;
    try {
      await this.options.onOpen(hello, reconnected);
    } catch (error) {
      if (this.ws !== ws) return;
      const failure = CallboardError.from(error);
      if (failure.code < 500 && !failure.id.startsWith('sdk.')) this.fatal(failure);
      else this.lost(`could not synchronise: ${failure.detail}`);
      return;
    }
    if (this.ws !== ws) return;
    this.opened += 1;
    this.attempt = 0;
    this.startPings(hello.ping_interval);
    this.setState('open');
    this.firstConnect?.resolve(hello);
    this.firstConnect = null;
  }

  private startPings(interval: number | undefined): void {
    this.stopPings();
    if (!interval || interval <= 0) return;
    const deadline = Math.max(3000, interval / 2);
    this.pingTimer = setInterval(() => {
      if (this.state !== 'open') return;
      const ws = this.ws;
      this.send('ping', { ping: 1 }, deadline).catch(() => {
        if (this.ws === ws) this.lost('no answer to ping');
      });
    }, interval);
  }

  private stopPings(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** The connection is gone: fail what was in flight and retry later. */
  private lost(why: string): void {
    if (this.state === 'closed') return;
    this.detach(4000, why);
    this.failPending(CallboardError.sdk('connection_lost', `the connection to the server was lost (${why})`, 503));
    if (this.firstConnect !== null && this.opened === 0) {
      // Never connected: say so rather than retry behind the application's back.
      this.fatal(CallboardError.sdk('unreachable', `cannot connect to ${this.options.url}: ${why}`, 503));
      return;
    }
    if (this.options.reconnect === false) {
      this.fatal(CallboardError.sdk('connection_lost', `the connection to the server was lost (${why})`, 503));
      return;
    }
    const { minDelay, maxDelay } = this.options.reconnect;
    const random = this.options.random ?? Math.random;
    const delay = Math.min(maxDelay, minDelay * 2 ** this.attempt) * (0.8 + 0.4 * random());
    this.attempt += 1;
    this.setState('waiting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  private fatal(error: CallboardError): void {
    if (this.state === 'closed') return;
    this.clearRetry();
    this.detach(1000, error.detail);
    this.failPending(error);
    this.firstConnect?.reject(error);
    this.firstConnect = null;
    this.setState('closed');
    this.emit('fatal', error);
  }

  private detach(code: number, reason: string): void {
    this.stopPings();
    const ws = this.ws;
    this.ws = null;
    if (ws === null) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // already closed
    }
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // -- frames --------------------------------------------------------------------------

  private send<T>(action: string, data: Record<string, unknown> | undefined, timeout: number): Promise<T> {
    const ws = this.ws;
    if (ws === null) return Promise.reject(CallboardError.sdk('not_connected', 'not connected to the server', 503));
    this.seq += 1;
    const seq = this.seq;
    const frame: Record<string, unknown> = { seq, action };
    if (data !== undefined) frame.data = data;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(CallboardError.sdk('timeout', `no reply to ${action} within ${timeout} ms`, 504));
      }, timeout);
      this.pending.set(seq, { resolve: resolve as (value: unknown) => void, reject, timer });
      try {
        ws.send(JSON.stringify(frame));
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(seq);
        reject(CallboardError.from(error, 'sdk.connection_lost'));
      }
    });
  }

  private settle(reply: WireReply): void {
    const pending = this.pending.get(reply.seq_reply);
    if (pending === undefined) return;
    this.pending.delete(reply.seq_reply);
    clearTimeout(pending.timer);
    if (reply.status === 'OK') pending.resolve(reply.data);
    else pending.reject(CallboardError.from(reply.error ?? { id: 'app.error', status: 'Error', detail: 'request failed', code: 500 }));
  }

  private failPending(error: CallboardError): void {
    for (const [seq, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.pending.delete(seq);
    }
  }

  private setState(state: SocketState): void {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state);
  }
}
