/**
 * Keeping the web phone's SIP credentials valid.
 *
 * A client whose token expires (a login session, a widget's token) gets ephemeral SIP
 * credentials from `user_default_device`: a username that carries its expiry and that
 * username's HA1, never the device's own; `expires_in` says how many seconds they have
 * left (counted by the server, so the browser's clock does not matter). The registrar
 * keeps no registration beyond them, so before they expire the client asks again and
 * the phone re-registers with the new ones (`Phone.renew`): calls in progress go on,
 * since requests inside a call are not challenged.
 *
 * The server never hands out credentials that outlive the token, so a renewal that
 * brings nothing later (the token itself ends first) ends the renewals: the phone stays
 * registered until then. A renewal that fails for want of a connection is tried again
 * when the connection is back (`resume`) and every `retryDelay` meanwhile; one the
 * server refuses (the token expired) is reported once (`refused`) and not repeated.
 * Credentials without `expires_in` (an integration token's: the device's own) are never
 * renewed.
 */
import { CallboardError } from './errors';
import type { DeviceConfig } from './wire';

/** setTimeout/clearTimeout, replaceable in tests. */
export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface RenewalOptions {
  /** Ask the server for the web phone's settings (`user_default_device`). */
  fetch: () => Promise<DeviceConfig>;
  /** Use newer credentials. */
  apply: (config: DeviceConfig) => void;
  /** The server refused new credentials: the current ones will lapse. */
  refused: (error: CallboardError) => void;
  /** Milliseconds between attempts while the connection is down. Default 10 s. */
  retryDelay?: number;
  timers?: Timers;
}

/** The longest delay setTimeout keeps (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Renew at least this long before the expiry, when the lifetime allows ... */
const MIN_MARGIN_S = 60;
/** ... and at least this share of the lifetime before it. */
const MARGIN_SHARE = 0.2;

/** Milliseconds to wait before renewing credentials that have `secondsLeft`: with a
 * fifth of their life left, and at least a minute, or at once when they have less. */
export function renewalDelay(secondsLeft: number): number {
  if (!Number.isFinite(secondsLeft) || secondsLeft <= 0) return 0;
  const margin = Math.max(MIN_MARGIN_S, secondsLeft * MARGIN_SHARE);
  return Math.min(MAX_TIMER_MS, Math.max(0, secondsLeft - margin) * 1000);
}

const realTimers: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class CredentialRenewal {
  private current: DeviceConfig | null = null;
  private timer: unknown = null;
  /** A renewal is due (it failed for want of a connection). */
  private due = false;
  private inFlight = false;
  private stopped = false;
  private readonly timers: Timers;

  constructor(private readonly options: RenewalOptions) {
    this.timers = options.timers ?? realTimers;
  }

  /** The phone started with `config`: renew before it expires. */
  start(config: DeviceConfig): void {
    this.current = config;
    this.schedule(config);
  }

  /** The phone stopped: no more renewals. */
  stop(): void {
    this.stopped = true;
    this.due = false;
    this.cancel();
  }

  /** The connection to the server is back: a renewal that failed for want of it goes now. */
  resume(): void {
    if (this.due && !this.stopped) void this.renew();
  }

  /** Whether a renewal is waiting (for its time, or for the connection). */
  get pending(): boolean {
    return this.timer !== null || this.due;
  }

  private schedule(config: DeviceConfig): void {
    this.cancel();
    if (this.stopped || typeof config.expires_in !== 'number') return;
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.renew();
    }, renewalDelay(config.expires_in));
  }

  private cancel(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private async renew(): Promise<void> {
    if (this.inFlight || this.stopped) return;
    this.inFlight = true;
    this.cancel();
    this.due = false;
    let next: DeviceConfig;
    try {
      next = await this.options.fetch();
    } catch (error) {
      this.inFlight = false;
      if (this.stopped) return;
      const failure = CallboardError.from(error);
      if (failure.id.startsWith('sdk.')) {
        // No connection (or no reply): again when it is back, and every retryDelay.
        this.due = true;
        this.timer = this.timers.set(() => {
          this.timer = null;
          void this.renew();
        }, this.options.retryDelay ?? 10_000);
      } else {
        this.options.refused(failure);
      }
      return;
    }
    this.inFlight = false;
    if (this.stopped) return;
    const current = this.current;
    if (current !== null && !(expiresAt(next) > expiresAt(current))) return;
    this.current = next;
    this.options.apply(next);
    this.schedule(next);
  }
}

function expiresAt(config: DeviceConfig): number {
  return typeof config.expires_at === 'number' ? config.expires_at : Number.POSITIVE_INFINITY;
}
