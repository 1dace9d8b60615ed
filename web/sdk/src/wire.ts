/**
 * The frames of the server's WebSocket API: the protocol of the published `webitel-sdk`
 * (requests `{seq, action, data}`, replies `{status, seq_reply, data | error}`, events
 * `{event, data, seq}`), with Callboard's additions: each event's `seq` numbers the
 * user's own event stream, `events_since {seq}` replays what a client missed, and the
 * `subscribe_call` reply says which `last_seq` its snapshot of live calls reflects.
 *
 * These are the server's shapes, kept apart from the SDK's public types (types.ts).
 */
import type { ErrorShape } from './errors';

export interface WireRequest {
  seq: number;
  action: string;
  data?: Record<string, unknown>;
}

export interface WireReply {
  status: string;
  seq_reply: number;
  data?: unknown;
  error?: ErrorShape;
}

export interface WireEvent {
  event: string;
  data: unknown;
  seq?: number;
}

export interface WireParty {
  type?: string;
  number?: string;
  name?: string;
  id?: string;
}

/** `{"event": "call", "data": {"call": ...}}` */
export interface WireCallEvent {
  id: string;
  event: string;
  timestamp: string | number;
  domain_id?: string;
  user_id?: string;
  app_id: string;
  data?: Record<string, unknown>;
}

/** An item of the `subscribe_call` reply: a live call to rebuild. */
export interface WireCallItem {
  id: string;
  app_id: string;
  state: string;
  timestamp?: number;
  direction: string;
  destination?: string;
  from?: WireParty;
  to?: WireParty;
  variables?: Record<string, string>;
  parent_id?: string;
  created_at?: number;
  answered_at?: number;
  bridged_at?: number;
}

export interface Hello {
  sock_id: string;
  server_version?: string;
  ping_interval?: number;
  session: {
    id: string;
    user_id: number | string;
    name?: string;
    domain_id: number | string;
    domain_name?: string;
    expire?: number;
    token?: string;
  };
}

/** The `user_default_device` reply: the web phone's SIP settings (webitel-sdk §9.1).
 * For a token that expires they are ephemeral (Callboard's addition): then
 * `authorization_user` carries its expiry, `ha1` is that username's, and `expires_at`
 * (ms since the epoch) and `expires_in` (seconds left, by the server's clock) say when
 * they end; see renewal.ts. */
export interface DeviceConfig {
  server: string;
  extension: string;
  realm: string;
  uri: string;
  authorization_user: string;
  display_name: string;
  ha1: string;
  register_expires?: number;
  expires_at?: number;
  expires_in?: number;
}

export function isCallEvent(frame: WireEvent): frame is WireEvent & { data: { call: WireCallEvent } } {
  const data = frame.data as { call?: unknown } | null;
  return frame.event === 'call' && typeof data === 'object' && data !== null && typeof data.call === 'object';
}
