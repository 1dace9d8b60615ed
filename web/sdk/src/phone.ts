/**
 * The web phone: a JsSIP user agent registered over the server's SIP WebSocket with the
 * settings of `user_default_device` (a digest HA1 and realm, never a password), as the
 * published webitel-sdk configures it (reference §9.1). With a token that expires those
 * are ephemeral credentials, which `renew` replaces before they expire (renewal.ts).
 *
 * The server is the authority on calls; the phone carries their media. It links its SIP
 * sessions to the server's calls: an incoming INVITE names its call in `X-Webitel-Uuid`;
 * an outgoing one is matched by the server's `ringing` event, whose `sip_id` is the SIP
 * Call-ID (a prefix of JsSIP's session id). Losing the SIP WebSocket is JsSIP's to
 * repair: it reconnects (2 to 30 s apart by default) and registers again.
 */
import * as JsSIP from 'jssip';
import type { RTCSession } from 'jssip/lib/RTCSession';
import { CallboardError } from './errors';
import { Emitter } from './emitter';
import type { PhoneState } from './types';
import type { DeviceConfig } from './wire';

export interface PhoneOptions {
  iceServers: RTCIceServer[];
  /** Keep only the ICE candidates (`a=candidate:` lines) for which this returns true, in
   * the descriptions sent and received. */
  iceCandidateFilter: ((candidate: string) => boolean) | null;
  microphone?: string;
  speaker?: string;
  userAgent: string;
  recovery: { min: number; max: number };
  registerExpires: number;
}

type PhoneEvents = {
  state: [state: PhoneState, error: string | undefined];
  /** A session of the call `id` arrived (it can ring and be answered). */
  session: [id: string];
  /** The session of the call `id` ended. */
  gone: [id: string];
  /** Anything about the call's media changed (muted, remote audio attached). */
  media: [id: string];
  /** A DTMF digit came from the other side (SIP INFO). */
  dtmf: [id: string, digit: string];
};

interface Line {
  session: RTCSession;
  /** The server's call id, once known. */
  id: string | null;
  audio: HTMLAudioElement | null;
  /** Tracks the phone made itself (a microphone switched during the call). */
  tracks: MediaStreamTrack[];
  muted: boolean;
}

export class Phone extends Emitter<PhoneEvents> {
  state: PhoneState = 'off';
  error: string | undefined;
  private ua: JsSIP.UA | null = null;
  private config: DeviceConfig | null = null;
  private readonly lines = new Set<Line>();

  constructor(private readonly options: PhoneOptions) {
    super();
  }

  get microphone(): string | undefined {
    return this.options.microphone;
  }

  get speaker(): string | undefined {
    return this.options.speaker;
  }

  start(config: DeviceConfig): void {
    if (this.ua !== null) return;
    this.config = config;
    const socket = new JsSIP.WebSocketInterface(config.server);
    const ua = new JsSIP.UA({
      sockets: [socket],
      uri: config.uri,
      authorization_user: config.authorization_user,
      ha1: config.ha1,
      realm: config.realm,
      display_name: config.display_name,
      register: true,
      register_expires: config.register_expires ?? this.options.registerExpires,
      session_timers: true,
      user_agent: this.options.userAgent,
      connection_recovery_min_interval: this.options.recovery.min,
      connection_recovery_max_interval: this.options.recovery.max,
    });
    this.ua = ua;
    ua.on('connecting', () => this.setState('connecting'));
    ua.on('connected', () => {
      if (this.state !== 'registered') this.setState('connecting');
    });
    ua.on('disconnected', () => this.setState('unregistered'));
    ua.on('registered', () => this.setState('registered'));
    ua.on('unregistered', () => {
      if (this.ua === ua) this.setState('unregistered');
    });
    ua.on('registrationFailed', (event: { cause?: string }) => {
      this.setState('failed', `registration failed: ${event.cause ?? 'unknown cause'}`);
    });
    ua.on('newRTCSession', (event: { originator: string; session: RTCSession; request: { getHeader(name: string): string | undefined } }) => {
      if (event.originator !== 'remote') return;
      const line = this.adopt(event.session);
      const id = event.request.getHeader('X-Webitel-Uuid');
      if (id) this.bind(line, id);
    });
    this.setState('connecting');
    ua.start();
  }

  /** Authenticate with new credentials from now on, and re-register with them at once.
   * The user agent stays (with its SIP WebSocket and its calls): requests inside a call
   * are not challenged, so calls in progress are not touched. */
  renew(config: DeviceConfig): void {
    const ua = this.ua;
    if (ua === null) return;
    this.config = config;
    ua.set('authorization_user', config.authorization_user);
    ua.set('realm', config.realm);
    // Also forgets any plain password: JsSIP authenticates with the HA1 alone.
    ua.set('ha1', config.ha1);
    ua.register();
  }

  /** Unregister and close (the page goes away, or another tab takes the phone). */
  async stop(): Promise<void> {
    const ua = this.ua;
    this.ua = null;
    for (const line of [...this.lines]) this.terminateLine(line);
    if (ua === null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      ua.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      ua.stop();
    });
    this.setState('off');
  }

  /** Whether the call `id` has a SIP session here. */
  has(id: string): boolean {
    return this.line(id) !== null;
  }

  /** Whether the call `id` rings here (an incoming session not answered yet). */
  ringing(id: string): boolean {
    const line = this.line(id);
    return line !== null && line.session.direction === 'incoming' && line.session.isInProgress();
  }

  muted(id: string): boolean {
    return this.line(id)?.muted ?? false;
  }

  /** The calls with a session here. */
  calls(): string[] {
    return [...this.lines].flatMap((line) => (line.id === null ? [] : [line.id]));
  }

  /** Place a call; returns JsSIP's session id, which begins with the SIP Call-ID that the
   * server's `ringing` event names (`sip_id`). */
  dial(destination: string, extraHeaders: string[] = []): string {
    const ua = this.ua;
    const config = this.config;
    if (ua === null || config === null) throw CallboardError.sdk('no_phone', 'the web phone is not running', 409);
    if (!/^[A-Za-z0-9+*#._-]+$/.test(destination) && !destination.startsWith('sip:')) {
      throw CallboardError.sdk('bad_destination', `cannot dial ${JSON.stringify(destination)}`);
    }
    const target = destination.startsWith('sip:') ? destination : `sip:${destination}@${config.realm}`;
    let line: Line | null = null;
    const session = ua.call(target, {
      mediaConstraints: this.constraints(),
      pcConfig: this.pcConfig(),
      extraHeaders,
      sessionTimersExpires: 120,
      eventHandlers: {
        // Registered before the INVITE exists, so that the offer is filtered too.
        peerconnection: (event: { peerconnection: RTCPeerConnection }) => {
          if (line !== null) this.watchConnection(line, event.peerconnection);
        },
        sdp: (event: { sdp: string }) => {
          event.sdp = this.filterSdp(event.sdp);
        },
      },
    });
    line = this.adopt(session, false);
    const connection = (session as unknown as { connection?: RTCPeerConnection }).connection;
    if (connection) this.watchConnection(line, connection);
    return session.id;
  }

  /** Link the server's call `id` to the session whose SIP Call-ID is `sipId`. */
  link(id: string, sipId: string): boolean {
    if (this.line(id) !== null) return true;
    for (const line of this.lines) {
      if (line.id === null && line.session.id.startsWith(sipId)) {
        this.bind(line, id);
        return true;
      }
    }
    return false;
  }

  async answer(id: string): Promise<void> {
    const line = this.line(id);
    if (line === null) throw CallboardError.sdk('no_session', `call ${id} does not ring on this phone`, 409);
    if (!line.session.isInProgress() || line.session.direction !== 'incoming') {
      throw CallboardError.sdk('not_ringing', `call ${id} is not ringing`, 409);
    }
    await new Promise<void>((resolve, reject) => {
      const session = line.session;
      const done = () => {
        session.off('accepted', done);
        session.off('failed', failed);
        resolve();
      };
      const failed = (event: { cause?: string }) => {
        session.off('accepted', done);
        session.off('failed', failed);
        reject(CallboardError.sdk('answer_failed', `could not answer: ${event.cause ?? 'unknown cause'}`, 409));
      };
      session.on('accepted', done);
      session.on('failed', failed);
      try {
        session.answer({
          mediaConstraints: this.constraints(),
          pcConfig: this.pcConfig(),
          // An INVITE without SDP (click-to-call rings the user's phone that way): the
          // phone makes the offer, and JsSIP, seeing no audio offered, would leave the
          // microphone out (and then wait forever for ICE candidates) unless told.
          rtcOfferConstraints: { offerToReceiveAudio: true },
          sessionTimersExpires: 120,
        });
      } catch (error) {
        failed({ cause: error instanceof Error ? error.message : String(error) });
      }
    });
  }

  /** End the call's session from the phone itself (when the server cannot be asked). */
  terminate(id: string): boolean {
    const line = this.line(id);
    if (line === null) return false;
    this.terminateLine(line);
    return true;
  }

  mute(id: string, muted: boolean): void {
    const line = this.line(id);
    if (line === null) throw CallboardError.sdk('no_session', `call ${id} has no media on this phone`, 409);
    if (muted) line.session.mute({ audio: true });
    else line.session.unmute({ audio: true });
    line.muted = muted;
    this.emit('media', id);
  }

  peerConnection(id: string): RTCPeerConnection | null {
    const line = this.line(id);
    return (line?.session as unknown as { connection?: RTCPeerConnection } | undefined)?.connection ?? null;
  }

  /** Use this microphone from now on, for the calls in progress too. */
  async setMicrophone(deviceId: string | undefined): Promise<void> {
    this.options.microphone = deviceId;
    for (const line of this.lines) {
      const connection = (line.session as unknown as { connection?: RTCPeerConnection }).connection;
      const sender = connection?.getSenders().find((s) => s.track?.kind === 'audio');
      if (!connection || !sender) continue;
      const stream = await navigator.mediaDevices.getUserMedia(this.constraints());
      const [track] = stream.getAudioTracks();
      if (track === undefined) continue;
      track.enabled = !line.muted;
      const old = sender.track;
      await sender.replaceTrack(track);
      line.tracks.push(track);
      old?.stop();
      if (line.id !== null) this.emit('media', line.id);
    }
  }

  /** Play the calls (and the next ones) on this speaker. */
  async setSpeaker(deviceId: string | undefined): Promise<void> {
    this.options.speaker = deviceId;
    for (const line of this.lines) if (line.audio !== null) await applySink(line.audio, deviceId);
  }

  // -- internals -----------------------------------------------------------------------

  private line(id: string): Line | null {
    for (const line of this.lines) if (line.id === id) return line;
    return null;
  }

  private adopt(session: RTCSession, filterHere = true): Line {
    const line: Line = { session, id: null, audio: null, tracks: [], muted: false };
    this.lines.add(line);
    if (filterHere) {
      session.on('sdp', (event: { sdp: string }) => {
        event.sdp = this.filterSdp(event.sdp);
      });
      session.on('peerconnection', (event: { peerconnection: RTCPeerConnection }) => this.watchConnection(line, event.peerconnection));
    }
    session.on('newDTMF', (event: { originator: string; dtmf: { tone?: string } }) => {
      const tone = event.dtmf.tone;
      if (event.originator === 'remote' && line.id !== null && typeof tone === 'string' && tone !== '') {
        this.emit('dtmf', line.id, tone);
      }
    });
    const finished = () => this.drop(line);
    session.on('ended', finished);
    session.on('failed', finished);
    return line;
  }

  private bind(line: Line, id: string): void {
    line.id = id;
    this.emit('session', id);
  }

  private watchConnection(line: Line, connection: RTCPeerConnection): void {
    const attach = (stream: MediaStream) => {
      if (line.audio === null) {
        const audio = new Audio();
        audio.autoplay = true;
        line.audio = audio;
        void applySink(audio, this.options.speaker).catch(() => undefined);
      }
      line.audio.srcObject = stream;
      void line.audio.play().catch(() => undefined);
      if (line.id !== null) this.emit('media', line.id);
    };
    connection.addEventListener('track', (event: RTCTrackEvent) => {
      attach(event.streams[0] ?? new MediaStream([event.track]));
    });
  }

  private drop(line: Line): void {
    if (!this.lines.delete(line)) return;
    for (const track of line.tracks) track.stop();
    if (line.audio !== null) {
      line.audio.pause();
      line.audio.srcObject = null;
    }
    if (line.id !== null) this.emit('gone', line.id);
  }

  private terminateLine(line: Line): void {
    try {
      if (!line.session.isEnded()) line.session.terminate();
    } catch {
      // already ending
    }
    this.drop(line);
  }

  private constraints(): MediaStreamConstraints {
    const microphone = this.options.microphone;
    return { audio: microphone ? { deviceId: { exact: microphone } } : true, video: false };
  }

  private pcConfig(): RTCConfiguration {
    return { iceServers: this.options.iceServers };
  }

  private filterSdp(sdp: string): string {
    const keep = this.options.iceCandidateFilter;
    if (keep === null) return sdp;
    return sdp
      .split('\r\n')
      .filter((line) => !line.startsWith('a=candidate:') || keep(line.slice(2)))
      .join('\r\n');
  }

  private setState(state: PhoneState, error?: string): void {
    if (this.state === state && this.error === error) return;
    this.state = state;
    this.error = error;
    this.emit('state', state, error);
  }
}

async function applySink(audio: HTMLAudioElement, deviceId: string | undefined): Promise<void> {
  const element = audio as HTMLAudioElement & { setSinkId?: (id: string) => Promise<void> };
  if (typeof element.setSinkId !== 'function') {
    if (deviceId) throw CallboardError.sdk('sink_unsupported', 'this browser cannot choose the speaker', 501);
    return;
  }
  await element.setSinkId(deviceId ?? '');
}
