import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Call, CallActions } from '../src/call';
import { type CallChange, CallStore, UNKNOWN_CAUSE } from '../src/calls';
import type { WireCallEvent } from '../src/wire';

const none = async (): Promise<void> => undefined;
const actions: CallActions = {
  answer: none,
  hangup: none,
  hold: none,
  mute: none,
  sendDtmf: none,
  transfer: none,
  stats: async () => null,
  peerConnection: () => null,
};

function store(): { calls: CallStore; changes: string[] } {
  const changes: string[] = [];
  const calls = new CallStore(actions, (change: CallChange) => {
    changes.push(change.kind === 'dtmf' ? `dtmf:${change.digit}` : `${change.kind}`);
  });
  return { calls, changes };
}

let clock = 1_700_000_000_000;
function ev(id: string, event: string, data?: Record<string, unknown>): WireCallEvent {
  clock += 1000;
  return { id, event, timestamp: String(clock), app_id: 'node-1', user_id: '7', domain_id: '1', ...(data ? { data } : {}) };
}

const ringing = (id: string, direction = 'inbound') =>
  ev(id, 'ringing', {
    direction,
    destination: '1002',
    from: { type: 'user', number: '1001', name: 'Alice', id: '6' },
    to: { type: 'user', number: '1002', name: 'Bob', id: '7' },
    payload: { crm: '42' },
    sip_id: 'abc@host',
    params: { autoAnswer: true },
  });

test('an inbound call rings, is answered, held, resumed, gets DTMF and ends with a cause', () => {
  const { calls, changes } = store();
  calls.apply(ringing('leg-1'));
  const call = calls.get('leg-1') as Call;
  assert.equal(call.state, 'ringing');
  assert.equal(call.direction, 'inbound');
  assert.deepEqual(call.peer, { number: '1001', name: 'Alice', type: 'user', userId: '6' });
  assert.deepEqual(call.variables, { crm: '42' });
  assert.equal(call.data.sipId, 'abc@host');
  assert.equal(call.data.params.autoAnswer, true);

  calls.apply(ev('leg-1', 'active'));
  assert.equal(call.state, 'active');
  const answeredAt = call.answeredAt;
  assert.ok(answeredAt !== undefined);
  calls.apply(ev('leg-1', 'bridge', { bridged_id: 'leg-0', to: { type: 'user', number: '1001', name: 'Alice', id: '6' } }));
  calls.apply(ev('leg-1', 'hold'));
  assert.equal(call.state, 'held');
  calls.apply(ev('leg-1', 'active'));
  assert.equal(call.state, 'active');
  assert.equal(call.answeredAt, answeredAt, 'resuming does not move the answer time');
  calls.apply(ev('leg-1', 'dtmf', { digit: '5' }));
  calls.apply(ev('leg-1', 'dtmf', { digit: '#' }));
  assert.equal(call.digits, '5#');
  calls.apply(ev('leg-1', 'hangup', { cause: 'NORMAL_CLEARING', sip: 200 }));
  assert.equal(call.state, 'ended');
  assert.equal(call.cause, 'NORMAL_CLEARING');
  assert.equal(call.sipCode, 200);
  assert.deepEqual(changes, ['new', 'ringing', 'connected', 'update', 'held', 'resumed', 'dtmf:5', 'dtmf:#', 'ended']);
  assert.deepEqual(calls.live(), []);
  assert.equal(calls.all().length, 1);
});

test('events of an ended call, of unknown calls, and repeated events change nothing', () => {
  const { calls, changes } = store();
  calls.apply(ev('ghost', 'active'));
  calls.apply(ringing('leg-1', 'outbound'));
  calls.apply(ringing('leg-1', 'outbound'));
  calls.apply(ev('leg-1', 'active'));
  calls.apply(ev('leg-1', 'active'));
  calls.apply(ev('leg-1', 'hangup', { cause: 'USER_BUSY', sip: 486 }));
  calls.apply(ev('leg-1', 'active'));
  calls.apply(ev('leg-1', 'hangup', { cause: 'NORMAL_CLEARING', sip: 200 }));
  const call = calls.get('leg-1') as Call;
  assert.equal(call.cause, 'USER_BUSY');
  assert.deepEqual(changes, ['new', 'ringing', 'connected', 'ended']);
});

test('an outbound call sees the callee as its peer, and a transfer changes the peer', () => {
  const { calls } = store();
  calls.apply(ringing('leg-2', 'outbound'));
  const call = calls.get('leg-2') as Call;
  assert.equal(call.peer.number, '1002');
  calls.apply(ev('leg-2', 'active'));
  calls.apply(ev('leg-2', 'bridge', { bridged_id: 'leg-9', to: { type: 'user', number: '1003', name: 'Carol', id: '8' } }));
  assert.equal(call.peer.name, 'Carol');
  assert.equal(call.data.bridgedId, 'leg-9');
});

test('a call ends with the cause of an unanswered call', () => {
  const { calls, changes } = store();
  calls.apply(ringing('leg-3'));
  calls.apply(ev('leg-3', 'hangup', { cause: 'ORIGINATOR_CANCEL', sip: 487 }));
  const call = calls.get('leg-3') as Call;
  assert.equal(call.state, 'ended');
  assert.equal(call.answeredAt, undefined);
  assert.equal(call.duration, 0);
  assert.deepEqual(changes, ['new', 'ringing', 'ended']);
});

test("a call's own listeners hear its events, and a failing listener does not break the store", () => {
  const { calls } = store();
  calls.apply(ringing('leg-4'));
  const call = calls.get('leg-4') as Call;
  const heard: string[] = [];
  call.on('connected', () => {
    throw new Error('application bug');
  });
  call.on('connected', () => heard.push('connected'));
  call.on('dtmf', (_call, digit) => heard.push(`dtmf ${digit}`));
  call.on('ended', (c) => heard.push(`ended ${c.cause}`));
  const original = console.error;
  console.error = () => undefined;
  try {
    calls.apply(ev('leg-4', 'active'));
  } finally {
    console.error = original;
  }
  calls.apply(ev('leg-4', 'dtmf', { digit: '1' }));
  calls.apply(ev('leg-4', 'hangup', { cause: 'NORMAL_CLEARING', sip: 200 }));
  assert.deepEqual(heard, ['connected', 'dtmf 1', 'ended NORMAL_CLEARING']);
  assert.equal(call.state, 'ended');
});

test('a snapshot creates unknown calls in their state, updates known ones, and ends missing ones', () => {
  const { calls, changes } = store();
  calls.apply(ringing('leg-a'));
  calls.apply(ringing('leg-b'));
  calls.apply(ev('leg-b', 'active'));
  changes.length = 0;
  calls.snapshot(
    [
      { id: 'leg-a', app_id: 'n', state: 'active', direction: 'inbound', answered_at: 5 },
      { id: 'leg-c', app_id: 'n', state: 'hold', direction: 'outbound', destination: '1005', to: { number: '1005', name: 'Eve' }, answered_at: 4 },
    ],
    true,
  );
  const [a, b, c] = ['leg-a', 'leg-b', 'leg-c'].map((id) => calls.get(id) as Call);
  assert.equal(a.state, 'active');
  assert.equal(b.state, 'ended');
  assert.equal(b.cause, UNKNOWN_CAUSE);
  assert.equal(c.state, 'held');
  assert.equal(c.peer.name, 'Eve');
  assert.deepEqual(changes, ['connected', 'new', 'connected', 'held', 'ended']);
  // The same snapshot again changes nothing.
  changes.length = 0;
  calls.snapshot([{ id: 'leg-a', app_id: 'n', state: 'active', direction: 'inbound' }], false);
  assert.deepEqual(changes, []);
});

test('local flags (phone side) announce an update only when they change', () => {
  const { calls, changes } = store();
  calls.apply(ringing('leg-5'));
  const call = calls.get('leg-5') as Call;
  changes.length = 0;
  calls.setLocal(call, { onPhone: true, ringsHere: true });
  calls.setLocal(call, { onPhone: true, ringsHere: true });
  assert.ok(call.ringsHere && call.onPhone);
  calls.apply(ev('leg-5', 'active'));
  assert.equal(call.ringsHere, false, 'an answered call no longer rings');
  calls.setLocal(call, { muted: true });
  assert.ok(call.muted);
  assert.deepEqual(changes, ['update', 'connected', 'update']);
  const json = JSON.parse(JSON.stringify(call)) as Record<string, unknown>;
  assert.equal(json.id, 'leg-5');
  assert.equal(json.state, 'active');
  assert.equal(json.muted, true);
});
