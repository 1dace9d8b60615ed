/**
 * Renewing the web phone's ephemeral SIP credentials (renewal.ts): when, with what, and
 * what happens when the server cannot be reached or refuses. Timers are fake: a test
 * fires them itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallboardError } from '../src/errors';
import { CredentialRenewal, renewalDelay, type Timers } from '../src/renewal';
import type { DeviceConfig } from '../src/wire';

class FakeTimers implements Timers {
  private next = 1;
  readonly pending = new Map<number, { callback: () => void; ms: number }>();

  set(callback: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { callback, ms });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** The delays of the timers waiting. */
  get delays(): number[] {
    return [...this.pending.values()].map((timer) => timer.ms);
  }

  /** Fire every timer waiting (as if their time had come). */
  fire(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const timer of due) timer.callback();
  }
}

const EXPIRY = 1_763_750_400_000;

function settings(expiresAt: number | null, expiresIn: number | null = 43_200): DeviceConfig {
  return {
    server: 'wss://pbx.test:7443',
    extension: '1001',
    realm: 'callboard.lo',
    uri: 'sip:1001@callboard.lo',
    authorization_user: expiresAt === null ? 'webphone1001' : `${expiresAt / 1000}:webphone1001`,
    display_name: 'Alice',
    ha1: `ha1-for-${expiresAt}`,
    ...(expiresAt === null ? {} : { expires_at: expiresAt }),
    ...(expiresIn === null ? {} : { expires_in: expiresIn }),
  };
}

/** Let the fetch promise and what follows it settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness(answers: (DeviceConfig | Error)[]) {
  const timers = new FakeTimers();
  const applied: DeviceConfig[] = [];
  const refused: CallboardError[] = [];
  let fetches = 0;
  const renewal = new CredentialRenewal({
    fetch: async () => {
      fetches += 1;
      const answer = answers.shift();
      if (answer === undefined) throw new Error('no more answers');
      if (answer instanceof Error) throw answer;
      return answer;
    },
    apply: (config) => applied.push(config),
    refused: (error) => refused.push(error),
    retryDelay: 5_000,
    timers,
  });
  return { renewal, timers, applied, refused, fetches: () => fetches };
}

test('renews with a fifth of the lifetime left, at least a minute before, at once when shorter', () => {
  assert.equal(renewalDelay(43_200), 34_560_000); // 12 h: after 9.6 h
  assert.equal(renewalDelay(3_600), 2_880_000); // 1 h: after 48 min
  assert.equal(renewalDelay(100), 40_000); // a minute before
  assert.equal(renewalDelay(60), 0);
  assert.equal(renewalDelay(10), 0);
  assert.equal(renewalDelay(0), 0);
  assert.equal(renewalDelay(-5), 0);
  assert.equal(renewalDelay(Number.NaN), 0);
  // Never past what setTimeout keeps (a longer delay would fire at once).
  assert.equal(renewalDelay(10 ** 9), 2 ** 31 - 1);
});

test('credentials that do not expire are never renewed', () => {
  const { renewal, timers } = harness([]);
  renewal.start(settings(null, null));
  assert.deepEqual(timers.delays, []);
  assert.equal(renewal.pending, false);
});

test('newer credentials are applied, and renewed in their turn', async () => {
  const later = settings(EXPIRY + 3_600_000, 3_600);
  const latest = settings(EXPIRY + 7_200_000, 3_600);
  const { renewal, timers, applied, fetches } = harness([later, latest]);
  renewal.start(settings(EXPIRY, 3_600));
  assert.deepEqual(timers.delays, [2_880_000]);
  assert.equal(fetches(), 0);

  timers.fire();
  await settle();
  assert.equal(fetches(), 1);
  assert.deepEqual(applied, [later]);
  assert.deepEqual(timers.delays, [2_880_000]);

  timers.fire();
  await settle();
  assert.deepEqual(applied, [later, latest]);
  assert.equal(renewal.pending, true);
});

test('credentials no later than the current ones end the renewals (the token ends first)', async () => {
  const { renewal, timers, applied, fetches } = harness([settings(EXPIRY, 30)]);
  renewal.start(settings(EXPIRY, 100));
  timers.fire();
  await settle();
  assert.equal(fetches(), 1);
  assert.deepEqual(applied, []);
  assert.deepEqual(timers.delays, []);
  assert.equal(renewal.pending, false);
});

test('without a connection it tries again when the connection is back, and meanwhile', async () => {
  const lost = CallboardError.sdk('not_connected', 'not connected to the server', 503);
  const later = settings(EXPIRY + 3_600_000, 3_600);
  const { renewal, timers, applied, refused, fetches } = harness([lost, lost, later]);
  renewal.start(settings(EXPIRY, 100));
  timers.fire();
  await settle();
  assert.equal(fetches(), 1);
  assert.deepEqual(applied, []);
  assert.deepEqual(refused, []);
  assert.deepEqual(timers.delays, [5_000]);
  assert.equal(renewal.pending, true);

  timers.fire(); // the retry, still without a connection
  await settle();
  assert.equal(fetches(), 2);
  assert.deepEqual(timers.delays, [5_000]);

  renewal.resume(); // the connection is back: at once, and the retry timer goes
  await settle();
  assert.equal(fetches(), 3);
  assert.deepEqual(applied, [later]);
  assert.deepEqual(timers.delays, [2_880_000]);
  renewal.resume(); // nothing due: nothing asked
  await settle();
  assert.equal(fetches(), 3);
});

test('a refusal is reported once and ends the renewals', async () => {
  const expired = new CallboardError({ id: 'app.session.expired', status: 'Unauthorized', detail: 'the token has expired', code: 401 });
  const { renewal, timers, applied, refused, fetches } = harness([expired]);
  renewal.start(settings(EXPIRY, 100));
  timers.fire();
  await settle();
  assert.equal(fetches(), 1);
  assert.deepEqual(applied, []);
  assert.deepEqual(
    refused.map((error) => error.id),
    ['app.session.expired'],
  );
  assert.deepEqual(timers.delays, []);
  renewal.resume();
  await settle();
  assert.equal(fetches(), 1);
});

test('stopped (the phone went away), nothing is renewed, not even an answer on its way', async () => {
  let answer: (config: DeviceConfig) => void = () => undefined;
  const timers = new FakeTimers();
  const applied: DeviceConfig[] = [];
  const renewal = new CredentialRenewal({
    fetch: () => new Promise<DeviceConfig>((resolve) => (answer = resolve)),
    apply: (config) => applied.push(config),
    refused: () => assert.fail('not refused'),
    timers,
  });
  renewal.start(settings(EXPIRY, 100));
  timers.fire();
  renewal.stop();
  answer(settings(EXPIRY + 3_600_000, 3_600));
  await settle();
  assert.deepEqual(applied, []);
  assert.deepEqual(timers.delays, []);

  const idle = harness([]);
  idle.renewal.start(settings(EXPIRY, 100));
  idle.renewal.stop();
  assert.deepEqual(idle.timers.delays, []);
});
