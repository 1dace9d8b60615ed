#!/usr/bin/env node
/*
 * One JsSIP user agent, driven over stdin/stdout with JSON lines, for Callboard's tests.
 *
 * The SIP signalling is the real JsSIP 3.13.8 (the stack of Webitel's web phone) over a
 * real WebSocket with the `sip` subprotocol. The MEDIA IS STUBBED: Node has no WebRTC, so
 * `RTCPeerConnection`, `RTCSessionDescription` and `getUserMedia` below are small fakes
 * that write and read WebRTC-looking SDP (UDP/TLS/RTP/SAVPF, a=fingerprint, a=ice-ufrag,
 * a=setup, one host candidate) and never send a packet. What these tests prove is the
 * SIP side: registration, INVITE/answer/re-INVITE/INFO/BYE as JsSIP really does them.
 * Real media is tested in headless Chromium, not here.
 *
 * Run: node --experimental-websocket phone.cjs   (Node 20; Node 22+ has WebSocket built in)
 *
 * Input, one JSON object per line: {"id": 1, "cmd": "register", ...}. Every command gets
 * exactly one reply: {"event": "reply", "id": 1, "ok": true, ...} or
 * {"event": "reply", "id": 1, "ok": false, "error": "..."}.
 *
 *   register   {uri, ws_url, authorization_user?, password? | ha1?, realm?, display_name?,
 *               register_expires?, user_agent?}     starts the UA (it connects and registers)
 *   call       {target, extra_headers?}             -> reply {session}
 *   answer     {session?}
 *   reject     {session?, status?}                  (486 by default)
 *   hangup     {session?}
 *   hold       {session?}                           reply once the re-INVITE succeeded
 *   unhold     {session?}
 *   dtmf       {session?, tones, duration?, inter_tone_gap?}   SIP INFO (application/dtmf-relay)
 *   info       {session?, content_type, body}      -> reply {status} (the far end's answer)
 *   unregister {}                                   reply once un-registered
 *   stop       {}                                   ua.stop(), then the process exits
 *
 * `session` defaults to the newest session that has not ended.
 *
 * Output events (besides replies), one JSON object per line, each with "event":
 *   connected {url}, disconnected {url, error}
 *   registered {status, contacts}, unregistered {status}, registrationFailed {cause, status}
 *   newRTCSession {session, direction: "incoming"|"outgoing", call_id, x_webitel_uuid,
 *                  from, to, request_uri}
 *   progress {session, originator, status}, accepted {session, originator, status},
 *   confirmed {session, originator}, ended {session, originator, cause, status},
 *   failed {session, originator, cause, status, warning}, hold/unhold {session, originator},
 *   newDTMF {session, originator, tone}, newInfo {session, originator, content_type, body}
 *   sdp {session, originator, type, sdp}
 *   fatal {error}  (an uncaught error; the process exits with status 1)
 *
 * JsSIP's own debug log goes to stderr when DEBUG=JsSIP:* is set (the Python side does).
 */
'use strict';

const crypto = require('node:crypto');
const readline = require('node:readline');
const util = require('node:util');

// stdout carries the JSON lines only. JsSIP's logger (the `debug` package, bound to
// console.info/warn/error) and anything else that logs goes to stderr.
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
  console[method] = (...args) => process.stderr.write(`${util.format(...args)}\n`);
}

// ---------------------------------------------------------------------------------------
// Output

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

process.on('uncaughtException', (error) => {
  emit('fatal', { error: String((error && error.stack) || error) });
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  emit('fatal', { error: String((error && error.stack) || error) });
  process.exit(1);
});

if (typeof globalThis.WebSocket !== 'function') {
  emit('fatal', {
    error: 'no global WebSocket: run Node 20 with --experimental-websocket (or Node 22+)',
  });
  process.exit(1);
}

// ---------------------------------------------------------------------------------------
// The WebRTC stub. Honest about what it is: no ICE, no DTLS, no RTP. It keeps the
// signalling state machine of RTCPeerConnection (stable / have-local-offer /
// have-remote-offer), so JsSIP's offer/answer logic runs exactly as in a browser.

function randomToken(length) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const bytes = crypto.randomBytes(length);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

class StubTrack {
  constructor(kind) {
    this.kind = kind;
    this.id = crypto.randomUUID();
    this.label = `stub ${kind}`;
    this.enabled = true;
    this.muted = false;
    this.readyState = 'live';
  }

  stop() {
    this.readyState = 'ended';
  }
}

class StubMediaStream {
  constructor(tracks = []) {
    this.id = crypto.randomUUID();
    this._tracks = tracks;
  }

  getTracks() {
    return [...this._tracks];
  }

  getAudioTracks() {
    return this._tracks.filter((t) => t.kind === 'audio');
  }

  getVideoTracks() {
    return this._tracks.filter((t) => t.kind === 'video');
  }

  addTrack(track) {
    this._tracks.push(track);
  }
}

class StubSessionDescription {
  constructor(init = {}) {
    this.type = init.type;
    this.sdp = init.sdp;
  }

  toJSON() {
    return { type: this.type, sdp: this.sdp };
  }
}

// Codecs the stub "supports", in preference order: Chrome's audio set, trimmed.
const CODECS = [
  { pt: 111, name: 'opus', rate: 48000, channels: 2, fmtp: 'minptime=10;useinbandfec=1' },
  { pt: 0, name: 'PCMU', rate: 8000 },
  { pt: 8, name: 'PCMA', rate: 8000 },
  { pt: 101, name: 'telephone-event', rate: 8000, fmtp: '0-16' },
];
const ANSWER_DIRECTION = {
  sendrecv: 'sendrecv',
  sendonly: 'recvonly',
  recvonly: 'sendonly',
  inactive: 'inactive',
};

function parseMediaSections(sdp) {
  // [{kind, proto, payloads: [..], rtpmap: {pt: "name/rate"}, direction, mid, setup}]
  const sections = [];
  let current = null;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind, , proto, ...payloads] = line.slice(2).split(/\s+/);
      current = { kind, proto, payloads, rtpmap: {}, direction: null, mid: null, setup: null };
      sections.push(current);
    } else if (current && line.startsWith('a=')) {
      const attribute = line.slice(2);
      if (attribute in ANSWER_DIRECTION) current.direction = attribute;
      else if (attribute.startsWith('mid:')) current.mid = attribute.slice(4);
      else if (attribute.startsWith('setup:')) current.setup = attribute.slice(6);
      else if (attribute.startsWith('rtpmap:')) {
        const [pt, encoding] = attribute.slice(7).split(/\s+/, 2);
        current.rtpmap[pt] = encoding || '';
      }
    }
  }
  return sections;
}

class StubPeerConnection extends EventTarget {
  constructor(configuration = {}) {
    super();
    this._configuration = configuration;
    this.signalingState = 'stable';
    this.iceGatheringState = 'new';
    this.iceConnectionState = 'new';
    this.connectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.currentLocalDescription = null;
    this.currentRemoteDescription = null;
    this.pendingLocalDescription = null;
    this.pendingRemoteDescription = null;
    this._senders = [];
    this._sessionId = BigInt.asUintN(62, crypto.randomBytes(8).readBigUInt64BE()).toString();
    this._version = 1;
    this._ufrag = randomToken(4);
    this._pwd = randomToken(24);
    this._fingerprint = Array.from(crypto.randomBytes(32), (b) =>
      b.toString(16).toUpperCase().padStart(2, '0'),
    ).join(':');
    this._port = 20000 + crypto.randomInt(20000);
    this._msid = crypto.randomUUID();
    this._trackId = crypto.randomUUID();
    this._ssrc = crypto.randomInt(1, 2 ** 31);
  }

  // -- tracks ---------------------------------------------------------------------------

  addTrack(track, ...streams) {
    const sender = {
      track,
      streams,
      dtmf: null, // RFC 2833 DTMF needs real media: the tests use SIP INFO
      replaceTrack: async (next) => {
        sender.track = next;
      },
      getParameters: () => ({ encodings: [] }),
      setParameters: async () => {},
    };
    this._senders.push(sender);
    return sender;
  }

  removeTrack(sender) {
    this._senders = this._senders.filter((s) => s !== sender);
  }

  getSenders() {
    return [...this._senders];
  }

  getReceivers() {
    return [];
  }

  getTransceivers() {
    return [];
  }

  getLocalStreams() {
    return [];
  }

  getRemoteStreams() {
    return [];
  }

  async getStats() {
    return new Map();
  }

  // -- offer / answer -------------------------------------------------------------------

  async createOffer() {
    this._assertOpen();
    return new StubSessionDescription({ type: 'offer', sdp: this._describe('offer', null) });
  }

  async createAnswer() {
    this._assertOpen();
    if (this.signalingState !== 'have-remote-offer') {
      throw this._stateError(`createAnswer in state ${this.signalingState}`);
    }
    const offer = this.remoteDescription.sdp;
    return new StubSessionDescription({ type: 'answer', sdp: this._describe('answer', offer) });
  }

  async setLocalDescription(description) {
    this._assertOpen();
    const { type, sdp } = description;
    if (type === 'offer') {
      if (this.signalingState !== 'stable' && this.signalingState !== 'have-local-offer') {
        throw this._stateError(`local offer in state ${this.signalingState}`);
      }
      this.pendingLocalDescription = new StubSessionDescription({ type, sdp });
      this._setSignalingState('have-local-offer');
    } else if (type === 'answer' || type === 'pranswer') {
      if (this.signalingState !== 'have-remote-offer') {
        throw this._stateError(`local answer in state ${this.signalingState}`);
      }
      this.currentLocalDescription = new StubSessionDescription({ type, sdp });
      this.currentRemoteDescription = this.pendingRemoteDescription;
      this.pendingLocalDescription = null;
      this.pendingRemoteDescription = null;
      this._setSignalingState('stable');
    } else if (type === 'rollback') {
      this.pendingLocalDescription = null;
      this._setSignalingState('stable');
    } else {
      throw new TypeError(`bad description type ${type}`);
    }
    this.localDescription = this.pendingLocalDescription || this.currentLocalDescription;
    // Nothing to gather: the single host candidate is in the SDP already, as with a
    // non-trickle peer. Gathering is complete at once.
    if (this.iceGatheringState !== 'complete') {
      this.iceGatheringState = 'complete';
      this.dispatchEvent(new Event('icegatheringstatechange'));
    }
  }

  async setRemoteDescription(description) {
    this._assertOpen();
    const { type, sdp } = description;
    if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) {
      throw new TypeError('remote description is not SDP');
    }
    const sections = parseMediaSections(sdp);
    if (!sections.some((s) => s.kind === 'audio')) {
      throw new TypeError('remote description has no audio section');
    }
    if (!/a=fingerprint:/.test(sdp) || !/a=ice-ufrag:/.test(sdp)) {
      // A browser rejects SDP without DTLS fingerprint and ICE credentials, and so do we.
      throw new TypeError('remote description is not WebRTC (no a=fingerprint / a=ice-ufrag)');
    }
    if (type === 'offer') {
      if (this.signalingState !== 'stable' && this.signalingState !== 'have-remote-offer') {
        throw this._stateError(`remote offer in state ${this.signalingState}`);
      }
      this.pendingRemoteDescription = new StubSessionDescription({ type, sdp });
      this._setSignalingState('have-remote-offer');
    } else if (type === 'answer' || type === 'pranswer') {
      if (this.signalingState !== 'have-local-offer') {
        throw this._stateError(`remote answer in state ${this.signalingState}`);
      }
      this.currentRemoteDescription = new StubSessionDescription({ type, sdp });
      this.currentLocalDescription = this.pendingLocalDescription;
      this.pendingLocalDescription = null;
      this.pendingRemoteDescription = null;
      this._setSignalingState('stable');
    } else {
      throw new TypeError(`bad description type ${type}`);
    }
    this.remoteDescription = this.pendingRemoteDescription || this.currentRemoteDescription;
  }

  async addIceCandidate() {}

  close() {
    this.signalingState = 'closed';
    this.iceConnectionState = 'closed';
    this.connectionState = 'closed';
  }

  // -- internals ------------------------------------------------------------------------

  _assertOpen() {
    if (this.signalingState === 'closed') throw this._stateError('the connection is closed');
  }

  _stateError(message) {
    const error = new Error(message);
    error.name = 'InvalidStateError';
    return error;
  }

  _setSignalingState(state) {
    if (this.signalingState !== state) {
      this.signalingState = state;
      this.dispatchEvent(new Event('signalingstatechange'));
    }
  }

  _describe(type, offer) {
    const version = this._version++;
    const lines = [
      'v=0',
      `o=- ${this._sessionId} ${version} IN IP4 127.0.0.1`,
      's=-',
      't=0 0',
    ];
    let sections;
    if (offer === null) {
      sections = [{ kind: 'audio', mid: '0', direction: 'sendrecv', setup: 'actpass', pts: CODECS }];
    } else {
      sections = parseMediaSections(offer).map((remote, index) => {
        const pts = CODECS.filter((codec) =>
          remote.payloads.some((pt) => {
            const encoding = (remote.rtpmap[pt] || '').toLowerCase();
            return encoding.startsWith(`${codec.name.toLowerCase()}/`) || (pt === String(codec.pt) && codec.pt < 96);
          }),
        );
        return {
          kind: remote.kind,
          mid: remote.mid ?? String(index),
          direction: ANSWER_DIRECTION[remote.direction || 'sendrecv'],
          setup: remote.setup === 'active' ? 'passive' : 'active',
          pts: remote.kind === 'audio' ? pts : [],
        };
      });
    }
    lines.push(`a=group:BUNDLE ${sections.map((s) => s.mid).join(' ')}`);
    lines.push(`a=msid-semantic: WMS ${this._msid}`);
    for (const section of sections) {
      if (section.pts.length === 0) {
        lines.push(`m=${section.kind} 0 UDP/TLS/RTP/SAVPF 0`, 'c=IN IP4 0.0.0.0', `a=mid:${section.mid}`, 'a=inactive');
        continue;
      }
      lines.push(
        `m=${section.kind} ${this._port} UDP/TLS/RTP/SAVPF ${section.pts.map((c) => c.pt).join(' ')}`,
        'c=IN IP4 127.0.0.1',
        `a=rtcp:${this._port} IN IP4 127.0.0.1`,
        `a=candidate:1 1 udp 2122260223 127.0.0.1 ${this._port} typ host generation 0`,
        'a=end-of-candidates',
        `a=ice-ufrag:${this._ufrag}`,
        `a=ice-pwd:${this._pwd}`,
        'a=ice-options:trickle',
        `a=fingerprint:sha-256 ${this._fingerprint}`,
        `a=setup:${section.setup}`,
        `a=mid:${section.mid}`,
        `a=${section.direction}`,
        `a=msid:${this._msid} ${this._trackId}`,
        'a=rtcp-mux',
      );
      for (const codec of section.pts) {
        const channels = codec.channels ? `/${codec.channels}` : '';
        lines.push(`a=rtpmap:${codec.pt} ${codec.name}/${codec.rate}${channels}`);
        if (codec.fmtp) lines.push(`a=fmtp:${codec.pt} ${codec.fmtp}`);
      }
      lines.push(`a=ssrc:${this._ssrc} cname:${this._ufrag}stub`);
    }
    return `${lines.join('\r\n')}\r\n`;
  }
}

globalThis.window = globalThis;
globalThis.RTCPeerConnection = StubPeerConnection;
globalThis.RTCSessionDescription = StubSessionDescription;
globalThis.MediaStream = StubMediaStream;
const mediaDevices = {
  async getUserMedia(constraints = {}) {
    const tracks = [];
    if (constraints.audio) tracks.push(new StubTrack('audio'));
    if (constraints.video) tracks.push(new StubTrack('video'));
    return new StubMediaStream(tracks);
  },
  async enumerateDevices() {
    return [];
  },
};
if (globalThis.navigator === undefined) {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node}`, mediaDevices },
    configurable: true,
  });
} else {
  Object.defineProperty(globalThis.navigator, 'mediaDevices', { value: mediaDevices, configurable: true });
}

// JsSIP is loaded after the globals are in place (it reads `window` at call time only,
// but this keeps the order obvious).
const JsSIP = require('jssip');

// ---------------------------------------------------------------------------------------
// The UA and its sessions

let ua = null;
const sessions = new Map(); // id -> RTCSession, in creation order
let unregisterWaiter = null;

function statusOf(message) {
  return message && typeof message.status_code === 'number' ? message.status_code : null;
}

function headerOf(message, name) {
  if (message && typeof message.getHeader === 'function') {
    const value = message.getHeader(name);
    return value === undefined ? null : value;
  }
  return null;
}

function sessionFor(args) {
  if (args.session !== undefined) {
    const session = sessions.get(args.session);
    if (!session) throw new Error(`no session ${args.session}`);
    return session;
  }
  const live = [...sessions.values()].filter((s) => !s.isEnded());
  if (live.length === 0) throw new Error('no live session');
  return live[live.length - 1];
}

function watchSession(session, request, direction) {
  const id = session.id;
  sessions.set(id, session);
  const uri = request.ruri ? String(request.ruri) : null;
  emit('newRTCSession', {
    session: id,
    direction,
    call_id: request.call_id,
    x_webitel_uuid: headerOf(request, 'X-Webitel-Uuid'),
    from: request.from ? String(request.from.uri) : null,
    to: request.to ? String(request.to.uri) : null,
    request_uri: uri,
  });
  session.on('progress', (e) => emit('progress', { session: id, originator: e.originator, status: statusOf(e.response) }));
  session.on('accepted', (e) => emit('accepted', { session: id, originator: e.originator, status: statusOf(e.response) }));
  session.on('confirmed', (e) => emit('confirmed', { session: id, originator: e.originator }));
  session.on('ended', (e) =>
    emit('ended', { session: id, originator: e.originator, cause: e.cause, status: statusOf(e.message) }),
  );
  session.on('failed', (e) =>
    emit('failed', {
      session: id,
      originator: e.originator,
      cause: e.cause,
      status: statusOf(e.message),
      warning: headerOf(e.message, 'Warning'),
    }),
  );
  session.on('hold', (e) => emit('hold', { session: id, originator: e.originator }));
  session.on('unhold', (e) => emit('unhold', { session: id, originator: e.originator }));
  session.on('newDTMF', (e) => emit('newDTMF', { session: id, originator: e.originator, tone: e.dtmf.tone }));
  session.on('newInfo', (e) =>
    emit('newInfo', {
      session: id,
      originator: e.originator,
      content_type: e.info.contentType,
      body: e.info.body,
    }),
  );
  session.on('sdp', (e) => emit('sdp', { session: id, originator: e.originator, type: e.type, sdp: e.sdp }));
}

function startUa(args) {
  if (ua !== null) throw new Error('the UA is started already');
  for (const key of ['uri', 'ws_url']) {
    if (!args[key]) throw new Error(`register needs ${key}`);
  }
  const configuration = {
    sockets: [new JsSIP.WebSocketInterface(args.ws_url)],
    uri: args.uri,
    register: true,
    register_expires: args.register_expires || 90,
    session_timers: true,
    user_agent: args.user_agent || 'Webitel-Phone/3.13.8',
    connection_recovery_min_interval: 2,
    connection_recovery_max_interval: 30,
  };
  if (args.authorization_user) configuration.authorization_user = args.authorization_user;
  if (args.display_name) configuration.display_name = args.display_name;
  if (args.realm) configuration.realm = args.realm;
  if (args.ha1) configuration.ha1 = args.ha1;
  if (args.password) configuration.password = args.password;
  ua = new JsSIP.UA(configuration);
  ua.on('connected', () => emit('connected', { url: args.ws_url }));
  ua.on('disconnected', (e) => emit('disconnected', { url: args.ws_url, error: Boolean(e && e.error) }));
  ua.on('registered', (e) =>
    emit('registered', { status: statusOf(e.response), contacts: e.response.getHeaders('Contact') }),
  );
  ua.on('unregistered', (e) => {
    emit('unregistered', { status: statusOf(e && e.response) });
    if (unregisterWaiter) unregisterWaiter.resolve();
  });
  ua.on('registrationFailed', (e) => {
    emit('registrationFailed', { cause: e.cause, status: statusOf(e.response) });
    if (unregisterWaiter) unregisterWaiter.reject(new Error(`un-REGISTER failed: ${e.cause}`));
  });
  ua.on('newRTCSession', (e) => {
    watchSession(e.session, e.request, e.originator === 'remote' ? 'incoming' : 'outgoing');
  });
  ua.start();
}

const MEDIA = { audio: true, video: false };

async function run(cmd, args) {
  switch (cmd) {
    case 'register':
      startUa(args);
      return {};
    case 'call': {
      if (ua === null) throw new Error('register first');
      const extraHeaders = args.extra_headers || [];
      const session = ua.call(args.target, {
        mediaConstraints: MEDIA,
        pcConfig: { iceServers: [] },
        sessionTimersExpires: 120,
        extraHeaders,
      });
      return { session: session.id, call_id: session._request ? session._request.call_id : null };
    }
    case 'answer': {
      const session = sessionFor(args);
      session.answer({ mediaConstraints: MEDIA, pcConfig: { iceServers: [] }, sessionTimersExpires: 120 });
      return { session: session.id };
    }
    case 'reject': {
      const session = sessionFor(args);
      session.terminate({ status_code: args.status || 486 });
      return { session: session.id };
    }
    case 'hangup': {
      const session = sessionFor(args);
      session.terminate();
      return { session: session.id };
    }
    case 'hold':
    case 'unhold': {
      const session = sessionFor(args);
      await new Promise((resolve, reject) => {
        const onEnd = () => reject(new Error(`the session ended during ${cmd}`));
        session.once('ended', onEnd);
        session.once('failed', onEnd);
        const started = session[cmd]({}, () => {
          session.off('ended', onEnd);
          session.off('failed', onEnd);
          resolve();
        });
        if (!started) reject(new Error(`${cmd} refused in this state`));
      });
      return { session: session.id };
    }
    case 'dtmf': {
      const session = sessionFor(args);
      session.sendDTMF(args.tones, {
        transportType: 'INFO',
        duration: args.duration || 100,
        interToneGap: args.inter_tone_gap || 70,
      });
      return { session: session.id };
    }
    case 'info': {
      // An in-dialog INFO (e.g. the webitel SDK's application/json state note); the
      // reply says how the far end answered it.
      const session = sessionFor(args);
      const status = await new Promise((resolve, reject) => {
        const onInfo = (e) => {
          if (e.originator !== 'local') return;
          session.off('newInfo', onInfo);
          e.info.once('succeeded', (r) => resolve(statusOf(r.response)));
          e.info.once('failed', (r) => resolve(statusOf(r.response)));
        };
        session.on('newInfo', onInfo);
        try {
          session.sendInfo(args.content_type, args.body);
        } catch (error) {
          session.off('newInfo', onInfo);
          reject(error);
        }
      });
      return { session: session.id, status };
    }
    case 'unregister': {
      if (ua === null) throw new Error('register first');
      await new Promise((resolve, reject) => {
        unregisterWaiter = { resolve, reject };
        ua.unregister({ all: false });
      }).finally(() => {
        unregisterWaiter = null;
      });
      return {};
    }
    case 'stop': {
      // ua.stop() un-registers, ends the sessions, then closes the WebSocket; exit once
      // it did (or after 3 s).
      const exit = () => setTimeout(() => process.exit(0), 0);
      if (ua !== null) {
        ua.once('disconnected', exit);
        ua.stop();
      } else {
        exit();
      }
      setTimeout(() => process.exit(0), 3000);
      return {};
    }
    default:
      throw new Error(`unknown command ${cmd}`);
  }
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    emit('reply', { id: null, ok: false, error: `bad JSON: ${error.message}` });
    return;
  }
  const { id, cmd, ...args } = request;
  Promise.resolve()
    .then(() => run(cmd, args))
    .then(
      (result) => emit('reply', { id, ok: true, ...result }),
      (error) => emit('reply', { id, ok: false, error: String((error && error.message) || error) }),
    );
});
// The test closed our stdin (or died): stop at once, like a closed browser tab.
input.on('close', () => process.exit(0));

emit('ready', { jssip: JsSIP.version, node: process.versions.node });
