/**
 * The Callboard client: one user's connection to the server, their calls, and (in one
 * tab of the browser) their web phone.
 *
 *     const client = await Client.login({ username: 'alice', password: '...' });
 *     client.on('incoming', (call) => call.answer());
 *     const call = await client.call('1002');
 *
 * Why this shape:
 * - It speaks the server's existing WebSocket API (the webitel-sdk protocol at
 *   `/websocket`, with Callboard's per-user event `seq` and `events_since` to resume),
 *   rather than a second protocol: one server surface, already proven against the
 *   published client. The SDK hides the protocol behind typed calls and events.
 * - The server is the authority on calls: every tab and every device of the user sees
 *   the same state, built only from the server's events; commands are requests whose
 *   effects come back as events (answering is the exception: the phone does it).
 * - After a network loss it reconnects by itself, replays the events it missed (or, if
 *   they are no longer kept, takes a fresh snapshot and says `resync`), and its phone
 *   registers again.
 */
import { type CallActions, Call } from './call';
import { type CallChange, CallStore } from './calls';
import { Emitter } from './emitter';
import { CallboardError } from './errors';
import { type FetchLike, login as httpLogin, logout as httpLogout } from './http';
import { Phone } from './phone';
import { CredentialRenewal } from './renewal';
import { Ringer, type RingtoneOptions } from './ringer';
import { Sequencer } from './sequencer';
import { ApiSocket, type ReconnectOptions, type SocketState, type WebSocketFactory } from './socket';
import { type ChannelLike, type LockManagerLike, Tabs } from './tabs';
import type {
  AudioDevice,
  AudioDevices,
  ClickToCallOptions,
  ConnectionState,
  DialOptions,
  PhoneState,
  PhoneStatus,
  User,
} from './types';
import { isCallEvent, type DeviceConfig, type Hello, type WireCallEvent, type WireCallItem, type WireEvent } from './wire';

declare const __CALLBOARD_SDK_VERSION__: string;
/** The SDK's version. */
export const VERSION: string = typeof __CALLBOARD_SDK_VERSION__ === 'string' ? __CALLBOARD_SDK_VERSION__ : '0.0.0';

export interface ClientOptions {
  /** The Callboard server's base URL; defaults to the page's origin. */
  server?: string;
  /** A user token (`POST /api/login`'s `access_token`, or a user's integration token). */
  token: string;
  /** Run the web phone (in one tab of the browser). Default true. */
  phone?: boolean;
  /** ICE servers for the calls' media. Default none: host candidates only. */
  iceServers?: RTCIceServer[];
  /** Keep only the ICE candidates for which this returns true (e.g. a loopback-only
   * test, or a network policy). Default: all. */
  iceCandidateFilter?: (candidate: string) => boolean;
  /** The ringtone of incoming calls, or false for none. */
  ringtone?: Partial<RingtoneOptions> | false;
  /** Desktop notifications for incoming calls while the tab is hidden. Default true. */
  notifications?: boolean;
  /** Share one phone among the tabs of the browser. Default true. */
  multiTab?: boolean;
  /** Answer by itself the calls the server marks `autoAnswer` (click-to-call). Default true. */
  autoAnswer?: boolean;
  /** Reconnection delays in milliseconds, or false to give up on the first loss. */
  reconnect?: Partial<ReconnectOptions> | false;
  /** Milliseconds to wait for the server's reply to a request. Default 15000. */
  requestTimeout?: number;
  /** The web phone's SIP reconnection delays, in seconds. Default 2 to 30. */
  sipRecovery?: { min: number; max: number };
  /** Seconds a registration lasts (unless the server's device settings say). Default 300. */
  registerExpires?: number;
  /** The microphone and speaker to use (device ids); otherwise the last chosen ones. */
  microphone?: string;
  speaker?: string;
  /** For tests and other runtimes. */
  webSocket?: WebSocketFactory;
  fetch?: FetchLike;
  locks?: LockManagerLike | null;
  channel?: ((name: string) => ChannelLike) | null;
}

export interface LoginOptions extends Omit<ClientOptions, 'token'> {
  /** `name` or `name@domain`. */
  username: string;
  password: string;
  domain?: string;
}

export type ClientEvents = {
  /** The API connection's state changed. */
  connection: [state: ConnectionState];
  /** A call appeared (any direction). */
  call: [call: Call];
  /** A new call is ringing (inbound: the user is called; outbound: the user calls). */
  ringing: [call: Call];
  /** An inbound call is ringing (`call.ringsHere`: on this browser's phone). */
  incoming: [call: Call];
  connected: [call: Call];
  held: [call: Call];
  resumed: [call: Call];
  /** A DTMF digit this side of the call sent (the server's `dtmf` event). */
  dtmf: [call: Call, digit: string];
  /** A DTMF digit arrived from the other side, on the phone of this tab (SIP INFO). */
  dtmfReceived: [call: Call, digit: string];
  ended: [call: Call];
  /** Anything about a call changed. */
  update: [call: Call];
  /** The web phone's state changed (this tab's, or the one that owns it). */
  phone: [status: PhoneStatus];
  /** This tab took (true) or left (false) the phone. */
  leader: [leader: boolean];
  /** The ringtone started or stopped (or became audible). */
  ringtone: [playing: boolean];
  /** Events were missed for good during a long disconnection: the calls were rebuilt
   * from a snapshot (calls that ended meanwhile end with cause `UNKNOWN`). */
  resync: [];
  /** Every event of the user's stream as the server sent it (`call` events, and others
   * such as `agent_status`), in order and once, after the SDK applied it. */
  event: [frame: WireEvent];
  /** The client is closed for good: `close()`, `logout()`, or the session was revoked. */
  closed: [error: CallboardError | undefined];
};

interface PhoneShare {
  phone: { state: PhoneState; error?: string };
  calls: { id: string; ringing: boolean; muted: boolean }[];
  microphone?: string;
  speaker?: string;
}

const STORAGE_MIC = 'callboard.microphone';
const STORAGE_SPEAKER = 'callboard.speaker';
const AUTO_ANSWER_DELAY = 400;

export class Client extends Emitter<ClientEvents> implements CallActions {
  /** Who is logged in, once connected. */
  user: User | null = null;
  readonly server: string;

  private readonly options: ClientOptions;
  private readonly socket: ApiSocket;
  private readonly store: CallStore;
  private readonly sequencer: Sequencer<{ seq: number; frame: WireEvent }>;
  private readonly tabs: Tabs;
  private readonly ringer: Ringer;
  private phoneInstance: Phone | null = null;
  /** Renews the phone's SIP credentials when they expire (renewal.ts). */
  private renewal: CredentialRenewal | null = null;
  /** Why the server refused new SIP credentials (the phone fails when they lapse). */
  private renewalRefused: string | undefined;
  private phoneStatusValue: PhoneStatus = { state: 'off', owner: 'none' };
  private connectionState: ConnectionState = 'idle';
  private ownsSession = false;
  private closed = false;
  private readonly dialing = new Map<string, { resolve: (call: Call) => void; reject: (error: CallboardError) => void }>();
  private readonly autoAnswered = new Set<string>();
  private readonly cleanups: (() => void)[] = [];

  /** Log in with a username and password (`POST /api/login`), then connect. */
  static async login(options: LoginOptions): Promise<Client> {
    const { username, password, domain, ...rest } = options;
    const server = baseUrl(options.server);
    const fetcher = options.fetch ?? defaultFetch();
    const session = await httpLogin(fetcher, server, { username, password, ...(domain ? { domain } : {}) });
    const client = new Client({ ...rest, server, token: session.token });
    client.ownsSession = true;
    try {
      await client.connect();
    } catch (error) {
      await client.logout().catch(() => undefined);
      throw error;
    }
    return client;
  }

  /** Connect with a token; `connect()` starts. */
  constructor(options: ClientOptions) {
    super();
    if (!options.token) throw CallboardError.sdk('bad_options', 'a token is required (or use Client.login)');
    this.options = { ...options };
    this.server = baseUrl(options.server);
    this.options.microphone ??= remembered(STORAGE_MIC);
    this.options.speaker ??= remembered(STORAGE_SPEAKER);
    const reconnect = options.reconnect === false ? false : { minDelay: 500, maxDelay: 30_000, ...options.reconnect };
    this.socket = new ApiSocket({
      url: `${this.server.replace(/^http/, 'ws')}/websocket?application_name=callboard_sdk&ver=${VERSION}`,
      token: options.token,
      webSocket: options.webSocket ?? ((url) => new WebSocket(url) as unknown as ReturnType<WebSocketFactory>),
      requestTimeout: options.requestTimeout ?? 15_000,
      reconnect,
      onOpen: (hello, reconnected) => this.synchronise(hello, reconnected),
      onEvent: (frame) => this.onEvent(frame),
    });
    this.socket.on('state', (state) => this.onSocketState(state));
    this.socket.on('fatal', (error) => this.shutdown(error));
    this.store = new CallStore(this, (change) => this.onCallChange(change));
    this.sequencer = new Sequencer((event) => this.applyFrame(event.frame));
    const multiTab = options.multiTab ?? true;
    this.tabs = new Tabs({
      locks: !multiTab ? null : options.locks !== undefined ? options.locks : browserLocks(),
      channel: !multiTab ? null : options.channel !== undefined ? options.channel : browserChannel(),
      commandTimeout: options.requestTimeout ?? 15_000,
    });
    this.tabs.on('leader', (leader) => this.onLeader(leader));
    this.tabs.on('state', (state) => this.onRemotePhone(state as PhoneShare | null));
    const ringtone = options.ringtone === false ? false : { frequencies: [440, 480] as [number, number], volume: 0.3, ...options.ringtone };
    this.ringer = new Ringer(ringtone, options.notifications ?? true);
    this.ringer.onChange = () => this.emit('ringtone', this.ringer.playing);
  }

  // -- connection ----------------------------------------------------------------------

  /** Connect, authenticate and load the user's live calls. Rejects when the server
   * cannot be reached or refuses the token; later losses are repaired by themselves. */
  async connect(): Promise<void> {
    await this.socket.connect();
    if (typeof window !== 'undefined') {
      const online = () => this.socket.reconnectNow();
      const leave = () => void this.close();
      window.addEventListener('online', online);
      window.addEventListener('pagehide', leave);
      this.cleanups.push(() => window.removeEventListener('online', online));
      this.cleanups.push(() => window.removeEventListener('pagehide', leave));
    }
    const user = this.user as User | null;
    if (user !== null) this.tabs.start(`callboard:${this.server}:${user.id}`, (op, args) => this.onCommand(op, args));
  }

  /** Close the connection (and hand the phone to another tab). The login session stays. */
  async close(): Promise<void> {
    await this.shutdown(undefined);
  }

  /** End the login session (`POST /api/logout`) and close. */
  async logout(): Promise<void> {
    const fetcher = this.options.fetch ?? defaultFetch();
    try {
      if (this.ownsSession) await httpLogout(fetcher, this.server, this.options.token);
    } finally {
      await this.close();
    }
  }

  /** The token this client authenticates with: use it for the REST API
   * (`X-Webitel-Access`), e.g. the call history. */
  get token(): string {
    return this.options.token;
  }

  get connection(): ConnectionState {
    return this.connectionState;
  }

  /** The last event of the user's stream this client applied (see events_since). */
  get lastSeq(): number | null {
    return this.sequencer.lastSeq;
  }

  /** Whether this tab owns the web phone. */
  get isLeader(): boolean {
    return this.tabs.leader;
  }

  get phone(): PhoneStatus {
    return { ...this.phoneStatusValue };
  }

  /** Whether an incoming call is ringing in this tab, and whether it can be heard
   * (browsers play sound only after the user interacted with the page). */
  get ringtone(): { playing: boolean; audible: boolean; calls: string[] } {
    return { playing: this.ringer.playing, audible: this.ringer.audible, calls: this.ringer.calls };
  }

  /** The user's live calls, oldest first. */
  get calls(): Call[] {
    return this.store.live();
  }

  /** A call by id (ended ones too, while this client runs). */
  getCall(id: string): Call | undefined {
    return this.store.get(id);
  }

  // -- placing calls -------------------------------------------------------------------

  /** Call `destination` (an extension or a number) from the web phone; resolves with
   * the call once the server has it (state `ringing`, direction `outbound`). */
  async call(destination: string, options: DialOptions = {}): Promise<Call> {
    const target = destination.trim();
    if (target === '') throw CallboardError.sdk('bad_destination', 'a destination is required');
    const sessionId = (await this.tabs.command('dial', { destination: target, extraHeaders: options.extraHeaders ?? [] })) as string;
    const known = this.store.live().find((call) => call.data.sipId !== undefined && sessionId.startsWith(call.data.sipId));
    if (known !== undefined) return known;
    return new Promise<Call>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.dialing.delete(sessionId);
        reject(CallboardError.sdk('timeout', `the server did not report the call to ${target}`, 504));
      }, this.options.requestTimeout ?? 15_000);
      this.dialing.set(sessionId, {
        resolve: (call) => {
          clearTimeout(timer);
          resolve(call);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /**
   * Click-to-call: the server rings the user's own phone(s) first and, once answered,
   * calls `destination` and connects the two. Resolves with the id of the user's call
   * (it appears as a `ringing` event, direction `outbound`). When this browser runs the
   * web phone, the phone answers by itself (`autoAnswer`, default true then): the click
   * was the user's go-ahead.
   */
  async clickToCall(destination: string, options: ClickToCallOptions = {}): Promise<string> {
    const target = destination.trim();
    if (target === '') throw CallboardError.sdk('bad_destination', 'a destination is required');
    const params: Record<string, unknown> = {};
    const autoAnswer = options.autoAnswer ?? this.phoneStatusValue.state === 'registered';
    if (autoAnswer) params.autoAnswer = true;
    if (options.timeout !== undefined) params.timeout = options.timeout;
    if (options.display !== undefined) params.display = options.display;
    if (options.variables !== undefined) params.variables = options.variables;
    const reply = await this.socket.request<{ id: string }>('call_invite', { destination: target, params });
    return reply.id;
  }

  /**
   * Send a request of the server's WebSocket API that the SDK has no method for (e.g.
   * Callboard's `subscribe_user_calls`, which the `Cti.Connector` facade uses); resolves
   * with the reply's data. What it causes arrives as events (`event` for the frames
   * the SDK does not handle itself).
   */
  request<T = unknown>(action: string, data: Record<string, unknown> = {}): Promise<T> {
    return this.socket.request<T>(action, data);
  }

  // -- devices -------------------------------------------------------------------------

  /** The microphones and speakers (asks for microphone access first when the browser
   * hides their names, unless `askPermission` is false). */
  async devices(askPermission = true): Promise<AudioDevices> {
    const media = navigator.mediaDevices;
    let list = await media.enumerateDevices();
    if (askPermission && list.some((device) => device.kind === 'audioinput' && device.label === '')) {
      const stream = await media.getUserMedia({ audio: true });
      for (const track of stream.getTracks()) track.stop();
      list = await media.enumerateDevices();
    }
    const pick = (kind: MediaDeviceKind): AudioDevice[] =>
      list.filter((device) => device.kind === kind).map((device) => ({ id: device.deviceId, label: device.label, groupId: device.groupId }));
    const result: AudioDevices = { microphones: pick('audioinput'), speakers: pick('audiooutput') };
    if (this.options.microphone) result.microphone = this.options.microphone;
    if (this.options.speaker) result.speaker = this.options.speaker;
    return result;
  }

  /** Use this microphone (a device id; undefined: the default), calls in progress too. */
  async setMicrophone(deviceId: string | undefined): Promise<void> {
    this.options.microphone = deviceId;
    remember(STORAGE_MIC, deviceId);
    if (this.tabs.leader || this.phoneStatusValue.owner === 'other-tab') await this.tabs.command('microphone', { deviceId });
  }

  /** Play calls on this speaker (a device id; undefined: the default). */
  async setSpeaker(deviceId: string | undefined): Promise<void> {
    this.options.speaker = deviceId;
    remember(STORAGE_SPEAKER, deviceId);
    if (this.tabs.leader || this.phoneStatusValue.owner === 'other-tab') await this.tabs.command('speaker', { deviceId });
  }

  /** Ask the user to allow desktop notifications (call it from a click). */
  async requestNotificationPermission(): Promise<NotificationPermission> {
    if (typeof Notification === 'undefined') return 'denied';
    return Notification.requestPermission();
  }

  // -- CallActions (what a Call's methods do) -----------------------------------------

  /** @internal */
  async answer(call: Call): Promise<void> {
    await this.tabs.command('answer', { id: call.id });
  }

  /** @internal */
  async hangup(call: Call, cause?: string): Promise<void> {
    if (this.socket.state !== 'open' && this.phoneInstance?.terminate(call.id)) return;
    await this.socket.request('call_hangup', { id: call.id, app_id: call.data.appId, ...(cause ? { cause } : {}) });
  }

  /** @internal */
  async hold(call: Call, hold: boolean): Promise<void> {
    await this.socket.request(hold ? 'call_hold' : 'call_unhold', { id: call.id, app_id: call.data.appId });
  }

  /** @internal */
  async mute(call: Call, muted: boolean): Promise<void> {
    await this.tabs.command('mute', { id: call.id, muted });
  }

  /** @internal */
  async sendDtmf(call: Call, digits: string): Promise<void> {
    if (!/^[0-9*#A-Da-d]+$/.test(digits)) throw CallboardError.sdk('bad_dtmf', 'DTMF digits are 0-9, *, # and A-D');
    for (const digit of digits.toUpperCase()) {
      await this.socket.request('call_dtmf', { id: call.id, app_id: call.data.appId, dtmf: digit });
    }
  }

  /** @internal */
  async transfer(call: Call, destination: string): Promise<void> {
    const target = destination.trim();
    if (target === '') throw CallboardError.sdk('bad_destination', 'a destination is required');
    await this.socket.request('call_blind_transfer', { id: call.id, app_id: call.data.appId, destination: target });
  }

  /** @internal */
  async stats(call: Call): Promise<RTCStatsReport | null> {
    const connection = this.peerConnection(call);
    return connection === null ? null : connection.getStats();
  }

  /** @internal */
  peerConnection(call: Call): RTCPeerConnection | null {
    return this.phoneInstance?.peerConnection(call.id) ?? null;
  }

  // -- the event stream ----------------------------------------------------------------

  private async synchronise(hello: Hello, reconnected: boolean): Promise<void> {
    const session = hello.session;
    this.user = {
      id: String(session.user_id),
      name: session.name ?? '',
      domain: session.domain_name ?? '',
      domainId: String(session.domain_id),
    };
    this.sequencer.hold();
    const since = this.sequencer.lastSeq;
    if (reconnected && since !== null) {
      try {
        const reply = await this.socket.request<{ items: (WireEvent & { seq: number })[]; last_seq: number }>('events_since', {
          seq: since,
        });
        this.sequencer.replayed(
          reply.items.map((frame) => ({ seq: frame.seq, frame })),
          reply.last_seq,
        );
        return;
      } catch (error) {
        if (CallboardError.from(error).id !== 'app.events.gone') throw error;
      }
    }
    const reply = await this.socket.request<{ items: WireCallItem[]; last_seq?: number }>('subscribe_call');
    this.store.snapshot(reply.items ?? [], reconnected);
    this.sequencer.snapshot(typeof reply.last_seq === 'number' ? reply.last_seq : null);
    if (reconnected) this.emit('resync');
  }

  private onEvent(frame: WireEvent): void {
    if (typeof frame.seq === 'number' && frame.seq > 0) this.sequencer.live({ seq: frame.seq, frame });
    else this.applyFrame(frame);
  }

  /** One event of the user's stream, in order and once. */
  private applyFrame(frame: WireEvent): void {
    if (isCallEvent(frame)) this.applyCallEvent(frame.data.call);
    this.emit('event', frame);
  }

  private applyCallEvent(wire: WireCallEvent): void {
    this.store.apply(wire);
    const call = this.store.get(wire.id);
    if (call === undefined) return;
    if (wire.event === 'ringing' && call.data.sipId !== undefined) {
      this.phoneInstance?.link(call.id, call.data.sipId);
      for (const [sessionId, waiter] of this.dialing) {
        if (sessionId.startsWith(call.data.sipId)) {
          this.dialing.delete(sessionId);
          waiter.resolve(call);
        }
      }
    }
    this.refreshLocal(call);
  }

  private onCallChange(change: CallChange): void {
    const { call } = change;
    switch (change.kind) {
      case 'new':
        this.emit('call', call);
        return;
      case 'ringing':
        this.emit('ringing', call);
        if (call.direction === 'inbound') this.emit('incoming', call);
        this.emit('update', call);
        return;
      case 'dtmf':
        this.emit('dtmf', call, change.digit);
        this.emit('update', call);
        return;
      case 'update':
        this.emit('update', call);
        return;
      default:
        this.emit(change.kind, call);
        this.emit('update', call);
        if (change.kind === 'ended' || change.kind === 'connected') this.ringer.stop(call.id);
    }
  }

  private onSocketState(state: SocketState): void {
    let next: ConnectionState;
    if (state === 'idle') next = 'idle';
    else if (state === 'open') next = 'connected';
    else if (state === 'closed') next = 'closed';
    else next = this.socket.opened === 0 ? 'connecting' : 'reconnecting';
    if (state === 'open' && this.tabs.leader) void this.startPhone();
    if (state === 'open') this.renewal?.resume();
    if (next === this.connectionState) return;
    this.connectionState = next;
    this.emit('connection', next);
  }

  private async shutdown(error: CallboardError | undefined): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    for (const [, waiter] of this.dialing) waiter.reject(error ?? CallboardError.sdk('closed', 'the client was closed', 499));
    this.dialing.clear();
    this.ringer.stopAll();
    this.tabs.stop();
    const phone = this.phoneInstance;
    this.phoneInstance = null;
    this.stopRenewal();
    this.socket.close();
    if (phone !== null) await phone.stop();
    this.setPhoneStatus({ state: 'off', owner: 'none' });
    this.emit('closed', error);
  }

  // -- the phone and the tabs ----------------------------------------------------------

  private onLeader(leader: boolean): void {
    this.emit('leader', leader);
    if (leader) {
      void this.startPhone();
    } else {
      const phone = this.phoneInstance;
      this.phoneInstance = null;
      this.stopRenewal();
      void phone?.stop();
    }
  }

  private stopRenewal(): void {
    this.renewal?.stop();
    this.renewal = null;
    this.renewalRefused = undefined;
  }

  private async startPhone(): Promise<void> {
    if (this.options.phone === false || this.phoneInstance !== null || !this.tabs.leader) return;
    if (this.phoneStatusValue.state === 'starting' || this.socket.state !== 'open') return;
    this.setPhoneStatus({ state: 'starting', owner: 'here' });
    let config: DeviceConfig;
    try {
      config = await this.socket.request<DeviceConfig>('user_default_device', { name: 'webrtc' });
    } catch (error) {
      const failure = CallboardError.from(error);
      // A lost connection: try again once it is back. A refusal (no device): say why.
      if (failure.id.startsWith('sdk.')) this.setPhoneStatus({ state: 'off', owner: 'here' });
      else this.setPhoneStatus({ state: 'failed', owner: 'here', error: failure.detail });
      return;
    }
    if (!this.tabs.leader || this.phoneInstance !== null || this.closed) return;
    const phone = new Phone({
      iceServers: this.options.iceServers ?? [],
      iceCandidateFilter: this.options.iceCandidateFilter ?? null,
      microphone: this.options.microphone,
      speaker: this.options.speaker,
      userAgent: `Callboard-SDK/${VERSION}`,
      recovery: this.options.sipRecovery ?? { min: 2, max: 30 },
      registerExpires: this.options.registerExpires ?? 300,
    });
    this.phoneInstance = phone;
    phone.on('state', (state, error) => {
      if (this.phoneInstance !== phone) return;
      if (state === 'failed' && this.renewalRefused !== undefined) {
        error = `${error ?? 'registration failed'} (no new SIP credentials: ${this.renewalRefused})`;
      }
      this.setPhoneStatus(error === undefined ? { state, owner: 'here' } : { state, owner: 'here', error });
    });
    const changed = (id: string) => {
      if (this.phoneInstance !== phone) return;
      const call = this.store.get(id);
      // An incoming session may come before the server's ringing event: then the
      // event does this.
      if (call !== undefined) this.refreshLocal(call);
      this.publishPhone();
    };
    phone.on('session', changed);
    phone.on('gone', changed);
    phone.on('media', changed);
    phone.on('dtmf', (id, digit) => {
      const call = this.store.get(id);
      if (call === undefined || this.phoneInstance !== phone) return;
      call._emit('dtmfReceived', call, digit);
      this.emit('dtmfReceived', call, digit);
    });
    phone.start(config);
    this.stopRenewal();
    const renewal = new CredentialRenewal({
      fetch: () => this.socket.request<DeviceConfig>('user_default_device', { name: 'webrtc' }),
      apply: (next) => {
        if (this.phoneInstance === phone) phone.renew(next);
      },
      refused: (error) => {
        this.renewalRefused = error.detail;
      },
    });
    this.renewal = renewal;
    renewal.start(config);
    // Calls the server announced before the phone was up (e.g. after a tab handover).
    for (const call of this.store.live()) if (call.data.sipId !== undefined) phone.link(call.id, call.data.sipId);
  }

  /** Commands from other tabs (and from this one, when it leads). */
  private async onCommand(op: string, args: unknown): Promise<unknown> {
    const a = (args ?? {}) as Record<string, unknown>;
    const phone = this.phoneInstance;
    if (op === 'microphone') return phone?.setMicrophone(a.deviceId as string | undefined);
    if (op === 'speaker') return phone?.setSpeaker(a.deviceId as string | undefined);
    if (phone === null) {
      throw CallboardError.sdk('no_phone', this.phoneStatusValue.error ?? `the web phone is ${this.phoneStatusValue.state}`, 409);
    }
    switch (op) {
      case 'dial':
        return phone.dial(String(a.destination), (a.extraHeaders as string[] | undefined) ?? []);
      case 'answer':
        this.ringer.stop(String(a.id));
        return phone.answer(String(a.id));
      case 'mute':
        return phone.mute(String(a.id), Boolean(a.muted));
      default:
        throw CallboardError.sdk('bad_command', `unknown command ${op}`);
    }
  }

  private publishPhone(): void {
    const phone = this.phoneInstance;
    const share: PhoneShare = {
      phone: { state: this.phoneStatusValue.state, ...(this.phoneStatusValue.error ? { error: this.phoneStatusValue.error } : {}) },
      calls: phone === null ? [] : phone.calls().map((id) => ({ id, ringing: phone.ringing(id), muted: phone.muted(id) })),
    };
    if (this.options.microphone) share.microphone = this.options.microphone;
    if (this.options.speaker) share.speaker = this.options.speaker;
    this.tabs.publish(share);
  }

  private onRemotePhone(share: PhoneShare | null): void {
    if (this.tabs.leader) return;
    this.setPhoneStatus(
      share === null
        ? { state: 'off', owner: 'none' }
        : { state: share.phone.state, owner: 'other-tab', ...(share.phone.error ? { error: share.phone.error } : {}) },
    );
    for (const call of this.store.live()) this.refreshLocal(call, share);
  }

  /** Whether the call is on this browser's phone, rings here, is muted; and the ringtone. */
  private refreshLocal(call: Call, share: PhoneShare | null = this.tabs.remoteState as PhoneShare | null): void {
    if (call.ended) {
      this.ringer.stop(call.id);
      return;
    }
    const phone = this.phoneInstance;
    let flags: { onPhone: boolean; ringsHere: boolean; muted: boolean };
    if (this.tabs.leader) {
      const onPhone = phone?.has(call.id) ?? false;
      flags = {
        onPhone,
        // An incoming SIP session not yet answered: a call to the user, or the user's own
        // phone rung first by a click-to-call (direction outbound).
        ringsHere: onPhone && call.state === 'ringing' && (phone?.ringing(call.id) ?? false),
        muted: phone?.muted(call.id) ?? false,
      };
    } else {
      const line = share?.calls.find((item) => item.id === call.id);
      flags = { onPhone: line !== undefined, ringsHere: (line?.ringing ?? false) && call.state === 'ringing', muted: line?.muted ?? false };
    }
    this.store.setLocal(call, flags);
    if (!this.tabs.leader) return;
    if (flags.ringsHere) {
      this.ringer.start({ id: call.id, title: 'Incoming call', body: `${call.peer.name || call.peer.number} ${call.peer.number}`.trim() });
      this.maybeAutoAnswer(call);
    } else {
      this.ringer.stop(call.id);
    }
  }

  private maybeAutoAnswer(call: Call): void {
    if (this.options.autoAnswer === false || this.autoAnswered.has(call.id)) return;
    const flag = call.data.params.autoAnswer;
    if (!(flag === true || flag === 'true' || (typeof flag === 'string' && /^\d+$/.test(flag)))) return;
    this.autoAnswered.add(call.id);
    const delay = typeof flag === 'string' && /^\d+$/.test(flag) ? Number(flag) : AUTO_ANSWER_DELAY;
    setTimeout(() => {
      if (call.state !== 'ringing') return;
      this.answer(call).catch((error: unknown) => console.warn('callboard: auto-answer failed', error));
    }, delay);
  }

  private setPhoneStatus(status: PhoneStatus): void {
    const current = this.phoneStatusValue;
    if (current.state === status.state && current.owner === status.owner && current.error === status.error) return;
    this.phoneStatusValue = status;
    this.emit('phone', { ...status });
    if (status.owner === 'here') this.publishPhone();
  }
}

function baseUrl(server: string | undefined): string {
  const value = server ?? (typeof location !== 'undefined' ? location.origin : '');
  if (!/^https?:\/\//.test(value)) throw CallboardError.sdk('bad_options', 'server must be an http(s) URL, e.g. https://pbx.example.com');
  return value.replace(/\/+$/, '');
}

function defaultFetch(): FetchLike {
  return (url, init) => fetch(url, init);
}

function browserLocks(): LockManagerLike | null {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  return locks ?? null;
}

function browserChannel(): ((name: string) => ChannelLike) | null {
  if (typeof BroadcastChannel === 'undefined') return null;
  return (name) => new BroadcastChannel(name) as unknown as ChannelLike;
}

function remembered(key: string): string | undefined {
  try {
    return globalThis.localStorage?.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

function remember(key: string, value: string | undefined): void {
  try {
    if (value === undefined) globalThis.localStorage?.removeItem(key);
    else globalThis.localStorage?.setItem(key, value);
  } catch {
    // storage disabled
  }
}
