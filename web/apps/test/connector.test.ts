import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CALL_STATUS, DIRECTION, EVENT } from '../connector/constants';
import {
  apiErrorMessage,
  type CallFacts,
  CallTrack,
  type CtiCall,
  callObject,
  ENDPOINT_REJECTED,
  factsFromWire,
  formatE164,
  initialCall,
  loginArguments,
  normaliseDestination,
  parseNode,
  subscriptionUri,
  wireChange,
} from '../connector/mapping';

const inbound: CallFacts = {
  id: 'leg-1',
  direction: 'inbound',
  local: { number: '1002', name: 'Bob' },
  remote: { number: '1001', name: 'Alice' },
};
const outbound: CallFacts = {
  id: 'leg-2',
  direction: 'outbound',
  local: { number: '1001', name: 'Alice' },
  remote: { number: '1002', name: 'Bob' },
};

test('the constants keep upstream values, HUNGUP included', () => {
  assert.equal(EVENT.HANGUP, 'HUNGUP');
  assert.equal(CALL_STATUS.HANGUP, 'HANGUP');
  assert.deepEqual(DIRECTION, { IN: 'INBOUND', OUT: 'OUTBOUND' });
  assert.deepEqual(Object.keys(EVENT).sort(), [
    'ACCEPTED',
    'CANCEL',
    'CONNECTED',
    'ERROR',
    'HANGUP',
    'INFO',
    'INITIAL',
    'LOGGED_IN',
    'LOGGED_OUT',
    'ON_HOLD',
    'READY',
    'RINGING',
    'SUBSCRIBED',
    'TWO_FACTOR_AUTH',
  ]);
  for (const [key, value] of Object.entries(EVENT)) if (key !== 'HANGUP') assert.equal(value, key);
});

test('the call object has exactly upstream fields; source and destination follow the direction', () => {
  const inCall = callObject(inbound, CALL_STATUS.RINGING);
  assert.deepEqual(inCall, {
    id: 'leg-1',
    cid: 'leg-1',
    cause: '',
    destination: '1002',
    destinationName: 'Bob',
    direction: 'INBOUND',
    source: '1001',
    sourceName: 'Alice',
    status: 'RINGING',
  });
  const outCall = callObject(outbound, CALL_STATUS.HANGUP, 'USER_BUSY');
  assert.equal(outCall.direction, 'OUTBOUND');
  assert.deepEqual([outCall.source, outCall.sourceName, outCall.destination, outCall.destinationName], ['1001', 'Alice', '1002', 'Bob']);
  assert.equal(outCall.cause, 'USER_BUSY');
});

function names(events: { name: string; call?: { status: string } }[]): string[] {
  return events.map((event) => `${event.name}${event.call ? `/${event.call.status}` : ''}`);
}

test('an ordinary call: RINGING, CONNECTED, ON_HOLD, CONNECTED, HUNGUP, each once', () => {
  const track = new CallTrack();
  const seen = [
    ...track.apply('ringing', inbound),
    ...track.apply('ringing', inbound),
    ...track.apply('answered', inbound),
    ...track.apply('bridged', inbound),
    ...track.apply('held', inbound),
    ...track.apply('held', inbound),
    ...track.apply('resumed', inbound),
    ...track.apply('ended', inbound, 'NORMAL_CLEARING'),
    ...track.apply('ended', inbound, 'NORMAL_CLEARING'),
    ...track.apply('answered', inbound),
  ];
  assert.deepEqual(names(seen), [
    'RINGING/RINGING',
    'CONNECTED/CONNECTED',
    'ON_HOLD/ON_HOLD',
    'CONNECTED/CONNECTED',
    'HUNGUP/HANGUP',
  ]);
  assert.equal((seen.at(-1)?.call as CtiCall).cause, 'NORMAL_CLEARING');
  assert.equal(track.ended, true);
});

test('a call first seen connected (after a reload), and a transfer to a new party', () => {
  const track = new CallTrack();
  assert.deepEqual(names(track.apply('answered', outbound)), ['CONNECTED/CONNECTED']);
  assert.deepEqual(track.apply('bridged', outbound), []);
  const transferred: CallFacts = { ...outbound, remote: { number: '1003', name: 'Carol' } };
  const again = track.apply('bridged', transferred);
  assert.deepEqual(names(again), ['CONNECTED/CONNECTED']);
  assert.equal((again[0]?.call as { destination: string }).destination, '1003');
});

test('a click-to-call: INITIAL, ACCEPTED (synthetic), RINGING, CONNECTED (real), HUNGUP', () => {
  const initial = initialCall('initial-1700000000000', '1002');
  const track = new CallTrack(initial, true);
  const events = [
    ...track.apply('ringing', outbound),
    ...track.apply('answered', outbound),
    ...track.apply('bridged', outbound),
    ...track.apply('ended', outbound, 'NORMAL_CLEARING'),
  ];
  assert.deepEqual(names(events), ['ACCEPTED/ACCEPTED', 'RINGING/RINGING', 'CONNECTED/CONNECTED', 'HUNGUP/HANGUP']);
  assert.deepEqual(events[0]?.call, { id: 'initial-1700000000000', destination: '1002', direction: 'OUTBOUND', status: 'ACCEPTED' });
  assert.equal(events[1]?.call?.id, 'leg-2');
});

test('a click-to-call seen from another tab announces INITIAL itself', () => {
  const track = new CallTrack(initialCall('initial-5', '1002'), false);
  assert.deepEqual(names(track.apply('ringing', outbound)), ['INITIAL/INITIAL']);
});

test('a click-to-call the user does not answer is a CANCEL of the synthetic call', () => {
  const track = new CallTrack(initialCall('initial-6', '1002'), true);
  track.apply('ringing', outbound);
  const [cancel] = track.apply('ended', outbound, 'NO_ANSWER');
  assert.equal(cancel?.name, EVENT.CANCEL);
  assert.deepEqual(cancel?.call, { id: 'initial-6', destination: '1002', direction: 'OUTBOUND', status: 'INITIAL', cause: ENDPOINT_REJECTED });
});

test('a click-to-call whose destination is busy is a CANCEL of the real call with the cause', () => {
  const track = new CallTrack(initialCall('initial-7', '1002'), true);
  track.apply('ringing', outbound);
  track.apply('answered', outbound);
  const [cancel] = track.apply('ended', outbound, 'USER_BUSY');
  assert.equal(cancel?.name, EVENT.CANCEL);
  assert.equal((cancel?.call as { cause: string; id: string }).cause, 'USER_BUSY');
  assert.equal(cancel?.call?.id, 'leg-2');
});

test('login arguments: e-mail and password, an API key, or [user_id:]key', () => {
  assert.deepEqual(loginArguments(['alice@example.com', 'pw']), { kind: 'password', username: 'alice@example.com', password: 'pw' });
  assert.deepEqual(loginArguments(['KEY123']), { kind: 'token', token: 'KEY123' });
  assert.deepEqual(loginArguments(['42:KEY123']), { kind: 'token', token: 'KEY123' });
  assert.equal(loginArguments(['1:2:3']).kind, 'error');
  assert.equal(loginArguments([]).kind, 'error');
  assert.equal(loginArguments(['a', 'b', 'c']).kind, 'error');
  assert.deepEqual(loginArguments(['alice', '']), { kind: 'error', message: 'Missing username and/or password.' });
});

test('numbers: E.164 for longer ones, extensions for five digits or fewer', () => {
  assert.equal(formatE164('0044 (20) 7946-0958'), '+442079460958');
  assert.deepEqual(normaliseDestination('+44 20 7946 0958', '1001', 'call'), { ok: true, number: '442079460958' });
  assert.deepEqual(normaliseDestination('00.44.20.7946.0958', null, 'call'), { ok: true, number: '442079460958' });
  assert.deepEqual(normaliseDestination('1002', '1001', 'call'), { ok: true, number: '1002' });
  assert.deepEqual(normaliseDestination('1001', '1001', 'call'), { ok: false, message: 'You are unable to call to yourself.' });
  assert.deepEqual(normaliseDestination('1001', '1001', 'transfer'), { ok: false, message: 'You are unable to transfer call to yourself.' });
  assert.deepEqual(normaliseDestination('', null, 'call'), { ok: false, message: 'Destination number is empty' });
  assert.deepEqual(normaliseDestination(undefined, null, 'call'), { ok: false, message: 'Missing destination parameter' });
  assert.deepEqual(normaliseDestination('12ab', null, 'call'), { ok: false, message: 'Extension number: 12ab has invalid format' });
  assert.deepEqual(normaliseDestination('call me now', null, 'call'), { ok: false, message: 'Phone number: +callmenow has invalid format' });
  assert.deepEqual(normaliseDestination('+12345', null, 'call'), { ok: false, message: 'Phone number: +12345 has invalid format' });
  assert.deepEqual(normaliseDestination('+0123456', null, 'call'), { ok: true, number: '123456' });
});

test('subscription nodes and their URIs', () => {
  assert.deepEqual(parseNode('user:7'), { ok: true, type: 'user', id: '7' });
  assert.deepEqual(parseNode('queue:12'), { ok: true, type: 'queue', id: '12' });
  assert.deepEqual(parseNode('user:07'), { ok: false, message: 'Invalid node_id format.' });
  assert.deepEqual(parseNode('room:1'), { ok: false, message: 'Invalid node type.' });
  assert.deepEqual(parseNode('user'), { ok: false, message: 'Invalid node format.' });
  assert.deepEqual(parseNode(undefined), { ok: false, message: 'Missing node parameter.' });
  assert.equal(subscriptionUri('user', '7', 'callboard.lo'), '7@callboard.lo');
  assert.equal(subscriptionUri('queue', '12', 'callboard.lo'), 'queue-12@callboard.lo');
});

test('API errors: Callboard shape and upstream shape', () => {
  assert.equal(apiErrorMessage({ id: 'app.auth.bad_credentials', status: 'Unauthorized', detail: 'wrong username or password', code: 401 }), 'wrong username or password');
  assert.equal(apiErrorMessage({ message: 'Bad', errors: [{ field: 'to', message: 'invalid' }] }), 'Bad to: invalid');
  assert.equal(apiErrorMessage(null), 'Unknown API Error');
});

test("a watched user's call from its user_call events", () => {
  const ringing = {
    direction: 'inbound',
    destination: '1002',
    from: { type: 'user', number: '1001', name: 'Alice', id: '6' },
    to: { type: 'user', number: '1002', name: 'Bob', id: '7' },
  };
  const facts = factsFromWire('leg-9', ringing);
  assert.deepEqual(facts, { id: 'leg-9', direction: 'inbound', local: { number: '1002', name: 'Bob' }, remote: { number: '1001', name: 'Alice' } });
  const track = new CallTrack();
  const seen = [];
  let held = false;
  for (const [event, data] of [
    ['ringing', ringing],
    ['active', {}],
    ['bridge', { bridged_id: 'x', to: { number: '1001', name: 'Alice' } }],
    ['hold', {}],
    ['active', {}],
    ['hangup', { cause: 'NORMAL_CLEARING', sip: 200 }],
  ] as const) {
    const step = wireChange({ id: 'leg-9', event, data }, held);
    assert.ok(step);
    if (step.change === 'held') held = true;
    if (step.change === 'resumed') held = false;
    seen.push(...track.apply(step.change, facts, step.cause ?? ''));
  }
  assert.deepEqual(names(seen), ['RINGING/RINGING', 'CONNECTED/CONNECTED', 'ON_HOLD/ON_HOLD', 'CONNECTED/CONNECTED', 'HUNGUP/HANGUP']);
  assert.equal(wireChange({ id: 'x', event: 'stats' }, false), null);
});
