/**
 * The pure part of the `Cti.Connector` facade: from Callboard's calls to VoIPstudio's
 * events and call objects, and the connector's argument rules (login arguments, number
 * normalisation, subscription nodes). No I/O here: `node --test` covers it all.
 */
import { CALL_STATUS, DIRECTION, EVENT, type CallStatus, type Direction, type EventName } from './constants';

/** The call object of the call events: exactly the fields of VoIPstudio's connector. */
export interface CtiCall {
  /** Callboard's id of the call (the user's leg): what `terminate` and `transfer` take. */
  id: string;
  /** The same id (VoIPstudio's dialog id; Callboard has one id per call). */
  cid: string;
  /** Why the call was cancelled or hung up (a Q.850-style name), else "". */
  cause: string;
  destination: string;
  destinationName: string;
  direction: Direction;
  source: string;
  sourceName: string;
  status: CallStatus;
}

/** The synthetic call of a click-to-call until the user's phone answered (`INITIAL`,
 * `ACCEPTED`, or `CANCEL`): `id` is `initial-<epoch ms>`, as upstream. */
export interface InitialCall {
  id: string;
  destination: string;
  direction: typeof DIRECTION.OUT;
  status: CallStatus;
  cause?: string;
}

export interface CtiEvent {
  name: EventName;
  message?: string;
  call?: CtiCall | InitialCall;
  /** `TWO_FACTOR_AUTH` only (never sent by Callboard, which has no second factor). */
  nonce?: string;
  /** `SUBSCRIBED` only: the subscription's URI. */
  uri?: string;
}

export interface PartyFacts {
  number: string;
  name: string;
}

/** What the connector knows of a call, whichever way it learnt it: the SDK's Call (the
 * user's own calls) or `user_call` events (a watched user's). */
export interface CallFacts {
  id: string;
  direction: 'inbound' | 'outbound';
  /** The watched user's side. */
  local: PartyFacts;
  /** The other side, as it is now (after a transfer, the new one). */
  remote: PartyFacts;
}

/** What happened to a call, in the SDK's terms. */
export type Change = 'ringing' | 'answered' | 'bridged' | 'held' | 'resumed' | 'ended';

/** The cause VoIPstudio gives a click-to-call whose first leg (the user's own phone)
 * failed: not found when nothing could be rung, rejected when it rang and was not
 * answered. */
export const ENDPOINT_NOT_FOUND = 'SIP Endpoint not found';
export const ENDPOINT_REJECTED = 'SIP Endpoint rejected call';

/** INBOUND: the other party is the source; OUTBOUND: the destination. */
export function callObject(facts: CallFacts, status: CallStatus, cause = ''): CtiCall {
  const inbound = facts.direction === 'inbound';
  const source = inbound ? facts.remote : facts.local;
  const destination = inbound ? facts.local : facts.remote;
  return {
    id: facts.id,
    cid: facts.id,
    cause,
    destination: destination.number,
    destinationName: destination.name,
    direction: inbound ? DIRECTION.IN : DIRECTION.OUT,
    source: source.number,
    sourceName: source.name,
    status,
  };
}

export function initialCall(id: string, destination: string): InitialCall {
  return { id, destination, direction: DIRECTION.OUT, status: CALL_STATUS.INITIAL };
}

/**
 * One call's events, as a small state machine over its status.
 *
 * An ordinary call (either direction): `RINGING → CONNECTED ⇄ ON_HOLD → HUNGUP`, where
 * the first event seen may be any (a call found already connected after a reload).
 *
 * A click-to-call started by `call()` (its leg is the user's own phone, rung first):
 * `INITIAL` (the user's phone rings) → `ACCEPTED` (it answered; the synthetic call),
 * then `RINGING` (the real call: the destination is being rung) → `CONNECTED` (the
 * destination answered) → `HUNGUP`. If the user's phone does not answer: `CANCEL` of
 * the synthetic call (cause `SIP Endpoint rejected call`); if the destination does not:
 * `CANCEL` of the real call, with Callboard's cause (`USER_BUSY`, `NO_ANSWER`...).
 */
export class CallTrack {
  /** The status last announced (null before the first event). */
  status: CallStatus | null = null;
  private remoteAnnounced = '';

  constructor(
    /** The click-to-call's synthetic call, or null for an ordinary call. */
    readonly initial: InitialCall | null = null,
    /** Whether `INITIAL` was already sent (by `call()`, before the server knew). */
    private initialAnnounced = false,
  ) {}

  get ended(): boolean {
    return this.status === CALL_STATUS.HANGUP;
  }

  apply(change: Change, facts: CallFacts, cause = ''): CtiEvent[] {
    if (this.ended) return [];
    return this.initial === null ? this.plain(change, facts, cause) : this.clickToCall(change, facts, cause, this.initial);
  }

  private plain(change: Change, facts: CallFacts, cause: string): CtiEvent[] {
    const s = this.status;
    switch (change) {
      case 'ringing':
        return s === null ? this.to(EVENT.RINGING, CALL_STATUS.RINGING, facts) : [];
      case 'answered':
        return s === null || s === CALL_STATUS.RINGING ? this.to(EVENT.CONNECTED, CALL_STATUS.CONNECTED, facts) : [];
      case 'bridged':
        return this.bridged(facts);
      case 'held':
        return s === CALL_STATUS.ON_HOLD ? [] : this.to(EVENT.ON_HOLD, CALL_STATUS.ON_HOLD, facts);
      case 'resumed':
        return s === CALL_STATUS.ON_HOLD ? this.to(EVENT.CONNECTED, CALL_STATUS.CONNECTED, facts) : [];
      case 'ended':
        return this.to(EVENT.HANGUP, CALL_STATUS.HANGUP, facts, cause);
    }
  }

  private clickToCall(change: Change, facts: CallFacts, cause: string, initial: InitialCall): CtiEvent[] {
    const s = this.status;
    switch (change) {
      case 'ringing': {
        if (s !== null) return [];
        this.status = CALL_STATUS.INITIAL;
        if (this.initialAnnounced) return [];
        this.initialAnnounced = true;
        return [{ name: EVENT.INITIAL, call: { ...initial } }];
      }
      case 'answered': {
        if (s !== null && s !== CALL_STATUS.INITIAL) return [];
        const accepted: CtiEvent[] = [];
        if (s === null && !this.initialAnnounced) accepted.push({ name: EVENT.INITIAL, call: { ...initial } });
        initial.status = CALL_STATUS.ACCEPTED;
        accepted.push({ name: EVENT.ACCEPTED, call: { ...initial } });
        return [...accepted, ...this.to(EVENT.RINGING, CALL_STATUS.RINGING, facts)];
      }
      case 'bridged':
        return this.bridged(facts);
      case 'held':
        return s === CALL_STATUS.ON_HOLD || s === CALL_STATUS.INITIAL ? [] : this.to(EVENT.ON_HOLD, CALL_STATUS.ON_HOLD, facts);
      case 'resumed':
        return s === CALL_STATUS.ON_HOLD ? this.to(EVENT.CONNECTED, CALL_STATUS.CONNECTED, facts) : [];
      case 'ended':
        if (s === null || s === CALL_STATUS.INITIAL) {
          this.status = CALL_STATUS.HANGUP;
          initial.cause = ENDPOINT_REJECTED;
          return [{ name: EVENT.CANCEL, call: { ...initial } }];
        }
        if (s === CALL_STATUS.RINGING) return this.to(EVENT.CANCEL, CALL_STATUS.HANGUP, facts, cause);
        return this.to(EVENT.HANGUP, CALL_STATUS.HANGUP, facts, cause);
    }
  }

  /** Connected to (another) party: the first answer, or a transfer's new party. */
  private bridged(facts: CallFacts): CtiEvent[] {
    const s = this.status;
    if (s === null || s === CALL_STATUS.RINGING) return this.to(EVENT.CONNECTED, CALL_STATUS.CONNECTED, facts);
    if (s === CALL_STATUS.CONNECTED && facts.remote.number !== this.remoteAnnounced) {
      return this.to(EVENT.CONNECTED, CALL_STATUS.CONNECTED, facts);
    }
    return [];
  }

  private to(name: EventName, status: CallStatus, facts: CallFacts, cause = ''): CtiEvent[] {
    this.status = status;
    this.remoteAnnounced = facts.remote.number;
    return [{ name, call: callObject(facts, status, cause) }];
  }
}

// -- the connector's argument rules --------------------------------------------------

export type LoginArguments =
  | { kind: 'password'; username: string; password: string }
  | { kind: 'token'; token: string }
  | { kind: 'error'; message: string };

/** `login(email, password)` or `login(apiKey)`, the key being `<api_key>` or
 * `<user_id>:<api_key>` (only the key is used). */
export function loginArguments(args: readonly unknown[]): LoginArguments {
  if (args.length === 0 || args.length > 2) return { kind: 'error', message: 'Invalid arguments number while login.' };
  if (args.length === 1) {
    const parts = String(args[0] ?? '').split(':');
    const token = (parts.length === 1 ? parts[0] : parts[1]) ?? '';
    if (parts.length > 2 || token.trim() === '') {
      return { kind: 'error', message: 'Invalid API Key format, please enter <[user_id:]api_key>.' };
    }
    return { kind: 'token', token: token.trim() };
  }
  const username = String(args[0] ?? '').trim();
  const password = String(args[1] ?? '');
  if (username === '' || password === '') return { kind: 'error', message: 'Missing username and/or password.' };
  return { kind: 'password', username, password };
}

export type Destination = { ok: true; number: string } | { ok: false; message: string };

/**
 * The number `call()` and `transfer()` dial, by upstream's rules: longer than five
 * characters, a phone number, normalised to E.164 (`+ - . ( )` and spaces removed, one
 * or two leading zeros dropped, then `^\+[1-9][0-9]{5,16}$`), sent without its `+`;
 * five or fewer, an extension (digits), which must not be the user's own.
 */
export function normaliseDestination(destination: unknown, ownNumber: string | null, action: 'call' | 'transfer'): Destination {
  if (destination === undefined || destination === null) return { ok: false, message: 'Missing destination parameter' };
  const text = String(destination).trim();
  if (text.length === 0) return { ok: false, message: 'Destination number is empty' };
  if (text.length > 5) {
    const e164 = formatE164(text);
    if (!/^\+[1-9][0-9]{5,16}$/.test(e164)) return { ok: false, message: `Phone number: ${e164} has invalid format` };
    return { ok: true, number: e164.slice(1) };
  }
  if (!/^[0-9]{1,5}$/.test(text)) return { ok: false, message: `Extension number: ${text} has invalid format` };
  if (ownNumber !== null && text === ownNumber) {
    return { ok: false, message: action === 'call' ? 'You are unable to call to yourself.' : 'You are unable to transfer call to yourself.' };
  }
  return { ok: true, number: text };
}

export function formatE164(number: string): string {
  return `+${number.replace(/[+\-.() ]/g, '').replace(/^0{1,2}/, '')}`;
}

export type NodeType = 'user' | 'ivr' | 'queue' | 'conf';
export type Node = { ok: true; type: NodeType; id: string } | { ok: false; message: string };

/** `subscribe('user:12')`: a node type and an id (digits, not starting with 0). Upstream
 * asks for two digits at least; Callboard's user ids may be one digit long. */
export function parseNode(node: unknown): Node {
  if (node === undefined || node === null) return { ok: false, message: 'Missing node parameter.' };
  const parts = String(node).split(':');
  if (parts.length !== 2) return { ok: false, message: 'Invalid node format.' };
  const [type, id] = parts as [string, string];
  if (!['user', 'ivr', 'queue', 'conf'].includes(type)) return { ok: false, message: 'Invalid node type.' };
  if (!/^[1-9][0-9]*$/.test(id)) return { ok: false, message: 'Invalid node_id format.' };
  return { ok: true, type: type as NodeType, id };
}

/** The URI `getSubscriptionURIs()` lists: `<user id>@<domain>`, `queue-<id>@<domain>`... */
export function subscriptionUri(type: NodeType, id: string, domain: string): string {
  return `${type === 'user' ? id : `${type}-${id}`}@${domain}`;
}

/** An error body as a sentence: Callboard's `{detail}`, or upstream's `{message, errors}`. */
export function apiErrorMessage(response: unknown): string {
  if (typeof response !== 'object' || response === null) return 'Unknown API Error';
  const body = response as { detail?: unknown; message?: unknown; errors?: unknown };
  const parts: string[] = [];
  if (typeof body.detail === 'string' && body.detail !== '') parts.push(body.detail);
  if (typeof body.message === 'string' && body.message !== '') parts.push(body.message);
  if (Array.isArray(body.errors)) {
    for (const item of body.errors as { field?: unknown; message?: unknown }[]) parts.push(`${String(item.field)}: ${String(item.message)}`);
  }
  return parts.length > 0 ? parts.join(' ') : 'Unknown API Error';
}

// -- a watched user's calls, from `user_call` events ----------------------------------

export interface WireParty {
  number?: unknown;
  name?: unknown;
}

export interface WireCall {
  id: string;
  event: string;
  user_id?: string;
  data?: Record<string, unknown>;
}

/** A watched call's facts from its `ringing` event (or a `subscribe_user_calls` item). */
export function factsFromWire(id: string, data: Record<string, unknown>): CallFacts {
  const direction = data.direction === 'outbound' ? 'outbound' : 'inbound';
  const from = party(data.from);
  const to = party(data.to, String(data.destination ?? ''));
  return direction === 'inbound' ? { id, direction, local: to, remote: from } : { id, direction, local: from, remote: to };
}

/** The change a watched call's event makes; `bridge` also names the new other party. */
export function wireChange(event: WireCall, held: boolean): { change: Change; remote?: PartyFacts; cause?: string } | null {
  const data = event.data ?? {};
  switch (event.event) {
    case 'ringing':
      return { change: 'ringing' };
    case 'active':
      return { change: held ? 'resumed' : 'answered' };
    case 'bridge':
      return { change: 'bridged', ...(typeof data.to === 'object' && data.to !== null ? { remote: party(data.to) } : {}) };
    case 'hold':
      return { change: 'held' };
    case 'hangup':
      return { change: 'ended', cause: typeof data.cause === 'string' ? data.cause : '' };
    default:
      return null;
  }
}

function party(value: unknown, fallback = ''): PartyFacts {
  if (typeof value !== 'object' || value === null) return { number: fallback, name: fallback };
  const wire = value as WireParty;
  const number = wire.number === undefined || wire.number === null ? fallback : String(wire.number);
  const name = typeof wire.name === 'string' && wire.name !== '' ? wire.name : number;
  return { number, name };
}
