// One real AI SDK client in an isolated world of a live recoup-mock. Driven by test_worlds_parallel.py,
// which starts eight of these at once, each in its own world, all on the same fixture ids.
//
//   node worlds_parallel.mjs <base-url> <alias> <world> [--wait-go]
//
// <alias> is one of the npm aliases in package.json (ai5, ai6, ai7); <world> goes out as `x-mock-world`
// on every request, set once in the transport's `headers` as a front end would. With --wait-go the
// script imports the SDK, prints READY and waits for a line on stdin before its first request, so that
// the Python side can release every client at once, after all of them have paid for their start-up
// (before READY, a warm-up runs the same transport calls against a canned server of its own, in this
// process, so that the first real requests do not wait for fetch and the SDK to be compiled).
//
// The sequence, on the fixture's idle chat (every step waits on an event, never on a timer):
//   1. send: sendMessages with `Prefer: scenario=slow`; its stream is read in the background;
//   2. busy: once the first text has arrived, a second sendMessages on the same chat (expected 409);
//   3. resume: reconnectToStream (GET /api/chat/{chatId}/stream), read in the background too;
//   4. stop: once the resume has read LIVE_CHUNKS chunks past the replay it got at once (the
//      `x-workflow-stream-tail-index` header says where that ends), POST /api/chat/{chatId}/stop;
//      the run (48 deltas, 50 ms apart at speed 1) is then about 0.3 s into its 2.4 s; both streams
//      end, and both are read to their end;
//   5. resume again: reconnectToStream (expected 204: the SDK returns null).
// Each request of the transport goes through a recording `fetch` (status, run id header, error body).
// The script only observes: it prints one JSON line and exits 0 unless the harness itself broke.

import http from "node:http";
import { createRequire } from "node:module";
import process from "node:process";
import readline from "node:readline";

const [base, alias, world, ...flags] = process.argv.slice(2);
if (!base || !alias || !world) {
  console.error("usage: node worlds_parallel.mjs <base-url> <alias> <world> [--wait-go]");
  process.exit(2);
}
const { DefaultChatTransport, readUIMessageStream } = await import(alias);
const version = createRequire(import.meta.url)(`${alias}/package.json`).version;

const ALICE = "recoup_sk_test_alice";
const SESSION_READY = "5e551011-0000-4000-8000-000000000001";
const CHAT_IDLE = "c4a70000-0000-4000-8000-000000000001";
const CHAT_API = `${base}/api/chat`;
/** Chunks the resume must read live, past its replay, before the stop goes out. */
const LIVE_CHUNKS = 3;
/** A step that waits longer than this broke the harness (the whole run takes 2.4 s). */
const STEP_TIMEOUT_MS = 30000;

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

function errorInfo(error) {
  if (error == null) return null;
  return { name: error.name ?? null, message: String(error.message ?? error), statusCode: error.statusCode ?? null };
}

/** Every HTTP exchange, in the order the requests went out. */
const exchanges = [];

async function recordingFetch(input, init = {}) {
  const url = typeof input === "string" ? input : input.url;
  const sent = new Headers(init.headers);
  const exchange = { method: init.method ?? "GET", path: new URL(url).pathname, world: sent.get("x-mock-world"),
    prefer: sent.get("prefer"), status: null, runId: null, tailIndex: null, body: null };
  exchanges.push(exchange);
  const response = await fetch(input, init);
  exchange.status = response.status;
  exchange.runId = response.headers.get("x-workflow-run-id");
  exchange.tailIndex = response.headers.get("x-workflow-stream-tail-index");
  if (!response.ok) exchange.body = await response.clone().text();
  return response;
}

const transport = new DefaultChatTransport({
  api: CHAT_API,
  headers: { "x-api-key": ALICE, "x-mock-world": world },
  // The mock wants chatId and sessionId in the body (DefaultChatTransport adds the chat id as `id`).
  body: { chatId: CHAT_IDLE, sessionId: SESSION_READY },
  // The default reconnect URL is `${api}/${chatId}/stream` already; spelled out as the README does.
  // `headers` here are the transport's (with x-mock-world), merged with the call's.
  prepareReconnectToStreamRequest: ({ id, headers }) => ({
    api: `${CHAT_API}/${encodeURIComponent(id)}/stream`,
    headers,
  }),
  fetch: recordingFetch,
});

/** A promise that settles when `predicate()` holds after some progress, or when progress ends. */
class Progress {
  constructor() {
    this.waiters = [];
    this.ended = false;
  }
  changed() {
    this.waiters = this.waiters.filter((w) => {
      if (!w.predicate() && !this.ended) return true;
      clearTimeout(w.timer);
      w.resolve(w.predicate());
      return false;
    });
  }
  end() {
    this.ended = true;
    this.changed();
  }
  /** Resolves true once `predicate()` holds, false if the stream ended first; rejects after a timeout. */
  until(predicate, what) {
    if (predicate() || this.ended) return Promise.resolve(predicate());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
      this.waiters.push({ predicate, resolve, timer });
    });
  }
}

const textOf = (message) => (message?.parts ?? []).filter((p) => p.type === "text").map((p) => p.text).join("");

/** Read a UI message stream in the background: every chunk (through a pass-through), every snapshot. */
function follow(stream) {
  const progress = new Progress();
  const state = { chunks: [], snapshots: 0, message: null, errors: [], progress };
  const counted = stream.pipeThrough(new TransformStream({
    transform(chunk, controller) {
      state.chunks.push(clone(chunk));
      controller.enqueue(chunk);
      progress.changed();
    },
  }));
  state.done = (async () => {
    try {
      for await (const snapshot of readUIMessageStream({ stream: counted, onError: (e) => state.errors.push(errorInfo(e)) })) {
        state.message = clone(snapshot);
        state.snapshots++;
        progress.changed();
      }
    } catch (error) {
      state.errors.push(errorInfo(error));
    } finally {
      progress.end();
    }
  })();
  return state;
}

function observed(state) {
  return { chunks: state.chunks, snapshots: state.snapshots, message: state.message, text: textOf(state.message),
    errors: state.errors };
}

const userMessage = (text, id) => ({ id, role: "user", parts: [{ type: "text", text }] });

async function send(text, id) {
  const sent = exchanges.length;
  try {
    const stream = await transport.sendMessages({
      chatId: CHAT_IDLE, messages: [userMessage(text, id)], trigger: "submit-message", messageId: undefined,
      headers: { prefer: "scenario=slow" },
    });
    return { stream, exchange: exchanges[sent] ?? null };
  } catch (error) {
    return { rejected: errorInfo(error), exchange: exchanges[sent] ?? null };
  }
}

async function reconnect() {
  const sent = exchanges.length;
  try {
    const stream = await transport.reconnectToStream({ chatId: CHAT_IDLE });
    return { stream, isNull: stream === null, exchange: exchanges[sent] ?? null };
  } catch (error) {
    return { rejected: errorInfo(error), exchange: exchanges[sent] ?? null };
  }
}

/** The transport's calls once, against a canned local server (not the mock): compiles fetch and the SDK. */
async function warmUp() {
  const frames = [{ type: "start", messageId: "warmup" }, { type: "start-step" }, { type: "text-start", id: "t" },
    { type: "text-delta", id: "t", delta: "warm" }, { type: "text-end", id: "t" }, { type: "finish-step" },
    { type: "finish" }].map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join("") + "data: [DONE]\n\n";
  const server = http.createServer((request, response) => {
    request.resume();
    if (request.method === "GET") {
      response.writeHead(204).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/event-stream", "x-vercel-ai-ui-message-stream": "v1" });
    response.end(frames);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const api = `http://127.0.0.1:${server.address().port}/api/chat`;
    const canned = new DefaultChatTransport({ api, headers: { "x-api-key": ALICE }, fetch: recordingFetch });
    const stream = await canned.sendMessages({ chatId: "warmup", messages: [userMessage("warm", "w1")],
      trigger: "submit-message", messageId: undefined });
    await follow(stream).done;
    await canned.reconnectToStream({ chatId: "warmup" });
  } finally {
    exchanges.length = 0;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function waitForGo() {
  process.stdout.write("READY\n");
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "go") break;
  }
  lines.close();
}

/** Milliseconds since the release, at each step (for the record: nothing waits on them). */
const timeline = {};
let started = Date.now();
const mark = (name) => { timeline[name] = Date.now() - started; };

/** What each step saw, filled in as the sequence goes (a crash keeps what came before it). */
const steps = {};

async function sequence() {
  mark("send");
  // 1. The turn, with the slow scenario, read in the background.
  const first = await send("Count for me", "u1");
  steps.send = { exchange: first.exchange, rejected: first.rejected ?? null };
  mark("sent");
  if (!first.stream) return;
  const live = follow(first.stream);
  const sawText = await live.progress.until(() => textOf(live.message).length > 0, "the first text");
  steps.send.textBeforeBusy = textOf(live.message);
  mark("firstText");

  // 2. A second turn on the same chat while the first streams.
  const busy = await send("And again", "u2");
  steps.busy = { exchange: busy.exchange, rejected: busy.rejected ?? null, resolved: Boolean(busy.stream),
    firstStreamHadText: sawText, firstStreamChunksThen: live.chunks.length };
  if (busy.stream) await busy.stream.cancel();

  // 3. Resume while the first stream goes on.
  const firstChunksAtResume = live.chunks.length;
  mark("resume");
  const resumed = await reconnect();
  steps.resume = { exchange: resumed.exchange, rejected: resumed.rejected ?? null, isNull: resumed.isNull ?? null,
    firstStreamChunksThen: firstChunksAtResume };
  let follower = null;
  if (resumed.stream) {
    follower = follow(resumed.stream);
    // 4. Stop, once the resume has followed the run live for a few chunks.
    const tail = Number(resumed.exchange?.tailIndex ?? 0);
    const want = tail + 1 + LIVE_CHUNKS;
    steps.resume.tailIndex = tail;
    steps.resume.reachedBeforeStop = await follower.progress.until(() => follower.chunks.length >= want,
      `${want} chunks on the resume`);
  }
  mark("stop");
  steps.stop = { resumeChunksThen: follower?.chunks.length ?? null, firstChunksThen: live.chunks.length };
  const stop = await recordingFetch(`${CHAT_API}/${CHAT_IDLE}/stop`, {
    method: "POST",
    headers: { "x-api-key": ALICE, "x-mock-world": world },
  });
  steps.stop.status = stop.status;
  steps.stop.body = await stop.json().catch((error) => ({ unparsed: errorInfo(error) }));

  mark("stopped");
  await Promise.all([live.done, follower?.done]);
  mark("streamsEnded");
  steps.send.result = observed(live);
  if (follower) steps.resume.result = observed(follower);

  // 5. Nothing runs any more.
  const after = await reconnect();
  mark("resumedAfterStop");
  steps.resumeAfterStop = { exchange: after.exchange, rejected: after.rejected ?? null, isNull: after.isNull ?? null };
  if (after.stream) steps.resumeAfterStop.result = observed(await (async () => {
    const state = follow(after.stream);
    await state.done;
    return state;
  })());
}

if (flags.includes("--wait-go")) {
  await warmUp();
  await waitForGo();
}
started = Date.now();
let crash = null;
try {
  await sequence();
} catch (error) {
  crash = { ...errorInfo(error), stack: String(error?.stack ?? "") };
}
process.stdout.write(`${JSON.stringify({ alias, version, world, node: process.version, elapsedMs: Date.now() - started,
  timeline, steps, exchanges, crash })}\n`);
