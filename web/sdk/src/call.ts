/**
 * A call as the user sees it: one leg of the server's call (the user's own side), with
 * its state, parties and timestamps, and the commands that act on it.
 *
 * Its state changes only through the server's events (the server is the authority:
 * every tab and every client of the user sees the same thing); the commands are
 * requests whose effects arrive as events. A Call's own events (`call.on('ended', ...)`)
 * mirror the client's (`client.on('ended', call => ...)`).
 */
import { Emitter } from './emitter';
import type { CallDirection, CallState, Party } from './types';

/** What the client does for a call's commands. */
export interface CallActions {
  answer(call: Call): Promise<void>;
  hangup(call: Call, cause?: string): Promise<void>;
  hold(call: Call, hold: boolean): Promise<void>;
  mute(call: Call, muted: boolean): Promise<void>;
  sendDtmf(call: Call, digits: string): Promise<void>;
  transfer(call: Call, destination: string): Promise<void>;
  stats(call: Call): Promise<RTCStatsReport | null>;
  peerConnection(call: Call): RTCPeerConnection | null;
}

export type CallEvents = {
  /** Anything about the call changed. */
  update: [call: Call];
  /** Answered: the call is `active` for the first time. */
  connected: [call: Call];
  held: [call: Call];
  resumed: [call: Call];
  /** A digit this side of the call sent (the server's `dtmf` event). */
  dtmf: [call: Call, digit: string];
  /** A digit received from the other side by this tab's phone. */
  dtmfReceived: [call: Call, digit: string];
  ended: [call: Call];
};

/** The fields the SDK keeps up to date (internal; read them through the Call). */
export interface CallData {
  id: string;
  appId: string;
  direction: CallDirection;
  state: CallState;
  destination: string;
  from: Party;
  to: Party;
  peer: Party;
  parentId?: string;
  sipId?: string;
  bridgedId?: string;
  variables: Record<string, string>;
  params: Record<string, unknown>;
  createdAt: number;
  answeredAt?: number;
  bridgedAt?: number;
  heldAt?: number;
  endedAt?: number;
  cause?: string;
  sipCode?: number;
  digits: string;
  muted: boolean;
  onPhone: boolean;
  ringsHere: boolean;
}

export class Call extends Emitter<CallEvents> {
  /** @internal */
  readonly data: CallData;
  private readonly actions: CallActions;

  /** @internal Calls are made by the client from the server's events. */
  constructor(data: CallData, actions: CallActions) {
    super();
    this.data = data;
    this.actions = actions;
  }

  /** The server's id of the call (the user's leg): what the APIs and events use. */
  get id(): string {
    return this.data.id;
  }
  /** `inbound`: the user is called; `outbound`: the user calls (or is connected by
   * click-to-call to `destination`). */
  get direction(): CallDirection {
    return this.data.direction;
  }
  get state(): CallState {
    return this.data.state;
  }
  /** The number dialled. */
  get destination(): string {
    return this.data.destination;
  }
  /** The caller. */
  get from(): Party {
    return this.data.from;
  }
  /** The callee. */
  get to(): Party {
    return this.data.to;
  }
  /** The other party, as the user sees it (after a transfer, the new one). */
  get peer(): Party {
    return this.data.peer;
  }
  /** The leg this call was made from (a transfer, a click-to-call). */
  get parentId(): string | undefined {
    return this.data.parentId;
  }
  /** Variables given when the call was made (click-to-call `variables`). */
  get variables(): Readonly<Record<string, string>> {
    return this.data.variables;
  }
  /** Milliseconds since the epoch (the server's clock). */
  get createdAt(): number {
    return this.data.createdAt;
  }
  get answeredAt(): number | undefined {
    return this.data.answeredAt;
  }
  get endedAt(): number | undefined {
    return this.data.endedAt;
  }
  /** Why the call ended: a Q.850-style name (`NORMAL_CLEARING`, `USER_BUSY`,
   * `NO_ANSWER`, `ORIGINATOR_CANCEL`, `BLIND_TRANSFER`, ...), once `ended`. */
  get cause(): string | undefined {
    return this.data.cause;
  }
  /** The SIP status the call ended with (200 for a normal hang-up). */
  get sipCode(): number | undefined {
    return this.data.sipCode;
  }
  /** DTMF digits seen on the call, in order. */
  get digits(): string {
    return this.data.digits;
  }
  /** Whether the microphone is muted on this call (the web phone's). */
  get muted(): boolean {
    return this.data.muted;
  }
  /** Whether this browser's web phone carries the call (in this tab or another). */
  get onPhone(): boolean {
    return this.data.onPhone;
  }
  /** Whether the call rings in this browser's web phone (and can be answered here). */
  get ringsHere(): boolean {
    return this.data.ringsHere;
  }
  get ended(): boolean {
    return this.data.state === 'ended';
  }
  /** Seconds since the call was answered (0 before). */
  get duration(): number {
    const start = this.data.answeredAt;
    if (start === undefined) return 0;
    return Math.max(0, Math.round(((this.data.endedAt ?? Date.now()) - start) / 1000));
  }

  /** Answer a ringing inbound call on the web phone. */
  answer(): Promise<void> {
    return this.actions.answer(this);
  }
  /** Decline a ringing inbound call (the caller hears busy). */
  reject(): Promise<void> {
    return this.actions.hangup(this, 'USER_BUSY');
  }
  /** Hang up (or cancel, or decline): the call ends for everyone on it. */
  hangup(cause?: string): Promise<void> {
    return this.actions.hangup(this, cause);
  }
  /** Put the other party on hold: neither hears the other until `unhold()`. */
  hold(): Promise<void> {
    return this.actions.hold(this, true);
  }
  unhold(): Promise<void> {
    return this.actions.hold(this, false);
  }
  /** Stop (or restart) sending the microphone's sound. */
  mute(): Promise<void> {
    return this.actions.mute(this, true);
  }
  unmute(): Promise<void> {
    return this.actions.mute(this, false);
  }
  /** Send DTMF digits (0-9, *, #, A-D) to the other party, one after the other. */
  sendDtmf(digits: string): Promise<void> {
    return this.actions.sendDtmf(this, digits);
  }
  /** Blind transfer: the other party is connected to `destination`; this side leaves. */
  transfer(destination: string): Promise<void> {
    return this.actions.transfer(this, destination);
  }
  /** The WebRTC statistics of the call's media, in the tab that owns the phone (null
   * elsewhere, or without media). */
  getStats(): Promise<RTCStatsReport | null> {
    return this.actions.stats(this);
  }
  /** The call's RTCPeerConnection, in the tab that owns the phone. */
  get peerConnection(): RTCPeerConnection | null {
    return this.actions.peerConnection(this);
  }

  /** A plain object with the call's fields (for logs and `postMessage`). */
  toJSON(): Omit<CallData, 'params'> {
    const { params: _params, ...rest } = this.data;
    return { ...rest };
  }

  /** @internal */
  _emit<K extends keyof CallEvents>(name: K, ...args: CallEvents[K]): void {
    this.emit(name, ...args);
  }
}
