/*
 * The WebRTC stub shared by the Node test peers: tests/support/jssip/phone.cjs (one JsSIP
 * user agent) and tests/support/webitel/client.mjs (the webitel-sdk Client's web phone).
 *
 * Node has no WebRTC. Honest about what it is: no ICE, no DTLS, no RTP. The fake
 * RTCPeerConnection keeps the signalling state machine (stable / have-local-offer /
 * have-remote-offer), so JsSIP's offer/answer logic runs exactly as in a browser, and
 * writes and reads WebRTC-looking SDP (UDP/TLS/RTP/SAVPF, a=fingerprint, a=ice-ufrag,
 * a=setup, one host candidate); it never sends a packet. getUserMedia gives fake tracks.
 * Real media is tested in headless Chromium, not here.
 *
 *   const { installWebRtcStub } = require('../webrtc-stub.cjs');
 *   installWebRtcStub();   // before JsSIP runs; installs window, RTCPeerConnection,
 *                          // RTCSessionDescription, MediaStream, navigator.mediaDevices
 */
'use strict';

const crypto = require('node:crypto');

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

let installed = false;

/** Put the stub on globalThis (once; later calls do nothing). */
function installWebRtcStub() {
  if (installed) return;
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
  installed = true;
}

module.exports = {
  installWebRtcStub,
  StubMediaStream,
  StubPeerConnection,
  StubSessionDescription,
  StubTrack,
};
