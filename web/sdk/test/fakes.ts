/**
 * A fake of the server's WebSocket API for unit tests: it speaks the same frames
 * (hello before the authentication reply, numbered call events, events_since,
 * subscribe_call with last_seq) from memory, and lets a test drop connections.
 */
import type { WebSocketLike } from '../src/socket';

type Frame = { seq: number; action: string; data?: Record<string, unknown> };

export class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  closedWith: number | null = null;

  constructor(private readonly server: FakeServer) {}

  send(text: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    const frame = JSON.parse(text) as Frame;
    this.server.requests.push(frame);
    queueMicrotask(() => this.server.handle(this, frame));
  }

  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = code;
  }

  /** The server sends a frame. */
  push(frame: unknown): void {
    if (this.readyState === 1) this.onmessage?.({ data: JSON.stringify(frame) + '\n' });
  }

  /** The server (or the network) drops the connection. */
  drop(code = 1006, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

export interface StoredEvent {
  seq: number;
  call: Record<string, unknown>;
}

export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  readonly requests: Frame[] = [];
  token = 'good-token';
  /** Refuse new connections (the network is down). */
  down = false;
  /** Events up to this seq are no longer kept (events_since answers app.events.gone). */
  forgottenUpTo = 0;
  pingInterval: number | undefined = undefined;
  answerPings = true;
  readonly events: StoredEvent[] = [];
  liveCalls: Record<string, unknown>[] = [];
  private seq = 0;
  /** Extra request handlers: return undefined to fall through. */
  handlers: Record<string, (data: Record<string, unknown>) => unknown> = {};

  factory = (url: string): WebSocketLike => {
    this.urls.push(url);
    const socket = new FakeSocket(this);
    this.sockets.push(socket);
    setTimeout(() => {
      if (this.down) {
        socket.drop(1006);
        return;
      }
      socket.readyState = 1;
      socket.onopen?.({});
    }, 1);
    return socket;
  };
  readonly urls: string[] = [];

  get current(): FakeSocket | undefined {
    return [...this.sockets].reverse().find((socket) => socket.readyState === 1);
  }

  /** A call event of the user: numbered, kept, and pushed to the open sockets. */
  emit(id: string, event: string, data?: Record<string, unknown>): number {
    this.seq += 1;
    const call: Record<string, unknown> = { id, event, timestamp: String(Date.now()), app_id: 'node-1', user_id: '7', domain_id: '1' };
    if (data) call.data = data;
    this.events.push({ seq: this.seq, call });
    for (const socket of this.sockets) socket.push({ event: 'call', data: { call }, seq: this.seq });
    return this.seq;
  }

  /** A seq used by an event clients never see (it has no name for them). */
  advanceSeq(): void {
    this.seq += 1;
  }

  get lastSeq(): number {
    return this.seq;
  }

  actions(): string[] {
    return this.requests.map((frame) => frame.action);
  }

  handle(socket: FakeSocket, frame: Frame): void {
    const reply = (data?: unknown) => socket.push({ status: 'OK', seq_reply: frame.seq, ...(data === undefined ? {} : { data }) });
    const fail = (id: string, code: number, detail = id) => socket.push({ status: 'FAIL', seq_reply: frame.seq, error: { id, status: 'x', detail, code } });
    const data = frame.data ?? {};
    const custom = this.handlers[frame.action];
    if (custom !== undefined) {
      const result = custom(data);
      if (result !== undefined) {
        if (result instanceof Error) fail(result.message, 409);
        else reply(result === null ? undefined : result);
        return;
      }
    }
    switch (frame.action) {
      case 'authentication_challenge':
        if (data.token !== this.token) {
          fail('app.session.not_found', 401, 'the token is not valid');
          return;
        }
        socket.push({
          event: 'hello',
          data: {
            sock_id: `sock-${this.sockets.length}`,
            session: { id: 's', user_id: 7, name: 'Bob', domain_id: 1, domain_name: 'callboard.lo', token: this.token },
            ...(this.pingInterval ? { ping_interval: this.pingInterval } : {}),
          },
          seq: 0,
        });
        reply();
        return;
      case 'subscribe_call':
        reply({ items: this.liveCalls, last_seq: this.seq });
        return;
      case 'events_since': {
        const since = Number(data.seq);
        if (since < this.forgottenUpTo) {
          fail('app.events.gone', 400, 'those events are no longer kept');
          return;
        }
        const items = this.events.filter((e) => e.seq > since).map((e) => ({ event: 'call', data: { call: e.call }, seq: e.seq }));
        reply({ items, last_seq: this.seq });
        return;
      }
      case 'ping':
        if (this.answerPings) reply({ pong: 1 });
        return;
      default:
        reply();
    }
  }
}

/** Resolve once `predicate` holds (checked on every macrotask), or fail after `ms`. */
export async function until(predicate: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
