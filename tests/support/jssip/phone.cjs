#!/usr/bin/env node
/*
 * One JsSIP user agent, driven over stdin/stdout with JSON lines, for Callboard's tests.
 *
 * The SIP signalling is the real JsSIP 3.13.8 (the stack of Webitel's web phone) over a
 * real WebSocket with the `sip` subprotocol. The MEDIA IS STUBBED: Node has no WebRTC, so
 * `RTCPeerConnection`, `RTCSessionDescription` and `getUserMedia` are small fakes
 * (tests/support/webrtc-stub.cjs) that write and read WebRTC-looking SDP (UDP/TLS/RTP/SAVPF, a=fingerprint, a=ice-ufrag,
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
// The WebRTC stub (tests/support/webrtc-stub.cjs, shared with the webitel-sdk harness):
// fake RTCPeerConnection, getUserMedia and friends on globalThis. JsSIP is loaded after
// the globals are in place (it reads `window` at call time only, but this keeps the
// order obvious).
require('../webrtc-stub.cjs').installWebRtcStub();
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
