// The real AI SDK client against a live recoup-mock. Driven by test_ai_sdk.py.
//
//   node ai_sdk_cases.mjs <alias> <config-json>
//
// <alias> is one of the npm aliases in package.json (ai5, ai6, ai7). <config-json> is
// {"fast": URL, "paced": URL, "faults": URL, "only": [case names]?}: `fast` is a mock at speed 0; `paced`
// (speed 2) and `faults` (speed 5) are mocks whose scenarios take real time, for abort and resume. A resume
// after a dropped connection or a bad frame must come before the run ends, within the scenario's resume
// window (its scripted wait before the rest: 1 s at speed 1); those cases use `faults`, where it is 5 s,
// so that a loaded 2-core machine still makes it. Every case is run through
// `DefaultChatTransport` + `readUIMessageStream` (names starting `transport:`) or through `AbstractChat`,
// the engine under `useChat` (`chat:`). A case only observes: it returns what the client ended with
// (messages, status, errors, callbacks), and the Python side asserts on it. The script prints one JSON
// line {alias, version, node, results: {case: observation | {crash}}} and exits 0 unless the harness
// itself broke.

import { createRequire } from "node:module";
import process from "node:process";
import { RecordingState, errorInfo, runCases } from "./case_runner.mjs";

const [alias, configJson] = process.argv.slice(2);
if (!alias || !configJson) {
  console.error("usage: node ai_sdk_cases.mjs <alias> <config-json>");
  process.exit(2);
}
const config = JSON.parse(configJson);
const ai = await import(alias);
const { DefaultChatTransport, readUIMessageStream, AbstractChat } = ai;
const version = createRequire(import.meta.url)(`${alias}/package.json`).version;

export const ALICE = "recoup_sk_test_alice";
export const BOB = "recoup_sk_test_bob";
const SESSION_READY = "5e551011-0000-4000-8000-000000000001";
const SESSION_BOB = "5e551011-0000-4000-8000-000000000003";
const CHAT_IDLE = "c4a70000-0000-4000-8000-000000000001";
const CHAT_BUSY = "c4a70000-0000-4000-8000-000000000002";
const CHAT_BOB = "c4a70000-0000-4000-8000-000000000003";
const UNKNOWN_KEY = "recoup_sk_test_nobody";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

function auth(key = ALICE, scheme = "x-api-key") {
  return scheme === "bearer" ? { authorization: `Bearer ${key}` } : { "x-api-key": key };
}

async function api(base, method, path, { key = ALICE, body } = {}) {
  const response = await fetch(base + path, {
    method,
    headers: { ...auth(key), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A new session with a sandbox and its chat, as a front end sets one up. */
async function freshChat(base, key = ALICE) {
  const { session, chat } = await api(base, "POST", "/api/sessions", { key, body: { title: "ai sdk client test" } });
  await api(base, "POST", "/api/sandbox", { key, body: { repoUrl: "https://github.com/o/r", sessionId: session.id } });
  return { chatId: chat.id, sessionId: session.id };
}

/** DefaultChatTransport configured as the README's "Use it from your front end" section says. */
function transportFor(base, { chatId, sessionId = SESSION_READY, key = ALICE, scheme = "x-api-key", scenario, api: apiPath = "/api/chat", legacy = false } = {}) {
  return new DefaultChatTransport({
    api: base + apiPath,
    headers: { ...auth(key, scheme), ...(scenario ? { prefer: `scenario=${scenario}` } : {}) },
    // The mock wants chatId and sessionId in the body (DefaultChatTransport adds the chat id as `id`).
    body: legacy ? {} : { chatId, sessionId },
    // The default reconnect URL is `${api}/${chatId}/stream` already; spelled out as the README does.
    prepareReconnectToStreamRequest: ({ id, headers }) => ({
      api: `${base}/api/chat/${encodeURIComponent(id)}/stream`,
      headers,
    }),
  });
}

const userMessage = (text, id = "u1") => ({ id, role: "user", parts: [{ type: "text", text }] });

// ------------------------------------------------------------------ DefaultChatTransport + readUIMessageStream

async function readAll(stream) {
  const errors = [];
  const textLengths = [];
  let last;
  let snapshots = 0;
  for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(errorInfo(e)) })) {
    last = snapshot;
    snapshots++;
    const text = snapshot.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
    if (textLengths.at(-1) !== text.length) textLengths.push(text.length);
  }
  return { message: clone(last) ?? null, snapshots, errors, textLengths };
}

async function transportSend(base, { chatId, text = "Hello", abortSignal, ...options }) {
  const transport = transportFor(base, { chatId, ...options });
  try {
    const stream = await transport.sendMessages({
      chatId, messages: [userMessage(text)], trigger: "submit-message", messageId: undefined, abortSignal,
    });
    return { stream, transport };
  } catch (error) {
    return { rejected: errorInfo(error), transport };
  }
}

async function transportScenario(scenario, { base = config.fast } = {}) {
  const { chatId, sessionId } = await freshChat(base);
  const { stream, rejected } = await transportSend(base, { chatId, sessionId, scenario });
  if (rejected) return { rejected };
  return readAll(stream);
}

// The mock replays a run from chunk 0 with the same `start.messageId`, so the replay is read into a
// fresh message (passing the partial message would append the replayed parts to it).
async function transportReconnect(base, chatId, options = {}) {
  const transport = transportFor(base, { chatId, ...options });
  try {
    const stream = await transport.reconnectToStream({ chatId });
    if (stream === null) return { result: null };
    return { result: await readAll(stream) };
  } catch (error) {
    return { rejected: errorInfo(error) };
  }
}

// ------------------------------------------------------------------ AbstractChat (the engine under useChat)


class TestChat extends AbstractChat {
  constructor({ messages, ...init }) {
    const state = new RecordingState(messages ?? []);
    const events = { onError: [], onFinish: [], onData: [] };
    super({
      ...init,
      state,
      onError: (error) => events.onError.push(errorInfo(error)),
      onFinish: ({ isAbort, isDisconnect, isError, finishReason, message }) =>
        events.onFinish.push({ isAbort, isDisconnect, isError, finishReason: finishReason ?? null, messageId: message?.id ?? null }),
      onData: (part) => events.onData.push(clone(part)),
    });
    this.recorder = state;
    this.events = events;
  }
  observe() {
    return {
      status: this.status,
      error: errorInfo(this.error),
      messages: clone(this.messages),
      statusHistory: [...this.recorder.statusHistory],
      ...clone(this.events),
    };
  }
}

function makeChat(base, id, { messages, ...transportOptions } = {}) {
  return new TestChat({ id, messages, transport: transportFor(base, { chatId: id, ...transportOptions }) });
}

async function chatSend(base, { chatId, sessionId, text = "Hello", ...options }) {
  const chat = makeChat(base, chatId, { sessionId, ...options });
  await chat.sendMessage({ text });
  return chat.observe();
}

async function chatScenario(scenario, { base = config.fast } = {}) {
  const { chatId, sessionId } = await freshChat(base);
  return chatSend(base, { chatId, sessionId, scenario });
}

async function chatResume(base, chatId, options = {}) {
  const chat = makeChat(base, chatId, options);
  await chat.resumeStream();
  return chat.observe();
}

const assistantText = (chat) => {
  const last = chat.messages.at(-1);
  return last?.role === "assistant" ? last.parts.filter((p) => p.type === "text").map((p) => p.text).join("") : "";
};

async function waitFor(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ------------------------------------------------------------------ the cases

const STREAM_SCENARIOS = ["default", "reasoning", "tool-call", "multi-step", "rich-parts", "slow", "split-frames", "abort", "stall"];
const HTTP_SCENARIOS = ["http-429", "http-500", "http-502", "http-503"];

const cases = {};

for (const scenario of [...STREAM_SCENARIOS, "error-mid-stream", "malformed", ...HTTP_SCENARIOS]) {
  cases[`transport:${scenario}`] = () => transportScenario(scenario);
  cases[`chat:${scenario}`] = () => chatScenario(scenario);
}

// The marker in the user's text picks a scenario too (what a person typing into a front end does).
cases["chat:marker"] = async () => {
  const { chatId, sessionId } = await freshChat(config.fast);
  return chatSend(config.fast, { chatId, sessionId, text: "Think first [scenario:reasoning]" });
};

// disconnect: the live connection drops mid-message; the run goes on; a resume gets the whole message.
cases["transport:disconnect"] = async () => {
  const base = config.faults;
  const { chatId, sessionId } = await freshChat(base);
  const { stream, rejected } = await transportSend(base, { chatId, sessionId, scenario: "disconnect" });
  if (rejected) return { rejected };
  const live = await readAll(stream);
  const resumed = await transportReconnect(base, chatId, { sessionId });
  return { live, resumed };
};
cases["chat:disconnect"] = async () => {
  const base = config.faults;
  const { chatId, sessionId } = await freshChat(base);
  const chat = makeChat(base, chatId, { sessionId, scenario: "disconnect" });
  await chat.sendMessage({ text: "Hello" });
  const live = chat.observe();
  await chat.resumeStream();
  return { live, resumed: chat.observe() };
};

// malformed: the client's JSON parse error on the live connection; a resume replays clean chunks.
cases["chat:malformed-then-resume"] = async () => {
  const base = config.faults;
  const { chatId, sessionId } = await freshChat(base);
  const chat = makeChat(base, chatId, { sessionId, scenario: "malformed" });
  await chat.sendMessage({ text: "Hello" });
  const live = chat.observe();
  await chat.resumeStream();
  return { live, resumed: chat.observe() };
};

// Abort mid-stream (the stop button), then resumeStream() on fresh chats, as after a page reload:
// one restored from the aborted chat's messages, one empty. Both follow the same run at once.
cases["chat:abort-then-resume"] = async () => {
  const base = config.paced;
  const { chatId, sessionId } = await freshChat(base);
  const first = makeChat(base, chatId, { sessionId, scenario: "slow" });
  const sending = first.sendMessage({ text: "Count for me" });
  await waitFor(() => assistantText(first).length >= 20, "the first 20 characters");
  await first.stop();
  await sending;
  const aborted = first.observe();
  const restored = makeChat(base, chatId, { sessionId, messages: clone(first.messages) });
  const empty = makeChat(base, chatId, { sessionId });
  await Promise.all([restored.resumeStream(), empty.resumeStream()]);
  const after = await chatResume(base, chatId, { sessionId });
  return { aborted, restored: restored.observe(), empty: empty.observe(), afterRunEnded: after };
};
cases["transport:abort-then-reconnect"] = async () => {
  const base = config.paced;
  const { chatId, sessionId } = await freshChat(base);
  const controller = new AbortController();
  const { stream, rejected } = await transportSend(base, { chatId, sessionId, scenario: "slow", abortSignal: controller.signal });
  if (rejected) return { rejected };
  const errors = [];
  let partial;
  for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(errorInfo(e)) })) {
    partial = clone(snapshot);
    if (snapshot.parts.some((p) => p.type === "text" && p.text.length >= 20)) break;
  }
  controller.abort();
  const resumed = await transportReconnect(base, chatId, { sessionId });
  return { partial, abortErrors: errors, resumed };
};

// The stall scenario on a paced mock: text, then silence; a client-side timeout ends the wait.
cases["transport:stall-timeout"] = async () => {
  const base = config.paced;
  const { chatId, sessionId } = await freshChat(base);
  const controller = new AbortController();
  const { stream, rejected } = await transportSend(base, { chatId, sessionId, scenario: "stall", abortSignal: controller.signal });
  if (rejected) return { rejected };
  const seen = [];
  const started = Date.now();
  let timer;
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => controller.abort(), 1000); };
  arm();
  const errors = [];
  let last;
  try {
    for await (const snapshot of readUIMessageStream({ stream, onError: (e) => errors.push(errorInfo(e)) })) {
      last = clone(snapshot);
      seen.push(Date.now() - started);
      arm();
    }
  } finally {
    clearTimeout(timer);
  }
  await api(base, "POST", `/api/chat/${chatId}/stop`);
  return { message: last ?? null, errors, timedOutAfterMs: Date.now() - started, aborted: controller.signal.aborted };
};

// Resume of an idle chat: nothing to resume (204).
cases["chat:resume-idle"] = () => chatResume(config.fast, CHAT_IDLE);
cases["transport:resume-idle"] = () => transportReconnect(config.fast, CHAT_IDLE);
// Resume of the pinned busy chat: a finite replay of its run.
cases["chat:resume-busy"] = () => chatResume(config.fast, CHAT_BUSY);

// Client errors carry the body's message.
cases["chat:send-401"] = () => chatSend(config.fast, { chatId: CHAT_IDLE, sessionId: SESSION_READY, key: UNKNOWN_KEY });
cases["chat:resume-401"] = () => chatResume(config.fast, CHAT_IDLE, { key: UNKNOWN_KEY });
cases["chat:send-403"] = () => chatSend(config.fast, { chatId: CHAT_BOB, sessionId: SESSION_BOB });
cases["chat:resume-403"] = () => chatResume(config.fast, CHAT_BOB);
cases["chat:send-409"] = () => chatSend(config.fast, { chatId: CHAT_BUSY, sessionId: SESSION_READY });
cases["transport:send-401"] = async () => (await transportSend(config.fast, { chatId: CHAT_IDLE, key: UNKNOWN_KEY })).rejected ?? { unexpected: "resolved" };
cases["transport:resume-401"] = () => transportReconnect(config.fast, CHAT_IDLE, { key: UNKNOWN_KEY });
cases["transport:send-403"] = async () => (await transportSend(config.fast, { chatId: CHAT_BOB, sessionId: SESSION_BOB })).rejected ?? { unexpected: "resolved" };
cases["transport:resume-403"] = () => transportReconnect(config.fast, CHAT_BOB);
cases["transport:send-409"] = async () => (await transportSend(config.fast, { chatId: CHAT_BUSY })).rejected ?? { unexpected: "resolved" };

// Both credential schemes, on a turn and on a resume; Bob's own chat with Bob's key.
for (const scheme of ["bearer", "x-api-key"]) {
  cases[`chat:scheme-${scheme}`] = async () => {
    const { chatId, sessionId } = await freshChat(config.fast);
    return chatSend(config.fast, { chatId, sessionId, scheme });
  };
  cases[`transport:scheme-${scheme}`] = async () => {
    const { chatId, sessionId } = await freshChat(config.fast);
    const { stream, rejected } = await transportSend(config.fast, { chatId, sessionId, scheme });
    return rejected ? { rejected } : readAll(stream);
  };
  cases[`chat:resume-idle-${scheme}`] = () => chatResume(config.fast, CHAT_IDLE, { scheme });
}
cases["chat:bob-own-chat"] = async () => {
  const { chatId, sessionId } = await freshChat(config.fast, BOB);
  return chatSend(config.fast, { chatId, sessionId, key: BOB, scheme: "bearer" });
};

// The legacy endpoint (prompt/messages body, no chat or session ids).
cases["chat:legacy"] = async () => {
  const chat = makeChat(config.fast, "legacy-chat", { api: "/legacy/api/chat", legacy: true });
  await chat.sendMessage({ text: "Draft a tweet" });
  return chat.observe();
};
cases["transport:legacy"] = async () => {
  const { stream, rejected } = await transportSend(config.fast, { chatId: "legacy-chat", api: "/legacy/api/chat", legacy: true, scenario: "tool-call" });
  return rejected ? { rejected } : readAll(stream);
};

// ------------------------------------------------------------------ run them

const only = config.only ? new Set(config.only) : null;
const names = Object.keys(cases).filter((name) => !only || only.has(name));
// The paced cases race the server's clock (a resume must come within the resume window, before the run
// ends), so they run last, once the fast cases have warmed the client up (a cold process spends its
// first second compiling), all at once with nothing else going on.
const PACED = new Set(["chat:disconnect", "transport:disconnect", "chat:malformed-then-resume", "chat:abort-then-resume",
  "transport:abort-then-reconnect", "transport:stall-timeout"]);

const { results, durations, elapsedMs } = await runCases(cases, names,
  { isPaced: (name) => PACED.has(name), concurrency: Number(config.concurrency ?? 6) });
process.stdout.write(`${JSON.stringify({ alias, version, node: process.version, elapsedMs, durations, results })}\n`);
