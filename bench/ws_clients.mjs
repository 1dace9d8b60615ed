// Many webitel-sdk WebSocket clients in one Node process, for bench/events.py.
//
// Each client speaks the protocol of the published webitel-sdk (authentication_challenge
// with a user token, then subscribe_call), as the SDK does, with Node's `ws` (the client
// the reference's fan-out anchors used; installed by bench/events.py in its work folder,
// never in the repository). Every `call` frame is timestamped on arrival with the wall
// clock at microsecond resolution (performance.timeOrigin + performance.now(), the same
// host clock as the SIP peers' timestamps) and kept in memory; nothing is written while
// frames flow.
//
// Per-user sequence check: right after subscribing, each client asks `events_since` with
// a sequence beyond the end, which answers nothing but the user's `last_seq` (the
// baseline); at the end it asks again (the final). Every seq in (baseline, final] must
// have arrived exactly once, in order.
//
// Usage: node ws_clients.mjs CONFIG.json   (CONFIG: {url, ws_module, clients: [[user,
// token], ...], concurrency, frames_out}); then JSON commands on stdin, one a line:
//   {"cmd": "connect"}  connect, authenticate, subscribe every client; replies
//                       {"connected", "failed", "errors", "ms", "clock_skew_ms"}
//   {"cmd": "record"}   start keeping `call` frames (frames before it are only counted)
//   {"cmd": "final"}    ask every client its final seq, check, write frames_out (CSV);
//                       replies with the totals
//   {"cmd": "close"}    close every socket and exit
// Each reply is one JSON line on stdout.

import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import readline from 'node:readline';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const require = createRequire(config.ws_module + '/');
const WebSocket = require('ws');

const BEYOND = 1000000000;
const now = () => performance.timeOrigin + performance.now();

let recording = false;
// One array per column keeps the per-frame cost to a few pushes.
const frames = { t: [], client: [], seq: [], event: [], leg: [], ts: [], sip: [], parent: [], bridged: [], size: [] };
let framesBeforeRecording = 0;

class Client {
  constructor(index, user, token) {
    this.index = index;
    this.user = user;
    this.token = token;
    this.nextSeq = 1;
    this.pending = new Map();
    this.seqs = [];
    this.baseline = null;
    this.final = null;
    this.closed = null;
    this.ws = null;
  }

  request(action, data) {
    const seq = this.nextSeq++;
    return new Promise((resolve) => {
      this.pending.set(seq, resolve);
      this.ws.send(JSON.stringify({ seq, action, data }));
    });
  }

  onMessage(data) {
    const t = now();
    const text = data.toString();
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return;
    }
    if (message.event === 'call') {
      this.seqs.push(message.seq);
      if (!recording) {
        framesBeforeRecording++;
        return;
      }
      const call = message.data.call;
      const extra = call.data || {};
      frames.t.push(t);
      frames.client.push(this.index);
      frames.seq.push(message.seq);
      frames.event.push(call.event);
      frames.leg.push(call.id);
      frames.ts.push(call.timestamp);
      frames.sip.push(extra.sip_id || '');
      frames.parent.push(extra.parent_id || '');
      frames.bridged.push(extra.bridged_id || '');
      frames.size.push(text.length);
      return;
    }
    if (message.seq_reply !== undefined) {
      const resolve = this.pending.get(message.seq_reply);
      if (resolve) {
        this.pending.delete(message.seq_reply);
        resolve(message);
      }
    }
  }

  async lastSeq() {
    let reply = await this.request('events_since', { seq: BEYOND });
    if (reply.status !== 'OK') {
      // A user with no stream yet: seq 0 answers [] and last_seq 0.
      reply = await this.request('events_since', { seq: 0 });
    }
    if (reply.status !== 'OK') throw new Error(`events_since: ${JSON.stringify(reply.error)}`);
    return reply.data.last_seq;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(config.url, { perMessageDeflate: false });
      this.ws = ws;
      ws.on('message', (data) => this.onMessage(data));
      ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        for (const resolvePending of this.pending.values()) resolvePending({ status: 'CLOSED' });
        this.pending.clear();
      });
      ws.on('error', (error) => reject(error));
      ws.on('open', async () => {
        try {
          const auth = await this.request('authentication_challenge', { token: this.token });
          if (auth.status !== 'OK') throw new Error(`auth: ${JSON.stringify(auth.error || auth.status)}`);
          const subscribed = await this.request('subscribe_call', {});
          if (subscribed.status !== 'OK') throw new Error('subscribe_call failed');
          this.baseline = await this.lastSeq();
          resolve();
        } catch (error) {
          reject(error);
        }
      });
    });
  }
}

const clients = config.clients.map(([user, token], index) => new Client(index, user, token));

async function inParallel(items, limit, work) {
  let next = 0;
  const results = [];
  async function lane() {
    while (next < items.length) {
      const item = items[next++];
      try {
        await work(item);
        results.push(null);
      } catch (error) {
        results.push(String(error && error.message ? error.message : error));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results.filter((r) => r !== null);
}

function clockSkew() {
  // How far our clock (performance.timeOrigin + performance.now()) is from the wall
  // clock now (Date.now(), CLOCK_REALTIME like the SIP peers' timestamps, whole ms): the
  // mean of Date.now() - now() over 30 ms of samples, plus 0.5 ms for Date.now()'s
  // truncation. About 0 unless the wall clock was stepped since this process started.
  let sum = 0, count = 0;
  const end = now() + 30;
  while (now() < end) {
    sum += Date.now() - now();
    count++;
  }
  return Math.round((sum / count + 0.5) * 1000) / 1000;
}

function check() {
  let expected = 0, received = 0, lost = 0, duplicates = 0, outOfOrder = 0, clientsLosing = 0;
  const examples = [];
  for (const client of clients) {
    if (client.baseline === null) continue;
    const base = client.baseline;
    const last = client.final ?? Math.max(base, ...client.seqs);
    const want = last - base;
    const seen = new Set();
    let previous = 0, dups = 0, disorder = 0;
    for (const seq of client.seqs) {
      if (seq <= base || seq > last) continue;
      if (seen.has(seq)) dups++;
      seen.add(seq);
      if (seq < previous) disorder++;
      previous = seq;
    }
    const missing = want - seen.size;
    expected += want;
    received += seen.size;
    lost += missing;
    duplicates += dups;
    outOfOrder += disorder;
    if (missing > 0) {
      clientsLosing++;
      if (examples.length < 5) examples.push({ client: client.index, user: client.user, base, last, missing, closed: client.closed });
    }
  }
  return { expected, received, lost, duplicates, out_of_order: outOfOrder, clients_losing: clientsLosing, examples };
}

function writeFrames() {
  const lines = ['t_ms,client,seq,event,leg,ts,sip_id,parent_id,bridged_id,size'];
  for (let i = 0; i < frames.t.length; i++) {
    lines.push([
      frames.t[i].toFixed(3), frames.client[i], frames.seq[i], frames.event[i], frames.leg[i],
      frames.ts[i], frames.sip[i], frames.parent[i], frames.bridged[i], frames.size[i],
    ].join(','));
  }
  writeFileSync(config.frames_out, lines.join('\n') + '\n');
}

function reply(value) {
  process.stdout.write(JSON.stringify(value) + '\n');
}

const commands = {
  async connect() {
    const started = now();
    const errors = await inParallel(clients, config.concurrency || 50, (client) => client.connect());
    return {
      connected: clients.filter((c) => c.baseline !== null && !c.closed).length,
      failed: errors.length,
      errors: [...new Set(errors)].slice(0, 5),
      ms: Math.round(now() - started),
      clock_skew_ms: clockSkew(),
    };
  },
  async record() {
    recording = true;
    return { recording: true, frames_before: framesBeforeRecording };
  },
  async final() {
    const open = clients.filter((c) => c.baseline !== null && !c.closed);
    const errors = await inParallel(open, 100, async (client) => {
      client.final = await client.lastSeq();
    });
    writeFrames();
    const closes = {};
    for (const client of clients) {
      if (client.closed) closes[client.closed.code] = (closes[client.closed.code] || 0) + 1;
    }
    return {
      frames: frames.t.length,
      final_errors: errors.length,
      closed_by_server: closes,
      clock_skew_ms: clockSkew(),
      ...check(),
    };
  },
  async close() {
    for (const client of clients) if (client.ws) client.ws.close(1000);
    setTimeout(() => process.exit(0), 500);
    return { closing: true };
  },
};

const input = readline.createInterface({ input: process.stdin });
input.on('line', async (line) => {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    reply({ error: `not JSON: ${line}` });
    return;
  }
  const handler = commands[command.cmd];
  if (!handler) {
    reply({ error: `unknown command ${command.cmd}` });
    return;
  }
  try {
    reply({ cmd: command.cmd, ...(await handler()) });
  } catch (error) {
    reply({ cmd: command.cmd, error: String(error && error.stack ? error.stack : error) });
  }
});
input.on('close', () => {
  for (const client of clients) if (client.ws) client.ws.terminate();
  process.exit(0);
});
reply({ ready: true, clients: clients.length });
