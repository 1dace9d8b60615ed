/** One phone for several tabs: election by a lock, state and commands over a channel. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallboardError } from '../src/errors';
import { type LockManagerLike, Tabs } from '../src/tabs';
import { until } from './fakes';

/** The Web Locks API's exclusive mode: one holder, the others queued in order. */
class FakeLocks implements LockManagerLike {
  private held = new Map<string, boolean>();
  private queue = new Map<string, (() => void)[]>();

  async request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown> {
    if (this.held.get(name)) {
      await new Promise<void>((resolve, reject) => {
        const list = this.queue.get(name) ?? [];
        list.push(resolve);
        this.queue.set(name, list);
        options.signal?.addEventListener('abort', () => {
          this.queue.set(name, (this.queue.get(name) ?? []).filter((waiter) => waiter !== resolve));
          reject(new Error('AbortError'));
        });
      });
    }
    this.held.set(name, true);
    try {
      return await callback({ name });
    } finally {
      this.held.set(name, false);
      const next = this.queue.get(name)?.shift();
      next?.();
    }
  }
}

function tab(locks: FakeLocks, name = 'callboard:http://pbx:7', log: string[] = []): Tabs {
  const tabs = new Tabs({ locks, channel: (channel) => new BroadcastChannel(channel) as never, commandTimeout: 500 });
  tabs.start(name, async (op, args) => {
    log.push(`${tabs.id} ${op} ${JSON.stringify(args)}`);
    if (op === 'fail') throw CallboardError.sdk('nope', 'refused', 409);
    return `done ${op}`;
  });
  return tabs;
}

test('the first tab leads; the others follow and get its state', async () => {
  const locks = new FakeLocks();
  const first = tab(locks);
  await until(() => first.leader, 'first leads');
  first.publish({ phone: 'registered' });
  const second = tab(locks);
  await until(() => second.remoteState !== null, 'second hears the state');
  assert.equal(second.leader, false);
  assert.deepEqual(second.remoteState, { phone: 'registered' });
  const states: unknown[] = [];
  second.on('state', (state) => states.push(state));
  first.publish({ phone: 'unregistered' });
  await until(() => states.length === 1, 'update');
  assert.deepEqual(states, [{ phone: 'unregistered' }]);
  first.stop();
  second.stop();
});

test("a follower's command runs in the leader's tab and its result or error comes back", async () => {
  const locks = new FakeLocks();
  const log: string[] = [];
  const leader = tab(locks, 'callboard:cmd', log);
  await until(() => leader.leader, 'leads');
  leader.publish({ phone: 'registered' });
  const follower = tab(locks, 'callboard:cmd', log);
  await until(() => follower.remoteState !== null, 'follower ready');
  assert.equal(await follower.command('answer', { id: 'leg-1' }), 'done answer');
  assert.deepEqual(log, [`${leader.id} answer {"id":"leg-1"}`]);
  await assert.rejects(follower.command('fail', {}), (error: CallboardError) => error.id === 'sdk.nope' && error.code === 409);
  // In the leader's own tab the command runs directly.
  assert.equal(await leader.command('mute', { id: 'leg-1' }), 'done mute');
  leader.stop();
  follower.stop();
});

test('when the leader leaves, the next tab takes over', async () => {
  const locks = new FakeLocks();
  const first = tab(locks, 'callboard:handover');
  await until(() => first.leader, 'first leads');
  const second = tab(locks, 'callboard:handover');
  const third = tab(locks, 'callboard:handover');
  const changes: boolean[] = [];
  second.on('leader', (leader) => changes.push(leader));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(second.leader, false);
  first.stop();
  await until(() => second.leader, 'second leads');
  assert.deepEqual(changes, [true]);
  assert.equal(third.leader, false);
  // A follower that stops leaves the queue without ever leading.
  third.stop();
  second.stop();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(third.leader, false);
});

test('a command with no leader to run it fails at once', async () => {
  const locks = new FakeLocks();
  const only = tab(locks, 'callboard:alone');
  await until(() => only.leader, 'leads');
  only.stop();
  const lonely = new Tabs({ locks: new FakeLocks(), channel: (name) => new BroadcastChannel(name) as never, commandTimeout: 100 });
  // Not started: no leader has spoken.
  await assert.rejects(lonely.command('answer', {}), (error: CallboardError) => error.id === 'sdk.no_phone');
});

test('without Web Locks or BroadcastChannel every tab leads alone', async () => {
  const tabs = new Tabs({ locks: null, channel: null, commandTimeout: 100 });
  tabs.start('x', async () => 'ran here');
  assert.equal(tabs.leader, true);
  assert.equal(await tabs.command('dial', {}), 'ran here');
  tabs.stop();
});
