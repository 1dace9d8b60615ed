/**
 * `/sdk/widget.js`: a web phone on any page (seed 003's WebPhone widget, on Callboard).
 *
 *     <link href="https://pbx.example.com/sdk/widget.css" rel="stylesheet">
 *     <script>window.callboardWidgetConfig = <?= json_encode($widgetConfig) ?>;</script>
 *     <script async src="https://pbx.example.com/sdk/widget.js"></script>
 *
 * The page's server gets `widgetConfig` from `POST /api/webrtc/get-widget-config` (server
 * to server, with its own admin or integration token): `{server, token, expiresAt,
 * domain, user}`, where `token` is the user's and short-lived. Optional keys the page may
 * add: `title`, `position` (`bottom-right`, `bottom-left`), `collapsed`, `logSize`, and
 * `sdk` (options for the SDK underneath, e.g. `iceServers`).
 *
 * It shows a dial pad, an incoming-call pop-up (answer, decline), and for the call in
 * progress: hang up, hold, mute, transfer and the keypad (DTMF); and a short call log
 * (kept in this browser). The page can drive it through `window.CallboardWidget`.
 * Everything is built on the SDK's public API; the phone rings in one tab of the
 * browser (the others show the same calls and can answer them there).
 */
import { Client, type Call, CallboardError, type ClientOptions } from '../../sdk/src/index';

export interface WidgetConfig {
  server?: string;
  token: string;
  expiresAt?: number;
  domain?: string;
  user?: { id: string; name: string; extension: string };
  title?: string;
  position?: 'bottom-right' | 'bottom-left';
  collapsed?: boolean;
  logSize?: number;
  sdk?: Partial<ClientOptions>;
}

interface LogEntry {
  direction: 'inbound' | 'outbound';
  number: string;
  name: string;
  at: number;
  seconds: number;
  cause: string;
}

declare global {
  interface Window {
    callboardWidgetConfig?: WidgetConfig;
    CallboardWidget?: Widget;
  }
}

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function button(className: string, text: string, action: string, onClick: () => void): HTMLButtonElement {
  const node = el('button', `cbw-button ${className}`, text, { type: 'button', 'data-action': action });
  node.addEventListener('click', onClick);
  return node;
}

function clock(seconds: number): string {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

export class Widget {
  readonly root: HTMLDivElement;
  client: Client | null = null;
  private readonly config: WidgetConfig;
  private readonly logKey: string;
  private log: LogEntry[];
  private current: Call | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private transferOpen = false;
  private readonly parts: {
    status: HTMLSpanElement;
    dot: HTMLSpanElement;
    body: HTMLDivElement;
    number: HTMLInputElement;
    dialer: HTMLDivElement;
    call: HTMLDivElement;
    peer: HTMLDivElement;
    state: HTMLDivElement;
    hold: HTMLButtonElement;
    mute: HTMLButtonElement;
    transfer: HTMLDivElement;
    transferNumber: HTMLInputElement;
    incoming: HTMLDivElement;
    incomingPeer: HTMLDivElement;
    log: HTMLOListElement;
    message: HTMLDivElement;
  };

  constructor(config: WidgetConfig, host: HTMLElement = document.body) {
    this.config = config;
    this.logKey = `callboard.widget.log.${config.user?.id ?? 'me'}`;
    this.log = this.loadLog();
    const root = el('div', `cbw cbw-${config.position ?? 'bottom-right'}`, undefined, { id: 'callboard-widget', role: 'region', 'aria-label': 'Phone' });
    this.root = root;
    if (config.collapsed) root.classList.add('cbw-collapsed');

    const header = el('div', 'cbw-header');
    const dot = el('span', 'cbw-dot', undefined, { 'aria-hidden': 'true' });
    const title = el('span', 'cbw-title', config.title ?? 'Phone');
    const who = el('span', 'cbw-who', config.user ? `${config.user.name} · ${config.user.extension}` : '');
    const toggle = button('cbw-toggle', '–', 'toggle', () => root.classList.toggle('cbw-collapsed'));
    header.append(dot, title, who, toggle);

    const body = el('div', 'cbw-body');
    const status = el('span', 'cbw-status', 'Connecting…');
    const message = el('div', 'cbw-message');

    // The dial pad: a number and its keys (during a call, the keys send DTMF).
    const dialer = el('div', 'cbw-dialer');
    const number = el('input', 'cbw-number', undefined, { type: 'tel', placeholder: 'Number or extension', 'aria-label': 'Number', autocomplete: 'off' });
    number.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') void this.dial(number.value);
    });
    const pad = el('div', 'cbw-pad');
    for (const key of KEYS) pad.append(button('cbw-key', key, `key-${key}`, () => this.key(key)));
    const callButton = button('cbw-call', 'Call', 'call', () => void this.dial(number.value));
    dialer.append(number, pad, callButton);

    // The call in progress.
    const call = el('div', 'cbw-call-panel');
    const peer = el('div', 'cbw-peer');
    const state = el('div', 'cbw-state');
    const controls = el('div', 'cbw-controls');
    const hold = button('cbw-hold', 'Hold', 'hold', () => void this.toggleHold());
    const mute = button('cbw-mute', 'Mute', 'mute', () => void this.toggleMute());
    const transferToggle = button('cbw-transfer-toggle', 'Transfer', 'transfer', () => this.showTransfer(!this.transferOpen));
    const keypad = button('cbw-keypad-toggle', 'Keypad', 'keypad', () => root.classList.toggle('cbw-keypad'));
    const hangup = button('cbw-hangup', 'Hang up', 'hangup', () => void this.act((c) => c.hangup()));
    controls.append(hold, mute, transferToggle, keypad, hangup);
    const transfer = el('div', 'cbw-transfer');
    const transferNumber = el('input', 'cbw-transfer-number', undefined, { type: 'tel', placeholder: 'Transfer to…', 'aria-label': 'Transfer to' });
    const transferGo = button('cbw-transfer-go', 'Transfer', 'transfer-go', () => void this.transfer(transferNumber.value));
    transfer.append(transferNumber, transferGo);
    call.append(peer, state, controls, transfer);

    // The incoming-call pop-up.
    const incoming = el('div', 'cbw-incoming', undefined, { role: 'alertdialog', 'aria-label': 'Incoming call' });
    const incomingPeer = el('div', 'cbw-incoming-peer');
    const answers = el('div', 'cbw-incoming-actions');
    answers.append(
      button('cbw-answer', 'Answer', 'answer', () => void this.act((c) => c.answer())),
      button('cbw-decline', 'Decline', 'decline', () => void this.act((c) => c.reject())),
    );
    incoming.append(el('div', 'cbw-incoming-title', 'Incoming call'), incomingPeer, answers);

    const logTitle = el('div', 'cbw-log-title', 'Recent calls');
    const log = el('ol', 'cbw-log');
    body.append(status, message, incoming, call, dialer, logTitle, log);
    root.append(header, body);
    host.append(root);
    this.parts = { status, dot, body, number, dialer, call, peer, state, hold, mute, transfer, transferNumber, incoming, incomingPeer, log, message };
    this.renderLog();
    this.render();
  }

  /** Connect with the config's token. */
  async start(): Promise<void> {
    // An expired token is the server's to refuse (the browser's clock may be wrong).
    const config = this.config;
    const client = new Client({ ...config.sdk, server: config.server ?? scriptOrigin(), token: config.token });
    this.client = client;
    client.on('phone', () => this.render());
    client.on('connection', () => this.render());
    client.on('update', (call) => this.onUpdate(call));
    client.on('ended', (call) => this.onEnded(call));
    client.on('closed', (error) => {
      if (error) this.fail(`Disconnected: ${error.detail}`);
    });
    try {
      await client.connect();
    } catch (failure) {
      const error = CallboardError.from(failure);
      this.fail(error.code === 401 ? 'Session expired: reload the page.' : `Cannot connect: ${error.detail}`);
      return;
    }
    for (const call of client.calls) this.onUpdate(call);
    this.render();
  }

  /** Call `number` from this phone. */
  async dial(value: string): Promise<void> {
    const target = value.replace(/[\s()-]/g, '');
    if (target === '' || this.client === null) return;
    if (this.current !== null && !this.current.ended) {
      this.say('Hang up the current call first.');
      return;
    }
    this.say('');
    try {
      const call = await this.client.call(target);
      this.parts.number.value = '';
      this.onUpdate(call);
    } catch (failure) {
      this.say(CallboardError.from(failure).detail);
    }
  }

  /** Unregister and remove the widget. */
  async destroy(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.client?.close();
    this.root.remove();
  }

  // -- what the buttons do -------------------------------------------------------------

  private key(key: string): void {
    const call = this.current;
    if (call !== null && (call.state === 'active' || call.state === 'held')) {
      void this.act((c) => c.sendDtmf(key));
      this.parts.state.dataset.digits = `${this.parts.state.dataset.digits ?? ''}${key}`;
      this.render();
      return;
    }
    this.parts.number.value += key;
    this.parts.number.focus();
  }

  private async toggleHold(): Promise<void> {
    await this.act((call) => (call.state === 'held' ? call.unhold() : call.hold()));
  }

  private async toggleMute(): Promise<void> {
    await this.act((call) => (call.muted ? call.unmute() : call.mute()));
  }

  private showTransfer(open: boolean): void {
    this.transferOpen = open;
    this.render();
    if (open) this.parts.transferNumber.focus();
  }

  private async transfer(value: string): Promise<void> {
    const target = value.replace(/[\s()-]/g, '');
    if (target === '') return;
    await this.act((call) => call.transfer(target));
    this.parts.transferNumber.value = '';
    this.showTransfer(false);
  }

  private async act(action: (call: Call) => Promise<void>): Promise<void> {
    const call = this.current;
    if (call === null) return;
    try {
      this.say('');
      await action(call);
    } catch (failure) {
      this.say(CallboardError.from(failure).detail);
    }
  }

  // -- following the calls -------------------------------------------------------------

  private onUpdate(call: Call): void {
    if (call.ended) return;
    if (this.current === null || this.current.ended || this.current === call) {
      this.current = call;
    } else if (call.ringsHere && !this.current.ringsHere) {
      // A second call while one is in progress: show it ringing only if nothing else does.
      this.current = call;
    }
    this.render();
  }

  private onEnded(call: Call): void {
    this.addLog(call);
    if (this.current === call) {
      this.current = this.client?.calls.find((other) => !other.ended) ?? null;
      this.transferOpen = false;
      this.root.classList.remove('cbw-keypad');
      delete this.parts.state.dataset.digits;
    }
    this.render();
  }

  private addLog(call: Call): void {
    const entry: LogEntry = {
      direction: call.direction,
      number: call.peer.number,
      name: call.peer.name,
      at: call.createdAt,
      seconds: call.duration,
      cause: call.cause ?? '',
    };
    this.log = [entry, ...this.log].slice(0, this.config.logSize ?? 10);
    try {
      localStorage.setItem(this.logKey, JSON.stringify(this.log));
    } catch {
      // storage disabled: the log lasts as long as the page
    }
    this.renderLog();
  }

  private loadLog(): LogEntry[] {
    try {
      const value = JSON.parse(localStorage.getItem(this.logKey) ?? '[]') as LogEntry[];
      return Array.isArray(value) ? value : [];
    } catch {
      return [];
    }
  }

  // -- drawing -------------------------------------------------------------------------

  private fail(text: string): void {
    this.root.classList.add('cbw-failed');
    this.say(text);
    this.render();
  }

  private say(text: string): void {
    this.parts.message.textContent = text;
  }

  private render(): void {
    const p = this.parts;
    const client = this.client;
    const phone = client?.phone;
    const registered = phone?.state === 'registered';
    let status = 'Connecting…';
    if (client !== null && client.connection === 'reconnecting') status = 'Reconnecting…';
    else if (registered) status = phone.owner === 'here' ? 'Ready' : 'Ready (in another tab)';
    else if (phone?.state === 'failed') status = `No phone: ${phone.error ?? 'unavailable'}`;
    else if (client?.connection === 'connected') status = 'Starting the phone…';
    if (this.root.classList.contains('cbw-failed')) status = 'Offline';
    p.status.textContent = status;
    this.root.dataset.phone = phone?.state ?? 'off';
    p.dot.classList.toggle('cbw-on', registered);

    const call = this.current !== null && !this.current.ended ? this.current : null;
    this.root.dataset.call = call?.state ?? 'none';
    const ringingHere = call !== null && call.state === 'ringing' && call.direction === 'inbound';
    p.incoming.hidden = !ringingHere;
    p.call.hidden = call === null || ringingHere;
    p.dialer.hidden = ringingHere;
    p.dialer.classList.toggle('cbw-in-call', call !== null && !ringingHere);
    if (call !== null) {
      const name = call.peer.name && call.peer.name !== call.peer.number ? `${call.peer.name} ` : '';
      p.peer.textContent = `${name}${call.peer.number}`;
      p.incomingPeer.textContent = `${name}${call.peer.number}`;
      const words: Record<string, string> = { ringing: call.direction === 'inbound' ? 'Ringing' : 'Calling…', active: 'Connected', held: 'On hold', ended: 'Ended' };
      const digits = p.state.dataset.digits ? ` · ${p.state.dataset.digits}` : '';
      p.state.textContent = `${words[call.state] ?? call.state}${call.state === 'ringing' ? '' : ` ${clock(call.duration)}`}${digits}`;
      p.hold.textContent = call.state === 'held' ? 'Resume' : 'Hold';
      p.mute.textContent = call.muted ? 'Unmute' : 'Mute';
      p.hold.disabled = call.state === 'ringing';
      p.mute.disabled = !call.onPhone;
    }
    p.transfer.hidden = !this.transferOpen || call === null;
    const ticking = call !== null && call.state !== 'ringing';
    if (ticking && this.timer === null) this.timer = setInterval(() => this.render(), 1000);
    if (!ticking && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private renderLog(): void {
    const list = this.parts.log;
    list.replaceChildren();
    for (const entry of this.log) {
      const item = el('li', `cbw-log-item cbw-${entry.direction}`);
      const arrow = el('span', 'cbw-log-arrow', entry.direction === 'inbound' ? '↙' : '↗', { 'aria-label': entry.direction });
      const who = el('button', 'cbw-log-number', entry.name && entry.name !== entry.number ? `${entry.name} ${entry.number}` : entry.number, { type: 'button', title: 'Call back' });
      who.addEventListener('click', () => {
        this.parts.number.value = entry.number;
        this.parts.number.focus();
      });
      const when = new Date(entry.at);
      const detail = entry.seconds > 0 ? clock(entry.seconds) : entry.cause.toLowerCase().replace(/_/g, ' ');
      const meta = el('span', 'cbw-log-meta', `${when.getHours()}:${String(when.getMinutes()).padStart(2, '0')} · ${detail}`);
      item.append(arrow, who, meta);
      list.append(item);
    }
  }
}

const loadedFrom = typeof document !== 'undefined' ? (document.currentScript as HTMLScriptElement | null)?.src ?? '' : '';

/** Where this script came from: the Callboard server, unless the config names one. */
function scriptOrigin(): string {
  return loadedFrom ? new URL(loadedFrom, location.href).origin : location.origin;
}

function boot(): void {
  const config = window.callboardWidgetConfig;
  if (config === undefined || typeof config.token !== 'string') {
    console.error('callboard widget: window.callboardWidgetConfig (with a token) is missing');
    return;
  }
  const widget = new Widget(config);
  window.CallboardWidget = widget;
  void widget.start();
}

if (typeof document !== 'undefined') {
  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
}
