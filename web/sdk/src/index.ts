/**
 * Callboard's browser SDK.
 *
 * As an ES module:   import { Client } from 'https://pbx.example.com/sdk/callboard.js';
 * With a script tag: <script src="https://pbx.example.com/sdk/callboard.iife.js"></script>
 *                    then `Callboard.Client`.
 */
export { Client, VERSION } from './client';
export type { ClientEvents, ClientOptions, LoginOptions } from './client';
export { Call } from './call';
export type { CallEvents } from './call';
export { CallboardError } from './errors';
export type { ErrorShape } from './errors';
export { UNKNOWN_CAUSE } from './calls';
export type { RingtoneOptions } from './ringer';
export type { ReconnectOptions, WebSocketFactory, WebSocketLike } from './socket';
export type { ChannelLike, LockManagerLike } from './tabs';
export type { WireEvent } from './wire';
export type {
  AudioDevice,
  AudioDevices,
  CallDirection,
  CallState,
  ClickToCallOptions,
  ConnectionState,
  DialOptions,
  Party,
  PhoneState,
  PhoneStatus,
  User,
} from './types';
