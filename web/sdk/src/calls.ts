/**
 * The user's calls, kept from the server's `call` events (ringing, active, bridge, hold,
 * dtmf, hangup) and from snapshots of live calls (`subscribe_call`).
 *
 * It is a pure state machine per call: `ringing -> active <-> held -> ended`, where any
 * state may end. Applying an event twice changes nothing (a replay after a reconnect may
 * repeat what a snapshot already showed); events of unknown calls are ignored, except
 * `ringing`, which creates the call.
 */
import { Call, type CallActions, type CallData } from './call';
import type { CallDirection, CallState, Party } from './types';
import type { WireCallEvent, WireCallItem, WireParty } from './wire';

/** What changed, for the client to announce. */
export type CallChange =
  | { kind: 'new' | 'ringing' | 'connected' | 'held' | 'resumed' | 'update' | 'ended'; call: Call }
  | { kind: 'dtmf'; call: Call; digit: string };

/** The cause given to calls that ended while the SDK could not see it (their events
 * were no longer kept when it came back). */
export const UNKNOWN_CAUSE = 'UNKNOWN';

export class CallStore {
  private readonly calls = new Map<string, Call>();

  constructor(
    private readonly actions: CallActions,
    private readonly changed: (change: CallChange) => void,
  ) {}

  get(id: string): Call | undefined {
    return this.calls.get(id);
  }

  /** The calls that have not ended, oldest first. */
  live(): Call[] {
    return [...this.calls.values()].filter((call) => !call.ended);
  }

  /** Every call of this session, ended ones included, oldest first. */
  all(): Call[] {
    return [...this.calls.values()];
  }

  /** Forget ended calls (they stay usable by whoever holds them). */
  prune(): void {
    for (const [id, call] of this.calls) if (call.ended) this.calls.delete(id);
  }

  apply(event: WireCallEvent): void {
    const at = toNumber(event.timestamp) ?? Date.now();
    const data = event.data ?? {};
    if (event.event === 'ringing') {
      if (this.calls.has(event.id)) return;
      const call = this.create(event.id, event.app_id, data, at);
      this.announce({ kind: 'new', call });
      this.announce({ kind: 'ringing', call });
      return;
    }
    const call = this.calls.get(event.id);
    if (call === undefined || call.ended) return;
    const d = call.data;
    switch (event.event) {
      case 'active':
        if (d.state === 'ringing') {
          d.state = 'active';
          d.answeredAt ??= at;
          d.ringsHere = false;
          this.announce({ kind: 'connected', call });
        } else if (d.state === 'held') {
          d.state = 'active';
          d.heldAt = undefined;
          this.announce({ kind: 'resumed', call });
        }
        return;
      case 'hold':
        if (d.state === 'active') {
          d.state = 'held';
          d.heldAt = at;
          this.announce({ kind: 'held', call });
        }
        return;
      case 'bridge': {
        d.bridgedAt = at;
        if (typeof data.bridged_id === 'string') d.bridgedId = data.bridged_id;
        if (isParty(data.to)) d.peer = party(data.to);
        this.announce({ kind: 'update', call });
        return;
      }
      case 'dtmf': {
        const digit = typeof data.digit === 'string' ? data.digit : '';
        if (digit === '') return;
        d.digits += digit;
        this.announce({ kind: 'dtmf', call, digit });
        return;
      }
      case 'hangup':
        this.end(call, at, typeof data.cause === 'string' ? data.cause : UNKNOWN_CAUSE, toNumber(data.sip));
        return;
      default:
        return; // progress, stats...: nothing the SDK shows
    }
  }

  /**
   * The server's live calls. Unknown ones are created, known ones take the server's
   * state; when `complete`, known live calls that are missing have ended meanwhile.
   */
  snapshot(items: WireCallItem[], complete: boolean): void {
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(item.id);
      const state = itemState(item.state);
      let call = this.calls.get(item.id);
      if (call === undefined) {
        call = this.create(
          item.id,
          item.app_id,
          {
            direction: item.direction,
            destination: item.destination,
            from: item.from,
            to: item.to,
            payload: item.variables,
            parent_id: item.parent_id,
          },
          item.created_at ?? item.timestamp ?? Date.now(),
        );
        this.announce({ kind: 'new', call });
        if (state === 'ringing') this.announce({ kind: 'ringing', call });
      }
      const d = call.data;
      if (d.state === 'ended' || d.state === state) continue;
      const was = d.state;
      d.state = state;
      if (item.answered_at !== undefined) d.answeredAt ??= item.answered_at;
      if (state !== 'ringing') d.ringsHere = false;
      if (was === 'ringing') this.announce({ kind: 'connected', call });
      if (state === 'held') this.announce({ kind: 'held', call });
      else if (was === 'held') this.announce({ kind: 'resumed', call });
    }
    if (!complete) return;
    for (const call of this.live()) {
      if (!seen.has(call.id)) this.end(call, Date.now(), UNKNOWN_CAUSE, undefined);
    }
  }

  /** Local flags (phone side): whether the web phone carries the call, rings, is muted. */
  setLocal(call: Call, flags: Partial<Pick<CallData, 'onPhone' | 'ringsHere' | 'muted'>>): void {
    const d = call.data;
    let changed = false;
    for (const key of ['onPhone', 'ringsHere', 'muted'] as const) {
      const value = flags[key];
      if (value !== undefined && d[key] !== value) {
        d[key] = value;
        changed = true;
      }
    }
    if (changed && !call.ended) this.announce({ kind: 'update', call });
  }

  private create(id: string, appId: string, data: Record<string, unknown>, at: number): Call {
    const direction: CallDirection = data.direction === 'outbound' ? 'outbound' : 'inbound';
    const from = isParty(data.from) ? party(data.from) : { number: '', name: '', type: 'dest' };
    const to = isParty(data.to)
      ? party(data.to)
      : { number: String(data.destination ?? ''), name: '', type: 'dest' };
    const variables: Record<string, string> = {};
    if (typeof data.payload === 'object' && data.payload !== null) {
      for (const [key, value] of Object.entries(data.payload)) variables[key] = String(value);
    }
    const callData: CallData = {
      id,
      appId,
      direction,
      state: 'ringing',
      destination: String(data.destination ?? to.number),
      from,
      to,
      peer: direction === 'inbound' ? from : to,
      parentId: typeof data.parent_id === 'string' ? data.parent_id : undefined,
      sipId: typeof data.sip_id === 'string' && data.sip_id !== '' ? data.sip_id : undefined,
      variables,
      params: typeof data.params === 'object' && data.params !== null ? { ...(data.params as object) } : {},
      createdAt: at,
      digits: '',
      muted: false,
      onPhone: false,
      ringsHere: false,
    };
    const call = new Call(callData, this.actions);
    this.calls.set(id, call);
    return call;
  }

  private end(call: Call, at: number, cause: string, sipCode: number | undefined): void {
    const d = call.data;
    d.state = 'ended';
    d.endedAt = at;
    d.cause = cause;
    d.sipCode = sipCode;
    d.ringsHere = false;
    d.onPhone = false;
    this.announce({ kind: 'ended', call });
  }

  private announce(change: CallChange): void {
    const { call } = change;
    if (change.kind === 'dtmf') call._emit('dtmf', call, change.digit);
    else if (change.kind !== 'new' && change.kind !== 'ringing' && change.kind !== 'update') {
      call._emit(change.kind, call);
    }
    if (change.kind !== 'new') call._emit('update', call);
    this.changed(change);
  }
}

function itemState(state: string): CallState {
  if (state === 'active' || state === 'bridge') return 'active';
  if (state === 'hold') return 'held';
  return 'ringing';
}

function isParty(value: unknown): value is WireParty {
  return typeof value === 'object' && value !== null;
}

function party(value: WireParty): Party {
  const result: Party = {
    number: String(value.number ?? ''),
    name: String(value.name ?? value.number ?? ''),
    type: String(value.type ?? 'dest'),
  };
  if (value.id !== undefined && value.id !== '') result.userId = String(value.id);
  return result;
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}
