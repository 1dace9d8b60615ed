#!/usr/bin/env node
/*
 * ONE `Client` of the published, unmodified `webitel-sdk` (pinned in package-lock.json),
 * driven over stdin/stdout with JSON lines, for Callboard's tests.
 *
 * The SDK is imported exactly as an application does (`import {Client} from 'webitel-sdk'`;
 * `webitel-sdk/esm2015/socket` does not exist in 26.x) and talks to the server over the
 * global WebSocket (undici's: Node 20 needs --experimental-websocket). Nothing of the SDK
 * is patched; the driver only calls its public API and listens to its events.
 *
 * THE WEB PHONE'S MEDIA IS STUBBED. With `registerWebDevice: true` the SDK starts its
 * JsSIP phone; Node has no WebRTC, so before the Client exists this driver installs the
 * same honest WebRTC stub the JsSIP harness uses (RTCPeerConnection that writes and reads
 * WebRTC-looking SDP and never sends a packet, getUserMedia with fake tracks): both
 * import tests/support/webrtc-stub.cjs, so they fake WebRTC identically. What the tests
 * prove is the signalling: REGISTER, INVITE with X-Webitel-Uuid, 200 OK/ACK, INFO, BYE as the SDK's
 * JsSIP does them. Real media is Chromium's business, in other tests.
 *
 * Run: node --experimental-websocket client.mjs   (Node 20; Node 22+ has WebSocket)
 * With a self-signed server certificate (wss://), the caller sets
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in this process's environment only.
 *
 * Input, one JSON object per line: {"id": 1, "cmd": "connect", ...}. Every command gets
 * exactly one reply: {"event": "reply", "id": 1, "ok": true, ...} or
 * {"event": "reply", "id": 1, "ok": false, "error": <Thrown>, "stage"?: "connect"|"auth"}.
 *
 *   connect       {endpoint, token, registerWebDevice?, applicationName?, debug?}
 *                 new Client(...), connect(), auth()   -> {auth, session, instanceId,
 *                 serverVersion, canUseCC, canUseChat}   (once per process)
 *   sessionInfo   {}                          -> {session}  (client.sessionInfo())
 *   subscribeCall {data?}                     -> {items, calls: [Call…]}  (the reply's
 *                 items, and the calls the SDK rebuilt from them)
 *   calls         {}                          -> {calls: [Call…]}  (client.allCall())
 *   agentSession  {}                          -> {agent: Agent}
 *   agent         {}                          -> {agent: Agent | null}  (client.agent now)
 *   agent.online  {channels?, onDemand?}, agent.pause {payload?}, agent.offline {},
 *   agent.waiting {channel}                   -> {result, agent: Agent}
 *   subscribeAgentsStatus {data?}             -> {result}  (client.subscribeAgentsStatus:
 *                 its handler's calls become `agent_status` events)
 *   call.answer   {call, request?}            -> {sip, outcome: "pending"|<resolved value>}
 *                 (the SDK's answer() never settles once it asked JsSIP to answer: the
 *                 driver replies after it started, without waiting for it)
 *   call.hangup {call, cause?}, call.hold {call}, call.unHold {call},
 *   call.sendDTMF {call, dtmf}, call.blindTransfer {call, destination, variables?}
 *                                             -> {result}  (the server's reply data)
 *   invite        {destination, params?}      -> {result}  (client.invite(...))
 *   call          {destination, params?}      client.call(...): a JsSIP INVITE from the
 *                 web phone (call_invite without one); errors become `client_error`
 *   disconnect    {}                          client.disconnect()
 *   destroy       {}                          client.destroy() (also stops the phone)
 *
 * Output events besides replies, one JSON object per line, each with "event":
 *   ready {sdk, jssip, node}
 *   call {action, id, state, direction, from, to, destination, answeredAt, bridgedAt,
 *         hangupAt, hangupCause, hangupSipCode, digits, bridgedId, sip (linked: bool),
 *         sipSession, sipCallId, sipId, appId, parentId, variables}
 *         one per (action, call) the subscribeCall handler gets, as the call was then
 *   connected {}, disconnected {code, error}, client_error {error}   (Client events)
 *   socket_error {url}, socket_close {url, code, reason}   (every WebSocket the SDK and its
 *         JsSIP open: the API socket and the SIP one)
 *   phone_registered {registered}, phone_connected {connected}       (Client events)
 *   agent_status {status: AgentStatusEvent, agent: Agent | null}   (one per call of the
 *         subscribeAgentsStatus handler: the event as the SDK got it, and its agent after)
 *   sip_session {session, callId (X-Webitel-Uuid), incoming, call, linked}
 *   sip_state {session, state: "confirmed"|"ended"|"failed", originator, cause}
 *   sip_info {session, originator, contentType, body, status}   (status: the answer to
 *         an INFO the phone sent, null for received ones)
 *         (the sip_* events observe the SDK's JsSIP sessions; they change nothing)
 *   error {kind: "unhandledRejection"|"uncaughtException", error}
 *         Anything the SDK throws where nobody catches it, e.g. its "Unhandled event X"
 *         on a call event name it does not know. The process stays up (a browser tab
 *         would too); the test harness fails the test on it.
 *
 * <Thrown> is {class, name, message, id, raw}: `class` is the Error subclass (e.g.
 * "LicencePermissionError"), or null when the SDK rejected with a plain value (the
 * server's error object as is), which is then in `raw`.
 */

import { createRequire } from 'node:module';
import readline from 'node:readline';
import util from 'node:util';

import { Client } from 'webitel-sdk';

import { installWebRtcStub } from '../webrtc-stub.cjs';

const require = createRequire(import.meta.url);
const SDK_VERSION = require('webitel-sdk/package.json').version;
const JSSIP_VERSION = require('jssip/package.json').version;

// stdout carries the JSON lines only: the SDK's log, JsSIP's `debug` output and anything
// else goes to stderr (kept by the Python side for failure reports).
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
  console[method] = (...args) => process.stderr.write(`${util.format(...args)}\n`);
}

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields }, jsonSafe)}\n`);
}

function jsonSafe(_key, value) {
  if (value instanceof Map) return Object.fromEntries(value);
  if (typeof value === 'bigint') return String(value);
  return value;
}

function describeThrown(thrown) {
  if (thrown instanceof Error) {
    return {
      class: thrown.constructor ? thrown.constructor.name : 'Error',
      name: thrown.name,
      message: thrown.message,
      id: thrown.id === undefined ? null : thrown.id,
      raw: null,
      stack: thrown.stack ? String(thrown.stack) : null,
    };
  }
  return {
    class: null,
    name: null,
    message: typeof thrown === 'string' ? thrown : null,
    id: thrown && typeof thrown === 'object' && 'id' in thrown ? thrown.id : null,
    raw: thrown === undefined ? null : thrown,
    stack: null,
  };
}

process.on('uncaughtException', (error) => {
  emit('error', { kind: 'uncaughtException', error: describeThrown(error) });
});
process.on('unhandledRejection', (reason) => {
  emit('error', { kind: 'unhandledRejection', error: describeThrown(reason) });
});

if (typeof globalThis.WebSocket !== 'function') {
  emit('error', {
    kind: 'uncaughtException',
    error: describeThrown(
      new Error('no global WebSocket: run Node 20 with --experimental-websocket (or Node 22+)'),
    ),
  });
  process.exit(1);
}

// Watch every WebSocket the SDK (and its JsSIP) opens: errors and closes become events.
// Only listeners are added. Node 20's WebSocket fires `error` but no `close` when it
// cannot connect at all, so the SDK's connect() would wait for ever: the connect
// command fails on such an error instead.
const NativeWebSocket = globalThis.WebSocket;
let onConnectFailure = null;

globalThis.WebSocket = class WatchedWebSocket extends NativeWebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    const where = String(url);
    this.addEventListener('error', () => {
      emit('socket_error', { url: where });
      if (onConnectFailure !== null) onConnectFailure(where);
    });
    this.addEventListener('close', (e) =>
      emit('socket_close', { url: where, code: e.code, reason: e.reason || '' }),
    );
  }
};

// ---------------------------------------------------------------------------------------
// What the tests see of the SDK's objects

function describeCall(call) {
  const sip = call.sip || null;
  return {
    id: call.id,
    state: call.state ?? null,
    direction: call.direction ?? null,
    from: call.from ?? null,
    to: call.to ?? null,
    destination: call.destination ?? null,
    createdAt: call.createdAt ?? null,
    answeredAt: call.answeredAt ?? null,
    bridgedAt: call.bridgedAt ?? null,
    hangupAt: call.hangupAt ?? null,
    hangupCause: call.hangupCause ?? null,
    hangupSipCode: call.hangupSipCode ?? null,
    digits: Array.isArray(call.digits) ? [...call.digits] : [],
    bridgedId: call.bridgedId ?? null,
    sip: Boolean(sip),
    sipSession: sip ? sip.id : null,
    sipCallId: sip ? (sip.callId ?? null) : null,
    sipId: call.sipId ?? null,
    appId: call.appId ?? null,
    parentId: call.parentId ?? null,
    variables: call.variables ?? null,
  };
}

function describeAgent(agent) {
  return {
    agentId: agent.agentId,
    status: agent.status,
    onDemand: agent.onDemand ?? null,
    isAdmin: agent.isAdmin ?? null,
    isSupervisor: agent.isSupervisor ?? null,
    statusPayload: agent.statusPayload ?? null,
    statusComment: agent.statusComment ?? null,
    channels: agent.channels,
    tasks: agent.task ? [...agent.task.keys()] : [],
  };
}

// ---------------------------------------------------------------------------------------
// The client

let client = null;
let watchedPhone = null;

function onCall(action, call) {
  emit('call', { action, ...describeCall(call) });
}

// Observe the SDK's SIP sessions (its public `phone` emitter, plus the JsSIP session the
// SDK's Session wraps): only listeners are added, nothing is changed.
function watchPhone() {
  const phone = client && client.phone;
  if (!phone || phone === watchedPhone) return;
  watchedPhone = phone;
  phone.on('newSession', (session) => {
    // The SDK's own listener ran first (it linked the call if it knew it already).
    const call = session.callId ? client.callById(session.callId) : undefined;
    emit('sip_session', {
      session: session.id,
      callId: session.callId ?? null,
      incoming: Boolean(session.incoming),
      call: call ? call.id : null,
      linked: Boolean(call && call.sip === session),
    });
    const rtc = session.session;
    if (!rtc || typeof rtc.on !== 'function') return;
    for (const state of ['confirmed', 'ended', 'failed']) {
      rtc.on(state, (e) =>
        emit('sip_state', {
          session: session.id,
          state,
          originator: (e && e.originator) || null,
          cause: (e && e.cause) || null,
        }),
      );
    }
    rtc.on('newInfo', (e) => {
      const info = {
        session: session.id,
        originator: e.originator,
        contentType: e.info ? e.info.contentType : null,
        body: e.info ? e.info.body : null,
      };
      if (e.originator !== 'local' || !e.info) {
        emit('sip_info', { ...info, status: null });
        return;
      }
      const answered = (r) =>
        emit('sip_info', { ...info, status: r && r.response ? r.response.status_code : null });
      e.info.once('succeeded', answered);
      e.info.once('failed', answered);
    });
  });
}

function requireClient() {
  if (client === null) throw new Error('connect first');
  return client;
}

function callOf(args) {
  const call = requireClient().callById(args.call);
  if (!call) {
    const known = client.allCall().map((c) => c.id);
    throw new Error(`the SDK has no call ${args.call} (it has: ${known.join(', ') || 'none'})`);
  }
  return call;
}

class StageError extends Error {
  constructor(stage, thrown) {
    super(`${stage} failed`);
    this.stage = stage;
    this.thrown = thrown;
  }
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const commands = {
  async connect(args) {
    if (client !== null) throw new Error('one Client per process: connect was called already');
    if (!args.endpoint || !args.token) throw new Error('connect needs endpoint and token');
    const registerWebDevice = Boolean(args.registerWebDevice);
    if (registerWebDevice) installWebRtcStub();
    client = new Client({
      endpoint: args.endpoint,
      token: args.token,
      registerWebDevice,
      applicationName: args.applicationName,
      debug: Boolean(args.debug),
      // The SDK's Log prints everything below the given level (sic): 'error' = its debug
      // log, every frame it receives, to stderr. Without it, the SDK logs nothing.
      logLvl: args.debug ? 'error' : undefined,
    });
    client.on('connected', () => emit('connected'));
    client.on('disconnected', (code, error) =>
      emit('disconnected', { code, error: error ? describeThrown(error) : null }),
    );
    client.on('error', (error) => emit('client_error', { error: describeThrown(error) }));
    client.on('phone_registered', (registered) => {
      watchPhone();
      emit('phone_registered', { registered });
    });
    client.on('phone_connected', (connected) => {
      watchPhone();
      emit('phone_connected', { connected });
    });
    const unreachable = new Promise((_resolve, reject) => {
      onConnectFailure = (url) =>
        reject(new Error(`the WebSocket to ${url} failed before it opened`));
    });
    try {
      await Promise.race([client.connect(), unreachable]);
    } catch (error) {
      throw new StageError('connect', error);
    } finally {
      onConnectFailure = null;
    }
    let auth;
    try {
      auth = await client.auth();
    } catch (error) {
      throw new StageError('auth', error);
    }
    watchPhone();
    return {
      auth: auth === undefined ? null : auth,
      session: client.sessionInfo(),
      instanceId: client.instanceId,
      serverVersion: client.version ?? null,
      canUseCC: client.canUseCC,
      canUseChat: client.canUseChat,
    };
  },

  async sessionInfo() {
    return { session: requireClient().sessionInfo() };
  },

  async subscribeCall(args) {
    const reply = await requireClient().subscribeCall(onCall, args.data);
    return {
      items: reply && reply.items !== undefined ? reply.items : null,
      calls: client.allCall().map(describeCall),
    };
  },

  async calls() {
    return { calls: requireClient().allCall().map(describeCall) };
  },

  async agentSession() {
    const agent = await requireClient().agentSession();
    return { agent: describeAgent(agent) };
  },

  async agent() {
    const agent = requireClient().agent;
    return { agent: agent ? describeAgent(agent) : null };
  },

  async subscribeAgentsStatus(args) {
    const result = await requireClient().subscribeAgentsStatus(
      (status, agent) => emit('agent_status', { status, agent: agent ? describeAgent(agent) : null }),
      args.data,
    );
    return { result: result ?? null };
  },

  async 'agent.waiting'(args) {
    const agent = requireClient().agent;
    if (!agent) throw new Error('agentSession first');
    const result = await agent.waiting(args.channel);
    return { result: result ?? null, agent: describeAgent(agent) };
  },

  async 'agent.online'(args) {
    const agent = requireClient().agent;
    if (!agent) throw new Error('agentSession first');
    const result = await agent.online(args.channels, args.onDemand);
    return { result: result ?? null, agent: describeAgent(agent) };
  },

  async 'agent.pause'(args) {
    const agent = requireClient().agent;
    if (!agent) throw new Error('agentSession first');
    // pause() resolves with the server's error (or a PauseNotAllowedError) instead of
    // rejecting: describe an Error so its class and id survive JSON.
    const result = await agent.pause(args.payload);
    const described = result instanceof Error ? describeThrown(result) : (result ?? null);
    return { result: described, agent: describeAgent(agent) };
  },

  async 'agent.offline'() {
    const agent = requireClient().agent;
    if (!agent) throw new Error('agentSession first');
    const result = await agent.offline();
    return { result: result ?? null, agent: describeAgent(agent) };
  },

  async 'call.answer'(args) {
    const call = callOf(args);
    const sip = Boolean(call.sip);
    const answering = call.answer(args.request || {});
    const outcome = await Promise.race([
      answering.then((value) => ({ value: value ?? null })),
      delay(100).then(() => ({ value: 'pending' })),
    ]);
    return { sip, outcome: outcome.value };
  },

  async 'call.hangup'(args) {
    return { result: (await callOf(args).hangup(args.cause)) ?? null };
  },

  async 'call.hold'(args) {
    return { result: (await callOf(args).hold()) ?? null };
  },

  async 'call.unHold'(args) {
    return { result: (await callOf(args).unHold()) ?? null };
  },

  async 'call.sendDTMF'(args) {
    return { result: (await callOf(args).sendDTMF(args.dtmf)) ?? null };
  },

  async 'call.blindTransfer'(args) {
    return {
      result: (await callOf(args).blindTransfer(args.destination, args.variables)) ?? null,
    };
  },

  async invite(args) {
    const request = { destination: args.destination };
    if (args.params !== undefined) request.params = args.params;
    return { result: (await requireClient().invite(request)) ?? null };
  },

  async call(args) {
    // client.call(): through the web phone (a JsSIP INVITE) when there is one, else
    // call_invite. It reports failures as the Client's `error` event, not by rejecting.
    const request = { destination: args.destination };
    if (args.params !== undefined) request.params = args.params;
    await requireClient().call(request);
    return {};
  },

  async disconnect() {
    await requireClient().disconnect();
    return {};
  },

  async destroy() {
    await requireClient().destroy();
    return {};
  },
};

const input = readline.createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (!line.trim()) return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    emit('reply', { id: null, ok: false, error: describeThrown(error) });
    return;
  }
  const { id, cmd, ...args } = request;
  const command = Object.hasOwn(commands, cmd) ? commands[cmd] : null;
  Promise.resolve()
    .then(() => {
      if (command === null) throw new Error(`unknown command ${cmd}`);
      return command(args);
    })
    .then(
      (result) => emit('reply', { id, ok: true, ...result }),
      (error) => {
        if (error instanceof StageError) {
          emit('reply', { id, ok: false, stage: error.stage, error: describeThrown(error.thrown) });
        } else {
          emit('reply', { id, ok: false, error: describeThrown(error) });
        }
      },
    );
});
// The test closed our stdin (or died): stop at once, like a closed browser tab.
input.on('close', () => process.exit(0));

emit('ready', { sdk: SDK_VERSION, jssip: JSSIP_VERSION, node: process.versions.node });
