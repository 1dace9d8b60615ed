/**
 * The constants of VoIPstudio's `Cti.Connector` (github.com/VoIPstudio/cti-connector),
 * with their exact values: apps compare against them.
 *
 * Note the one quirk kept on purpose: the hang-up EVENT is `Cti.EVENT.HANGUP`, whose
 * value is `"HUNGUP"`, while the call's STATUS after a hang-up is `"HANGUP"`.
 */
export const EVENT = {
  READY: 'READY',
  LOGGED_IN: 'LOGGED_IN',
  LOGGED_OUT: 'LOGGED_OUT',
  TWO_FACTOR_AUTH: 'TWO_FACTOR_AUTH',
  SUBSCRIBED: 'SUBSCRIBED',
  INITIAL: 'INITIAL',
  ACCEPTED: 'ACCEPTED',
  RINGING: 'RINGING',
  CONNECTED: 'CONNECTED',
  ON_HOLD: 'ON_HOLD',
  HANGUP: 'HUNGUP',
  CANCEL: 'CANCEL',
  INFO: 'INFO',
  ERROR: 'ERROR',
} as const;

export const DIRECTION = {
  IN: 'INBOUND',
  OUT: 'OUTBOUND',
} as const;

/** Message types of the connector's XMPP days; exported, never used (as upstream). */
export const TYPE = {
  ERROR: 'error',
  CHAT: 'chat',
  HEADLINE: 'headline',
  UNAVAILABLE: 'unavailable',
} as const;

export const CALL_STATUS = {
  INITIAL: 'INITIAL',
  ACCEPTED: 'ACCEPTED',
  RINGING: 'RINGING',
  ON_HOLD: 'ON_HOLD',
  CONNECTED: 'CONNECTED',
  HANGUP: 'HANGUP',
} as const;

/** SIP response codes by meaning; exported, never used (as upstream). */
export const CALL_CODE = {
  RINGING: /^1\d{2}$/,
  ACCEPTED: 200,
  REDIRECTED: /^3\d{2}$/,
  NO_ANSWER: 487,
  UNREACHABLE: 408,
  NOT_FOUND: /^4\d{2}$/,
  REJECTED: /^[5|6]\d{2}$/,
} as const;

export type EventName = (typeof EVENT)[keyof typeof EVENT];
export type Direction = (typeof DIRECTION)[keyof typeof DIRECTION];
export type CallStatus = (typeof CALL_STATUS)[keyof typeof CALL_STATUS];
