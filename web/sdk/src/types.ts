/** The SDK's public types. */

export type CallDirection = 'inbound' | 'outbound';

/** `ringing` until answered, then `active` and `held` (back and forth), then `ended`. */
export type CallState = 'ringing' | 'active' | 'held' | 'ended';

export interface Party {
  /** An extension or a phone number. */
  number: string;
  name: string;
  /** `user` for a user of the domain, `dest` for an outside number. */
  type: string;
  /** The user's id, for a user of the domain. */
  userId?: string;
}

/**
 * The API connection: `connecting` for the first time, `connected` (authenticated and in
 * sync), `reconnecting` after a loss (the SDK retries by itself and resumes the event
 * stream where it stopped), `closed` for good (`close()`, `logout()`, a revoked session).
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * The web phone: `off` (no phone in this browser yet, or `phone: false`), `starting`
 * (fetching its SIP settings), `connecting` (SIP WebSocket), `registered` (calls ring
 * here), `unregistered` (connection lost: JsSIP reconnects and registers again),
 * `failed` (e.g. the user has no device; `error` says why).
 */
export type PhoneState = 'off' | 'starting' | 'connecting' | 'registered' | 'unregistered' | 'failed';

export interface PhoneStatus {
  state: PhoneState;
  /** `here`: this tab owns the phone (it registers, rings and carries the audio);
   * `other-tab`: another tab of this browser does, this one mirrors it and forwards
   * commands to it; `none`: no tab runs a phone. */
  owner: 'here' | 'other-tab' | 'none';
  error?: string;
}

export interface User {
  id: string;
  name: string;
  domain: string;
  domainId: string;
}

export interface DialOptions {
  /** Extra SIP headers for the INVITE (`Name: value`). */
  extraHeaders?: string[];
}

export interface ClickToCallOptions {
  /** Seconds each side may ring. */
  timeout?: number;
  /** The caller id the destination sees. */
  display?: string;
  /** Passed into the call's events (`call.variables`). */
  variables?: Record<string, string>;
  /** Let this browser's web phone answer its ringing at once. Default: true when the
   * phone is registered in this browser. */
  autoAnswer?: boolean;
}

export interface AudioDevice {
  id: string;
  label: string;
  groupId: string;
}

export interface AudioDevices {
  microphones: AudioDevice[];
  speakers: AudioDevice[];
  /** The chosen ones (`undefined`: the system default). */
  microphone?: string;
  speaker?: string;
}
