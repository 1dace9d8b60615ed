/**
 * `Cti.Connector`: VoIPstudio's CTI connector (seed 004), on Callboard.
 *
 * An app written for VoIPstudio's `cti-connector.js` runs on Callboard by loading
 * `/sdk/cti-connector.js` from the Callboard server instead: the same constructor,
 * methods, event names, call objects and constants (`Cti.EVENT.HANGUP` is "HUNGUP").
 *
 * How it differs inside, and why:
 * - Events come from Callboard's WebSocket API (through the browser SDK), not from SIP
 *   NOTIFYs of dialog-info subscriptions: the server already tells each user about their
 *   calls in order, replayable after a reconnect, so the browser parses no XML and needs
 *   no SIP.js. `subscribe('user:N')` asks the server for user N's calls the same way
 *   (it needs the `calls:read` permission of a supervisor or an administrator).
 * - The browser is a phone: unless `phone: false`, the SDK registers a WebRTC phone for
 *   the user (in one tab of the browser), so calls ring and are answered right here.
 *   `call()` is upstream's click-to-call: the server rings the user's own phones first
 *   (this browser among them, which answers it by itself unless `autoAnswer: false`),
 *   then the destination.
 * - `login(email, password)` takes a user's e-mail address or their username
 *   (`name` or `name@domain`); `login(apiKey)` takes a Callboard token. A password
 *   login's session (not the password) is kept in `localStorage` so that a reload
 *   reconnects without asking again, as upstream does; `persist: false` turns it off.
 * - Callboard has no second factor yet: `TWO_FACTOR_AUTH` is never sent, and
 *   `twoFactorAuth()` answers `ERROR`.
 * - `SUBSCRIBED` comes once the server accepted the subscription (upstream sends it
 *   before knowing); queues, IVRs and conferences do not exist yet, so subscribing to
 *   one is an `ERROR`. `terminate()` also ends a call that is still ringing.
 */
import { Client, type Call, CallboardError, type ClientOptions, type WireEvent } from '../../sdk/src/index';
import { CALL_STATUS, EVENT } from './constants';
import {
  apiErrorMessage,
  type CallFacts,
  CallTrack,
  type Change,
  type CtiCall,
  type CtiEvent,
  ENDPOINT_NOT_FOUND,
  factsFromWire,
  type InitialCall,
  initialCall,
  loginArguments,
  normaliseDestination,
  parseNode,
  subscriptionUri,
  type WireCall,
  wireChange,
} from './mapping';

export interface ConnectorOptions {
  /** Called with every event: `{name, message}` or `{name, call}`. */
  onMessage: (event: CtiEvent) => void;
  /** The Callboard server (`https://pbx.example.com`); default: where this script came from. */
  apiEndpoint?: string;
  /** Run a web phone in this browser. Default true. */
  phone?: boolean;
  /** Answer on this browser's phone the call `call()` makes it ring. Default true. */
  autoAnswer?: boolean;
  /** Keep a password login across page reloads (in localStorage). Default true. */
  persist?: boolean;
  /** Milliseconds to wait for the web phone before `READY` anyway. Default 10000. */
  readyTimeout?: number;
  /** Options for the Callboard SDK underneath (ICE servers, ringtone...). */
  sdk?: Partial<Omit<ClientOptions, 'token' | 'server' | 'phone'>>;
}

/** The variable that marks a click-to-call made by `call()`: its synthetic call's id. */
const MARKER = 'cti_initial';
const STORAGE = 'callboard.cti';

interface Own {
  call: Call;
  track: CallTrack;
  bridgedAt: number | undefined;
  answering: boolean;
}

interface Watched {
  facts: CallFacts;
  track: CallTrack;
  held: boolean;
  appId: string;
}

export class Connector {
  /** The calls seen so far, by id, as their last event showed them (as upstream). */
  readonly calls: Record<string, CtiCall> = {};
  readonly apiEndpoint: string;
  private readonly options: ConnectorOptions;
  private client: Client | null = null;
  private token: string | null = null;
  private ownsSession = false;
  private connected = false;
  private user: { id: string; extension: string | null; domain: string } | null = null;
  private readonly own = new Map<string, Own>();
  private readonly watched = new Map<string, Watched>();
  private readonly subscriptions = new Map<string, string>();
  /** Click-to-calls `call()` made and not yet seen: their synthetic calls by id. */
  private readonly initials = new Map<string, InitialCall>();
  /** The ids of the click-to-calls made by this connector (which answers them). */
  private readonly started = new Set<string>();
  private generation = 0;

  constructor(options: ConnectorOptions, defaultEndpoint = '') {
    if (typeof options?.onMessage !== 'function') throw new TypeError('Cti.Connector needs an onMessage function');
    this.options = options;
    this.apiEndpoint = endpoint(options.apiEndpoint ?? defaultEndpoint);
    const stored = this.options.persist === false ? null : readStored();
    if (stored !== null && stored.server === this.apiEndpoint) {
      void this.open(stored.token, true, true);
    }
  }

  // -- the API of the connector --------------------------------------------------------

  isConnected(): boolean {
    return this.connected;
  }

  login(...args: unknown[]): void {
    if (this.connected) {
      this.emit({ name: EVENT.LOGGED_IN, message: 'User is already authenticated.' });
      return;
    }
    const parsed = loginArguments(args);
    if (parsed.kind === 'error') {
      this.error(parsed.message);
      return;
    }
    if (parsed.kind === 'token') {
      void this.open(parsed.token, false, false);
      return;
    }
    void this.passwordLogin(parsed.username, parsed.password);
  }

  /** Callboard has no second factor: there is never a nonce to answer. */
  twoFactorAuth(authCode?: unknown, nonce?: unknown): void {
    if (this.connected) {
      this.emit({ name: EVENT.LOGGED_IN, message: 'User is already authenticated.' });
      return;
    }
    if (!authCode || !nonce) {
      this.error('Missing authCode and/or nonce.');
      return;
    }
    this.error('Two-factor authentication is not enabled on this server.');
  }

  logout(): void {
    if (!this.connected) {
      this.error('Connector is not connected.');
      return;
    }
    void this.close('User has been successfully logged out.', true);
  }

  /** Answer the last inbound call ringing (on this browser's phone). */
  answer(): void {
    if (!this.ready()) return;
    let chosen: Own | undefined;
    for (const entry of this.own.values()) {
      const status = entry.track.status;
      const ringingIn = status === CALL_STATUS.RINGING && entry.call.direction === 'inbound';
      const myClickToCall = status === CALL_STATUS.INITIAL && entry.call.onPhone;
      if (ringingIn || myClickToCall) chosen = entry;
    }
    if (chosen === undefined) {
      this.error('No ringing inbound calls to answer.');
      return;
    }
    this.attempt(chosen.call.answer(), (error) =>
      error.id === 'sdk.no_session' ? 'The call rings on another of your phones: answer it there.' : error.detail,
    );
  }

  /** Click-to-call: your phones ring first (this browser's too); once one answers, the
   * server calls `destination` and connects you. */
  call(destination?: unknown): void {
    if (!this.ready()) return;
    const client = this.client as Client;
    const target = normaliseDestination(destination, this.user?.extension ?? null, 'call');
    if (!target.ok) {
      this.error(target.message);
      return;
    }
    let id = `initial-${Date.now()}`;
    while (this.initials.has(id)) id += '0';
    const initial = initialCall(id, target.number);
    this.initials.set(id, initial);
    this.started.add(id);
    this.emit({ name: EVENT.INITIAL, call: { ...initial } });
    client.clickToCall(target.number, { variables: { [MARKER]: id } }).catch((failure: unknown) => {
      this.initials.delete(id);
      const error = CallboardError.from(failure);
      if (error.code === 400) {
        this.error(error.detail);
        return;
      }
      initial.cause = error.id === 'app.call.originate.no_device' ? ENDPOINT_NOT_FOUND : error.detail;
      this.emit({ name: EVENT.CANCEL, call: { ...initial } });
    });
  }

  terminate(callId?: unknown): void {
    if (!this.ready()) return;
    const call = this.known(callId);
    if (call === null) return;
    if (call.status === CALL_STATUS.HANGUP) {
      this.info(`Call with STATUS: ${call.status} cannot be terminated.`);
      return;
    }
    const own = this.own.get(call.id);
    if (own !== undefined) this.attempt(own.call.hangup());
    else this.attempt(this.request('call_hangup', { id: call.id, app_id: this.watched.get(call.id)?.appId ?? '' }));
  }

  /** Blind transfer of a connected call to `destination`. */
  transfer(callId?: unknown, destination?: unknown): void {
    if (!this.ready()) return;
    const call = this.known(callId);
    if (call === null) return;
    if (call.status !== CALL_STATUS.CONNECTED) {
      this.info(`Call with STATUS: ${call.status} cannot be transfered.`);
      return;
    }
    const target = normaliseDestination(destination, this.user?.extension ?? null, 'transfer');
    if (!target.ok) {
      this.error(target.message);
      return;
    }
    call.destination = target.number;
    const own = this.own.get(call.id);
    if (own !== undefined) this.attempt(own.call.transfer(target.number));
    else {
      const appId = this.watched.get(call.id)?.appId ?? '';
      this.attempt(this.request('call_blind_transfer', { id: call.id, app_id: appId, destination: target.number }));
    }
  }

  /** Follow the calls of `user:N` (a user id); `queue:N`, `ivr:N`, `conf:N` do not exist yet. */
  subscribe(node?: unknown): void {
    const parsed = parseNode(node);
    if (!parsed.ok) {
      this.error(parsed.message);
      return;
    }
    if (!this.ready()) return;
    if (parsed.type !== 'user') {
      this.error(`Callboard has no ${parsed.type} ${parsed.id} to subscribe to: only users' calls can be followed.`);
      return;
    }
    void this.subscribeUser(parsed.id);
  }

  getSubscriptionURIs(): string[] {
    return [...this.subscriptions.keys()];
  }

  /** A request to Callboard's REST API with this session's token, e.g.
   * `apiRequest('GET', '/api/calls/history?size=10', null, ok)`. Without `failureCb`, a
   * failure is an `ERROR` event. */
  apiRequest(
    method: string,
    url: string,
    data?: unknown,
    successCb?: (response: unknown) => void,
    failureCb?: (status: number, response: unknown) => void,
  ): void {
    void this.fetchJson(method, url, data, this.token).then(({ status, body }) => {
      if (status >= 200 && status < 400) successCb?.(body);
      else if (failureCb !== undefined) failureCb(status, body);
      else this.error(this.getApiError(body));
    });
  }

  getApiError(response: unknown): string {
    return apiErrorMessage(response);
  }

  log(message: string): void {
    console.log(`Cti.Connector: ${message}`);
  }

  // -- logging in and out ----------------------------------------------------------------

  private async passwordLogin(username: string, password: string): Promise<void> {
    const { status, body } = await this.fetchJson('POST', '/api/login', { username, password }, null);
    const token = (body as { access_token?: unknown } | null)?.access_token;
    if (status !== 200 || typeof token !== 'string') {
      this.error(this.getApiError(body));
      return;
    }
    await this.open(token, true, false);
  }

  /** Connect with `token`; `owned`: a login session of ours (ended by `logout()`). */
  private async open(token: string, owned: boolean, restored: boolean): Promise<void> {
    const generation = ++this.generation;
    const client = new Client({ ...this.options.sdk, server: this.apiEndpoint, token, phone: this.options.phone ?? true });
    this.listen(client, generation);
    // Who the user is (their extension: "you cannot call yourself"), asked meanwhile.
    const info = this.fetchJson('GET', '/api/userinfo', undefined, token);
    try {
      await client.connect();
    } catch (failure) {
      await client.close();
      if (restored) {
        forget();
        this.emit({ name: EVENT.LOGGED_OUT, message: 'User session expired.' });
      } else {
        this.error(`Unable to login: ${CallboardError.from(failure).detail}`);
      }
      return;
    }
    const me = (await info).body as { extension?: unknown; domain?: unknown } | null;
    if (generation !== this.generation) {
      await client.close(); // logged in again, or out, meanwhile
      return;
    }
    this.client = client;
    this.token = token;
    this.ownsSession = owned;
    this.connected = true;
    const user = client.user;
    this.user = {
      id: user?.id ?? '',
      extension: typeof me?.extension === 'string' ? me.extension : null,
      domain: typeof me?.domain === 'string' ? me.domain : (user?.domain ?? ''),
    };
    if (owned && this.options.persist !== false) remember(this.apiEndpoint, token);
    this.emit({ name: EVENT.LOGGED_IN, message: 'User has been successfully authenticated.' });
    for (const call of client.calls) this.adopt(call);
    const self = subscriptionUri('user', this.user.id, this.user.domain);
    this.subscriptions.set(self, this.user.id);
    this.emit({ name: EVENT.SUBSCRIBED, message: 'Call Event subscription created.', uri: self });
    this.whenReady(client, generation);
  }

  private async close(message: string, byUser: boolean): Promise<void> {
    const client = this.client;
    const token = this.token;
    this.generation++;
    this.client = null;
    this.token = null;
    this.connected = false;
    this.subscriptions.clear();
    this.watched.clear();
    forget();
    if (byUser && this.ownsSession && token !== null) {
      await this.fetchJson('POST', '/api/logout', undefined, token);
    }
    await client?.close();
    this.emit({ name: EVENT.LOGGED_OUT, message });
  }

  /** `READY` once this browser's phone registered (or cannot), as upstream sends it once
   * its SIP connection is up. */
  private whenReady(client: Client, generation: number): void {
    let done = false;
    const ready = (message: string) => {
      if (done || generation !== this.generation) return;
      done = true;
      off();
      clearTimeout(timer);
      this.emit({ name: EVENT.READY, message });
    };
    const check = () => {
      const phone = client.phone;
      if (this.options.phone === false) ready('Connection with Callboard has been successfully established.');
      else if (phone.state === 'registered') ready('Connection with SIP server has been successfully established.');
      else if (phone.state === 'failed') {
        this.info(`The web phone is not available: ${phone.error ?? 'unknown reason'}`);
        ready('Connection with Callboard has been successfully established; calls ring on your other phones.');
      }
    };
    const off = client.on('phone', check);
    const timer = setTimeout(
      () => ready('Connection with Callboard has been successfully established; the web phone is still connecting.'),
      this.options.readyTimeout ?? 10_000,
    );
    check();
  }

  // -- the user's own calls, from the SDK ------------------------------------------------

  private listen(client: Client, generation: number): void {
    const live = () => generation === this.generation;
    client.on('call', (call) => live() && this.adopt(call));
    client.on('ringing', (call) => live() && this.change(call, 'ringing'));
    client.on('connected', (call) => live() && this.change(call, 'answered'));
    client.on('held', (call) => live() && this.change(call, 'held'));
    client.on('resumed', (call) => live() && this.change(call, 'resumed'));
    client.on('ended', (call) => live() && this.change(call, 'ended'));
    client.on('update', (call) => live() && this.updated(call));
    client.on('event', (frame) => live() && this.onFrame(frame));
    let lost = false;
    client.on('connection', (state) => {
      if (!live()) return;
      if (state === 'reconnecting') lost = true;
      if (state === 'connected' && lost) {
        lost = false;
        void this.resubscribe();
      }
    });
    client.on('closed', (error) => {
      if (!live() || !this.connected) return;
      void this.close(error ? `User session expired. (${error.detail})` : 'User session expired.', false);
    });
  }

  /** A call the connector has not seen yet: a click-to-call made by `call()` (here or in
   * another tab) is told apart by its marker. */
  private adopt(call: Call): void {
    if (this.own.has(call.id)) return;
    const marker = call.variables[MARKER];
    let track: CallTrack;
    if (call.direction === 'outbound' && marker !== undefined) {
      const mine = this.initials.get(marker);
      this.initials.delete(marker);
      track = new CallTrack(mine ?? initialCall(marker, call.peer.number), mine !== undefined);
    } else {
      track = new CallTrack();
    }
    this.own.set(call.id, { call, track, bridgedAt: undefined, answering: false });
    // A call found already going (after a reload): say where it stands.
    if (call.state === 'active' || call.state === 'held') this.change(call, 'answered');
    if (call.state === 'held') this.change(call, 'held');
  }

  private change(call: Call, change: Change): void {
    const entry = this.own.get(call.id);
    if (entry === undefined) return;
    if (change === 'answered' || change === 'resumed') entry.bridgedAt = call.toJSON().bridgedAt ?? entry.bridgedAt;
    this.send(entry.track.apply(change, factsOf(call), call.cause ?? ''));
    if (change === 'answered' && call.toJSON().bridgedAt !== undefined) this.send(entry.track.apply('bridged', factsOf(call)));
    if (change === 'ended') this.own.delete(call.id);
    else this.autoAnswer(entry);
  }

  /** Bridged (the destination of a click-to-call answered, or a transfer's new party),
   * and the click-to-call's own leg ringing on this phone. */
  private updated(call: Call): void {
    const entry = this.own.get(call.id);
    if (entry === undefined || call.ended) return;
    const bridgedAt = call.toJSON().bridgedAt;
    if (bridgedAt !== undefined && bridgedAt !== entry.bridgedAt && call.state !== 'ringing') {
      entry.bridgedAt = bridgedAt;
      this.send(entry.track.apply('bridged', factsOf(call)));
    }
    this.autoAnswer(entry);
  }

  private autoAnswer(entry: Own): void {
    const { call, track } = entry;
    if (this.options.autoAnswer === false || entry.answering || track.initial === null) return;
    if (call.state !== 'ringing' || !call.onPhone || !this.started.has(track.initial.id)) return;
    entry.answering = true;
    this.attempt(call.answer());
  }


  // -- other users' calls ----------------------------------------------------------------

  private async subscribeUser(userId: string): Promise<void> {
    const user = this.user;
    if (user === null) return;
    const uri = subscriptionUri('user', userId, user.domain);
    if (this.subscriptions.has(uri)) {
      this.log(`Already subscribed to [${uri}], skipping...`);
      return;
    }
    let reply: { items?: Record<string, unknown>[] };
    try {
      reply = await this.request<{ items?: Record<string, unknown>[] }>('subscribe_user_calls', { user_id: userId });
    } catch (failure) {
      this.error(CallboardError.from(failure).detail);
      return;
    }
    this.subscriptions.set(uri, userId);
    this.emit({ name: EVENT.SUBSCRIBED, message: 'Call Event subscription created.', uri });
    this.snapshot(reply.items ?? []);
  }

  private async resubscribe(): Promise<void> {
    for (const userId of new Set(this.subscriptions.values())) {
      if (userId === this.user?.id) continue;
      try {
        const reply = await this.request<{ items?: Record<string, unknown>[] }>('subscribe_user_calls', { user_id: userId });
        this.snapshot(reply.items ?? []);
      } catch (failure) {
        this.error(CallboardError.from(failure).detail);
      }
    }
  }

  /** Another user's live calls, as a subscription starts: where each stands. */
  private snapshot(items: Record<string, unknown>[]): void {
    for (const item of items) {
      const id = String(item.id ?? '');
      if (id === '' || this.watched.has(id)) continue;
      const entry: Watched = { facts: factsFromWire(id, item), track: new CallTrack(), held: false, appId: String(item.app_id ?? '') };
      this.watched.set(id, entry);
      const state = String(item.state ?? 'ringing');
      this.send(entry.track.apply(state === 'ringing' ? 'ringing' : 'answered', entry.facts));
      if (state === 'hold') {
        entry.held = true;
        this.send(entry.track.apply('held', entry.facts));
      }
    }
  }

  private onFrame(frame: WireEvent): void {
    if (frame.event !== 'user_call') return;
    const wire = (frame.data as { call?: WireCall & { app_id?: string } } | null)?.call;
    if (wire === undefined || typeof wire.id !== 'string') return;
    if (wire.event === 'ringing' && !this.watched.has(wire.id)) {
      this.watched.set(wire.id, {
        facts: factsFromWire(wire.id, wire.data ?? {}),
        track: new CallTrack(),
        held: false,
        appId: String(wire.app_id ?? ''),
      });
    }
    const entry = this.watched.get(wire.id);
    if (entry === undefined) return;
    const step = wireChange(wire, entry.held);
    if (step === null) return;
    if (step.remote !== undefined) entry.facts.remote = step.remote;
    if (step.change === 'held') entry.held = true;
    if (step.change === 'resumed') entry.held = false;
    this.send(entry.track.apply(step.change, entry.facts, step.cause ?? ''));
    if (step.change === 'ended') this.watched.delete(wire.id);
  }

  // -- helpers -----------------------------------------------------------------------------

  private ready(): boolean {
    if (this.connected && this.client !== null) return true;
    this.error('Connector need to be connected first.');
    return false;
  }

  private known(callId: unknown): CtiCall | null {
    if (callId === undefined || callId === null || callId === '') {
      this.error('Missing call ID parameter');
      return null;
    }
    const call = this.calls[String(callId)];
    if (call === undefined) {
      this.error(`Call with ID: ${String(callId)} could not be found.`);
      return null;
    }
    return call;
  }

  private request<T>(action: string, data: Record<string, unknown>): Promise<T> {
    const client = this.client;
    if (client === null) return Promise.reject(CallboardError.sdk('not_connected', 'Connector need to be connected first.', 503));
    return client.request<T>(action, data);
  }

  private attempt(promise: Promise<unknown>, describe: (error: CallboardError) => string = (error) => error.detail): void {
    promise.catch((failure: unknown) => this.error(describe(CallboardError.from(failure))));
  }

  private async fetchJson(method: string, url: string, data: unknown, token: string | null): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (token !== null) headers['X-Webitel-Access'] = token;
    if (data !== undefined && data !== null) headers['Content-Type'] = 'application/json';
    try {
      const response = await fetch(`${this.apiEndpoint}${url}`, {
        method,
        headers,
        ...(data !== undefined && data !== null ? { body: JSON.stringify(data) } : {}),
      });
      const text = await response.text();
      let body: unknown = null;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          return { status: response.status, body: { message: 'Failed to parse API response', errors: [] } };
        }
      }
      return { status: response.status, body };
    } catch {
      return { status: 0, body: { message: 'API Connection failure', errors: [] } };
    }
  }

  private send(events: CtiEvent[]): void {
    for (const event of events) {
      if (event.call !== undefined && 'cid' in event.call) this.calls[event.call.id] = { ...event.call };
      this.emit(event);
    }
  }

  private emit(event: CtiEvent): void {
    try {
      this.options.onMessage(event);
    } catch (error) {
      console.error('Cti.Connector: the onMessage callback failed', error);
    }
  }

  private error(message: string): void {
    this.emit({ name: EVENT.ERROR, message });
  }

  private info(message: string): void {
    this.emit({ name: EVENT.INFO, message });
  }
}

function factsOf(call: Call): CallFacts {
  const local = call.direction === 'inbound' ? call.to : call.from;
  return {
    id: call.id,
    direction: call.direction,
    local: { number: local.number, name: local.name || local.number },
    remote: { number: call.peer.number, name: call.peer.name || call.peer.number },
  };
}

function endpoint(value: string): string {
  const trimmed = value.trim().replace(/\/+$/, '').replace(/\/api$/, '');
  if (trimmed !== '') return trimmed;
  return typeof location !== 'undefined' ? location.origin : '';
}

function readStored(): { server: string; token: string } | null {
  try {
    const text = globalThis.localStorage?.getItem(STORAGE);
    if (!text) return null;
    const value = JSON.parse(text) as { server?: unknown; token?: unknown };
    return typeof value.server === 'string' && typeof value.token === 'string' ? { server: value.server, token: value.token } : null;
  } catch {
    return null;
  }
}

function remember(server: string, token: string): void {
  try {
    globalThis.localStorage?.setItem(STORAGE, JSON.stringify({ server, token }));
  } catch {
    // storage disabled: no reconnection after a reload
  }
}

function forget(): void {
  try {
    globalThis.localStorage?.removeItem(STORAGE);
  } catch {
    // storage disabled
  }
}
