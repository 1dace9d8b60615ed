/**
 * The client's state handling over the API socket (no phone: `phone: false`): first
 * sync, live events, reconnection with replay, resync when the replay is gone, refusal,
 * revocation, commands, keep-alive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '../src/client';
import { CallboardError } from '../src/errors';
import { FakeServer, until } from './fakes';

function client(server: FakeServer, extra: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client {
  return new Client({
    server: 'http://pbx.test:8080',
    token: 'good-token',
    phone: false,
    multiTab: false,
    webSocket: server.factory,
    reconnect: { minDelay: 5, maxDelay: 20 },
    requestTimeout: 2000,
    ...extra,
  });
}

const ringing = (direction = 'inbound') => ({
  direction,
  destination: '1002',
  from: { type: 'user', number: '1001', name: 'Alice', id: '6' },
  to: { type: 'user', number: '1002', name: 'Bob', id: '7' },
  sip_id: 'sip-1',
});

test('connects, authenticates, and loads the live calls; the URL is the server\'s /websocket', async () => {
  const server = new FakeServer();
  server.liveCalls = [{ id: 'old', app_id: 'node-1', state: 'active', direction: 'outbound', destination: '1003', to: { number: '1003', name: 'Carol' }, answered_at: 1 }];
  const c = client(server);
  const states: string[] = [];
  c.on('connection', (state) => states.push(state));
  await c.connect();
  assert.match(server.urls[0] ?? '', /^ws:\/\/pbx\.test:8080\/websocket\?/);
  assert.deepEqual(server.actions().slice(0, 2), ['authentication_challenge', 'subscribe_call']);
  assert.deepEqual(c.user, { id: '7', name: 'Bob', domain: 'callboard.lo', domainId: '1' });
  assert.equal(c.connection, 'connected');
  assert.deepEqual(states, ['connecting', 'connected']);
  assert.equal(c.calls.length, 1);
  assert.equal(c.calls[0]?.state, 'active');
  assert.equal(c.lastSeq, 0);
  await c.close();
  assert.equal(c.connection, 'closed');
});

test('live events become typed calls and events', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const seen: string[] = [];
  c.on('incoming', (call) => seen.push(`incoming ${call.id} from ${call.from.number}`));
  c.on('connected', (call) => seen.push(`connected ${call.id}`));
  c.on('held', (call) => seen.push(`held ${call.id}`));
  c.on('resumed', (call) => seen.push(`resumed ${call.id}`));
  c.on('dtmf', (call, digit) => seen.push(`dtmf ${call.id} ${digit}`));
  c.on('ended', (call) => seen.push(`ended ${call.id} ${call.cause} ${call.sipCode}`));
  server.emit('leg-1', 'ringing', ringing());
  server.emit('leg-1', 'active');
  server.emit('leg-1', 'hold');
  server.emit('leg-1', 'active');
  server.emit('leg-1', 'dtmf', { digit: '7' });
  server.emit('leg-1', 'hangup', { cause: 'NORMAL_CLEARING', sip: 200 });
  await until(() => seen.length === 6, 'six events');
  assert.deepEqual(seen, [
    'incoming leg-1 from 1001',
    'connected leg-1',
    'held leg-1',
    'resumed leg-1',
    'dtmf leg-1 7',
    'ended leg-1 NORMAL_CLEARING 200',
  ]);
  assert.equal(c.lastSeq, 6);
  await c.close();
});

test('after a connection loss it reconnects and replays what it missed, each event once', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const applied: string[] = [];
  c.on('update', (call) => applied.push(`${call.id}:${call.state}`));
  server.emit('leg-1', 'ringing', ringing());
  await until(() => c.lastSeq === 1, 'first event');
  const states: string[] = [];
  c.on('connection', (state) => states.push(state));

  server.down = true;
  server.current?.drop(1006);
  await until(() => c.connection === 'reconnecting', 'reconnecting');
  // Meanwhile the call is answered, held and ended, with a skipped number among them.
  server.emit('leg-1', 'active');
  server.advanceSeq();
  server.emit('leg-1', 'hold');
  server.emit('leg-1', 'hangup', { cause: 'NORMAL_CLEARING', sip: 200 });
  await assert.rejects(c.calls[0]!.hold(), (error: CallboardError) => error.id === 'sdk.not_connected');
  server.down = false;
  await until(() => c.connection === 'connected', 'connected again');
  assert.ok(server.actions().includes('events_since'));
  const since = server.requests.find((frame) => frame.action === 'events_since');
  assert.deepEqual(since?.data, { seq: 1 });
  await until(() => c.getCall('leg-1')?.state === 'ended', 'the call ended');
  assert.deepEqual(applied, ['leg-1:ringing', 'leg-1:active', 'leg-1:held', 'leg-1:ended']);
  assert.equal(c.lastSeq, 5);
  assert.equal(states[0], 'reconnecting');
  assert.equal(states.at(-1), 'connected');
  await c.close();
});

test('events that arrive while the replay is requested are applied once, in order', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  server.emit('leg-1', 'ringing', ringing());
  await until(() => c.lastSeq === 1, 'first event');
  const order: string[] = [];
  c.on('update', (call) => order.push(call.state));
  let once = true;
  // The server emits two events between the client's events_since and its reply.
  server.handlers.events_since = () => {
    if (once) {
      once = false;
      server.emit('leg-1', 'active');
      server.emit('leg-1', 'hold');
    }
    return undefined;
  };
  server.current?.drop(1006);
  await until(() => c.connection === 'connected' && c.lastSeq === 3, 'resumed');
  server.emit('leg-1', 'active');
  await until(() => c.lastSeq === 4, 'live again');
  assert.deepEqual(order, ['active', 'held', 'active']);
  await c.close();
});

test('when the missed events are gone, it rebuilds from a snapshot and says resync', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  server.emit('leg-1', 'ringing', ringing());
  server.emit('leg-2', 'ringing', ringing('outbound'));
  await until(() => c.lastSeq === 2, 'two calls');
  let resynced = 0;
  c.on('resync', () => (resynced += 1));
  server.down = true;
  server.current?.drop(1006);
  await until(() => c.connection === 'reconnecting', 'reconnecting');
  server.emit('leg-1', 'active');
  server.emit('leg-2', 'hangup', { cause: 'NO_ANSWER', sip: 480 });
  server.forgottenUpTo = 3;
  server.liveCalls = [{ id: 'leg-1', app_id: 'node-1', state: 'active', direction: 'inbound' }];
  server.down = false;
  await until(() => resynced === 1, 'resync');
  assert.equal(c.getCall('leg-1')?.state, 'active');
  assert.equal(c.getCall('leg-2')?.state, 'ended');
  assert.equal(c.getCall('leg-2')?.cause, 'UNKNOWN');
  assert.equal(c.lastSeq, 4);
  await c.close();
});

test('a refused token rejects connect() with the server\'s error and does not retry', async () => {
  const server = new FakeServer();
  const c = client(server, { token: 'bad-token' });
  await assert.rejects(c.connect(), (error: unknown) => {
    assert.ok(error instanceof CallboardError);
    assert.equal(error.id, 'app.session.not_found');
    assert.equal(error.code, 401);
    return true;
  });
  assert.equal(c.connection, 'closed');
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(server.sockets.length, 1);
});

test('an unreachable server rejects the first connect()', async () => {
  const server = new FakeServer();
  server.down = true;
  const c = client(server);
  await assert.rejects(c.connect(), (error: CallboardError) => error.id === 'sdk.unreachable');
  assert.equal(c.connection, 'closed');
});

test('a revoked session (close 4001) closes the client for good', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const closed = new Promise<CallboardError | undefined>((resolve) => c.on('closed', resolve));
  server.current?.drop(4001, 'session revoked');
  const error = await closed;
  assert.equal(error?.id, 'app.session.revoked');
  assert.equal(c.connection, 'closed');
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(server.sockets.length, 1);
});

test('commands send the call id and app_id, and errors come back as CallboardError', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  server.emit('leg-1', 'ringing', ringing());
  server.emit('leg-1', 'active');
  await until(() => c.getCall('leg-1')?.state === 'active', 'active');
  const call = c.getCall('leg-1')!;
  await call.hold();
  await call.unhold();
  await call.sendDtmf('1#');
  await call.transfer(' 1003 ');
  server.handlers.call_hangup = () => new Error('app.call.state');
  await assert.rejects(call.hangup(), (error: CallboardError) => error.id === 'app.call.state' && error.code === 409);
  await assert.rejects(call.sendDtmf('x'), (error: CallboardError) => error.id === 'sdk.bad_dtmf');
  await assert.rejects(call.transfer('  '), (error: CallboardError) => error.id === 'sdk.bad_destination');
  await assert.rejects(call.answer(), (error: CallboardError) => error.id === 'sdk.no_phone');
  const sent = server.requests.filter((frame) => frame.action.startsWith('call_'));
  assert.deepEqual(
    sent.map((frame) => [frame.action, frame.data]),
    [
      ['call_hold', { id: 'leg-1', app_id: 'node-1' }],
      ['call_unhold', { id: 'leg-1', app_id: 'node-1' }],
      ['call_dtmf', { id: 'leg-1', app_id: 'node-1', dtmf: '1' }],
      ['call_dtmf', { id: 'leg-1', app_id: 'node-1', dtmf: '#' }],
      ['call_blind_transfer', { id: 'leg-1', app_id: 'node-1', destination: '1003' }],
      ['call_hangup', { id: 'leg-1', app_id: 'node-1' }],
    ],
  );
  await c.close();
});

test('click-to-call sends call_invite with its params and returns the call id', async () => {
  const server = new FakeServer();
  server.handlers.call_invite = () => ({ id: 'leg-c2c' });
  const c = client(server);
  await c.connect();
  const id = await c.clickToCall('+15551234', { timeout: 20, display: 'Shop', variables: { order: '9' } });
  assert.equal(id, 'leg-c2c');
  const frame = server.requests.find((request) => request.action === 'call_invite');
  assert.deepEqual(frame?.data, { destination: '+15551234', params: { timeout: 20, display: 'Shop', variables: { order: '9' } } });
  await c.close();
});

test('a ping without an answer counts as a lost connection', async () => {
  const server = new FakeServer();
  server.pingInterval = 20;
  server.answerPings = false;
  const c = client(server, { requestTimeout: 500 });
  await c.connect();
  const states: string[] = [];
  c.on('connection', (state) => states.push(state));
  await until(() => states.includes('reconnecting'), 'the dead connection noticed', 6000);
  server.answerPings = true;
  await until(() => c.connection === 'connected' && server.sockets.length >= 2, 'reconnected', 6000);
  await c.close();
});

test('other events of the stream (agent_status) come out raw, in order, and count in lastSeq', async () => {
  const server = new FakeServer();
  const c = client(server);
  await c.connect();
  const frames: string[] = [];
  c.on('event', (frame) => frames.push(`${frame.event}:${frame.seq ?? '-'}`));
  server.emit('leg-1', 'ringing', ringing());
  server.current?.push({ event: 'agent_status', data: { agent_id: 1, status: 'online' }, seq: 2 });
  server.current?.push({ event: 'agent_status', data: { agent_id: 1, status: 'online' }, seq: 2 });
  await until(() => frames.length === 2, 'two frames');
  assert.deepEqual(frames, ['call:1', 'agent_status:2']);
  assert.equal(c.lastSeq, 2);
  await c.close();
});
