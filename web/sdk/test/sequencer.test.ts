import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sequencer } from '../src/sequencer';

interface E {
  seq: number;
  name: string;
}

function make(): { seq: Sequencer<E>; applied: number[] } {
  const applied: number[] = [];
  const seq = new Sequencer<E>((event) => applied.push(event.seq));
  return { seq, applied };
}

const e = (seq: number): E => ({ seq, name: `e${seq}` });

test('live events are applied in order and duplicates are dropped', () => {
  const { seq, applied } = make();
  seq.snapshot(3);
  for (const n of [4, 5, 5, 3, 6]) seq.live(e(n));
  assert.deepEqual(applied, [4, 5, 6]);
  assert.equal(seq.lastSeq, 6);
});

test('numbers the server skips (events without a client name) are not gaps', () => {
  const { seq, applied } = make();
  seq.snapshot(0);
  for (const n of [1, 2, 4, 7]) seq.live(e(n));
  assert.deepEqual(applied, [1, 2, 4, 7]);
});

test('a replay after a reconnect is applied once, then the live events held meanwhile', () => {
  const { seq, applied } = make();
  seq.snapshot(0);
  seq.live(e(1));
  seq.live(e(2));
  // The connection drops; events 3..5 happen; it comes back.
  seq.hold();
  // Live events that arrive before the replay's reply are held back (they are in it).
  seq.live(e(4));
  seq.live(e(5));
  assert.deepEqual(applied, [1, 2]);
  assert.ok(seq.holding);
  seq.replayed([e(5), e(3), e(4)], 5);
  assert.deepEqual(applied, [1, 2, 3, 4, 5]);
  assert.ok(!seq.holding);
  seq.live(e(6));
  assert.deepEqual(applied, [1, 2, 3, 4, 5, 6]);
});

test('the replay moves lastSeq past skipped numbers at its end', () => {
  const { seq, applied } = make();
  seq.snapshot(10);
  seq.hold();
  seq.replayed([e(11)], 14);
  assert.deepEqual(applied, [11]);
  assert.equal(seq.lastSeq, 14);
  seq.live(e(14));
  assert.deepEqual(applied, [11]);
});

test('a snapshot drops the held events it already reflects and applies newer ones', () => {
  const { seq, applied } = make();
  seq.hold();
  seq.live(e(7));
  seq.live(e(8));
  seq.snapshot(7);
  assert.deepEqual(applied, [8]);
  assert.equal(seq.lastSeq, 8);
});

test('before any snapshot or event, the first event sets the position', () => {
  const { seq, applied } = make();
  assert.equal(seq.lastSeq, null);
  seq.live(e(42));
  seq.live(e(41));
  assert.deepEqual(applied, [42]);
});

test('a second loss before the replay keeps what was held, and the next replay dedupes', () => {
  const { seq, applied } = make();
  seq.snapshot(1);
  seq.hold();
  seq.live(e(2));
  // Lost again: hold() once more, then the replay of everything after 1.
  seq.hold();
  seq.replayed([e(2), e(3)], 3);
  assert.deepEqual(applied, [2, 3]);
});
