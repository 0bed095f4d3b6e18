// The production transport, WorkflowChatTransport, against live recoup-mocks in both profiles. Driven by
// test_workflow_transport.py:
//
//   node workflow_transport_cases.mjs <line> <config-json>
//
// <line> is `ai6` (ai 6.x with @workflow/ai, what Recoup's front end ships) or `ai7` (ai 7.x with
// @ai-sdk/workflow/client). <config-json> is {fast, paced, faults, worlds: {documented, deployed},
// only?: [case names]}: three mocks at speed 0, 2 and 5, and on each of them one world per profile
// (`x-mock-world`, set up by the Python side). A case named `<profile>:<transport>:<what>` runs in that
// profile's world. The transport is set up as Recoup's front end sets it up (recoupable/app
// `lib/chat/createWorkflowChatTransport.ts`): `prepareSendMessagesRequest` gives the headers (the transport
// adds none, not even content-type) and the body {messages, chatId, sessionId};
// `prepareReconnectToStreamRequest` points at GET /api/chat/{chatId}/stream (the transport's default is
// `${api}/${runId}/stream`, which Recoup does not have) and gives the key again. The transport appends
// `?startIndex=N` itself.
//
// Every request either transport makes goes through `recordingFetch`, which notes what went over the wire:
// method, path, query, status, the x-workflow-* headers, and per response how many SSE chunks passed, their
// types, whether `[DONE]` came and how the body ended. A fetch called with an already aborted signal is noted
// too (`preAborted`): it rejects before any I/O, so it never reaches the wire. A case only observes: it returns that wire log and
// what the chat (AbstractChat, the engine under useChat) ended with. The script prints one JSON line
// {line, versions, node, durations, results: {case: observation | {crash}}}; the assertions are in Python.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { RecordingState, errorInfo, runCases } from "./case_runner.mjs";
import { fileURLToPath } from "node:url";

const [line, configJson] = process.argv.slice(2);
const LINES = {
  ai6: { ai: "ai", transport: "@workflow/ai", transportDir: "@workflow/ai" },
  ai7: { ai: "ai7", transport: "@ai-sdk/workflow/client", transportDir: "@ai-sdk/workflow" },
};
if (!LINES[line] || !configJson) {
  console.error("usage: node workflow_transport_cases.mjs <ai6|ai7> <config-json>");
  process.exit(2);
}
const config = JSON.parse(configJson);
const { AbstractChat, DefaultChatTransport } = await import(LINES[line].ai);
const { WorkflowChatTransport } = await import(LINES[line].transport);

const HERE = dirname(fileURLToPath(import.meta.url));
const versionOf = (...path) => {
  const file = join(HERE, "node_modules", ...path, "package.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).version : null;
};
const versions = {
  ai: versionOf(LINES[line].ai),
  transport: versionOf(LINES[line].transportDir),
  // The `ai` the transport itself imports (its SSE parser and chunk schema).
  transportAi: versionOf(LINES[line].transportDir, "node_modules", "ai") ?? versionOf("ai"),
};

const ALICE = "recoup_sk_test_alice";
const CHAT_BUSY = "c4a70000-0000-4000-8000-000000000002";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

// ------------------------------------------------------------------ the wire

/** A fetch that records each request and, as the body is read, each SSE chunk that passes. */
function recordingFetch(wire) {
  return async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input.url);
    const headers = new Headers(init.headers);
    const entry = {
      method: init.method ?? "GET", path: url.pathname, query: url.search,
      contentType: headers.get("content-type"), prefer: headers.get("prefer"),
      status: null, runId: null, tailIndex: null, bodyNull: null, chunks: 0, types: [], done: false, ended: null,
      // Milliseconds since the process started: for reading a failure, never asserted on.
      sentAt: Math.round(performance.now()), endedAt: null,
    };
    wire.push(entry);
    // A request whose signal is already aborted never leaves the process (fetch rejects at once).
    entry.preAborted = init.signal?.aborted === true;
    let response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      entry.ended = "fetch-error";
      entry.error = errorInfo(error);
      throw error;
    }
    entry.status = response.status;
    entry.runId = response.headers.get("x-workflow-run-id");
    entry.tailIndex = response.headers.get("x-workflow-stream-tail-index");
    entry.bodyNull = response.body === null;
    if (response.body === null) return response;
    if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      // An error body (JSON): kept for the assertions; the caller reads it again.
      const text = await response.text();
      entry.body = text;
      entry.ended = "eof";
      return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    const count = (text) => {
      pending += text;
      const lines = pending.split("\n");
      pending = lines.pop();
      for (const l of lines) {
        if (!l.startsWith("data:")) continue;
        const data = l.slice(5).trim();
        if (data === "[DONE]") {
          entry.done = true;
        } else {
          entry.chunks++;
          entry.types.push(JSON.parse(data).type);
        }
      }
    };
    const body = new ReadableStream({
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            entry.ended = "eof";
            entry.endedAt = Math.round(performance.now());
            controller.close();
            return;
          }
          count(decoder.decode(value, { stream: true }));
          controller.enqueue(value);
        } catch (error) {
          entry.ended = "error";
          entry.endedAt = Math.round(performance.now());
          entry.error = errorInfo(error);
          controller.error(error);
        }
      },
      cancel(reason) {
        entry.ended ??= "cancelled";
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

// ------------------------------------------------------------------ the mock

function worldOf(profile) {
  return config.worlds[profile];
}

async function api(base, profile, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { "x-api-key": ALICE, "x-mock-world": worldOf(profile), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A new session with a sandbox, and its chat: what a front end does before the first message. */
async function freshChat(base, profile) {
  const { session, chat } = await api(base, profile, "POST", "/api/sessions", { title: "workflow transport test" });
  await api(base, profile, "POST", "/api/sandbox", { repoUrl: "https://github.com/o/r", sessionId: session.id });
  return { chatId: chat.id, sessionId: session.id };
}

// ------------------------------------------------------------------ the transports

/** WorkflowChatTransport as Recoup's front end configures it (see the header comment). */
function workflowTransport(base, profile, { sessionId, scenario, wire, events, contentType = true, initialStartIndex }) {
  const auth = { "x-api-key": ALICE, "x-mock-world": worldOf(profile) };
  return new WorkflowChatTransport({
    api: `${base}/api/chat`,
    fetch: recordingFetch(wire),
    initialStartIndex,
    onChatSendMessage: (response) => events.sent.push({ status: response.status, runId: response.headers.get("x-workflow-run-id") }),
    onChatEnd: ({ chunkIndex }) => events.ended.push({ chunkIndex }),
    prepareSendMessagesRequest: ({ id, messages, body }) => ({
      headers: { ...(contentType ? { "content-type": "application/json" } : {}), ...auth,
        ...(scenario ? { prefer: `scenario=${scenario}` } : {}) },
      body: { ...body, messages, chatId: id, sessionId },
    }),
    prepareReconnectToStreamRequest: ({ id }) => ({
      api: `${base}/api/chat/${encodeURIComponent(id)}/stream`,
      headers: auth,
    }),
  });
}

/** DefaultChatTransport as the README's "Use it from your front end" section configures it. */
function defaultTransport(base, profile, { sessionId, scenario, wire }) {
  return new DefaultChatTransport({
    api: `${base}/api/chat`,
    fetch: recordingFetch(wire),
    headers: { "x-api-key": ALICE, "x-mock-world": worldOf(profile), ...(scenario ? { prefer: `scenario=${scenario}` } : {}) },
    prepareSendMessagesRequest: ({ id, messages, body, headers, trigger, messageId }) => ({
      headers, body: { ...body, id, chatId: id, sessionId, messages, trigger, messageId },
    }),
    prepareReconnectToStreamRequest: ({ id, headers }) => ({
      api: `${base}/api/chat/${encodeURIComponent(id)}/stream`, headers,
    }),
  });
}

// ------------------------------------------------------------------ AbstractChat (the engine under useChat)


class TestChat extends AbstractChat {
  constructor({ id, transport, events }) {
    const state = new RecordingState();
    super({
      id,
      transport,
      state,
      onError: (error) => events.onError.push(errorInfo(error)),
      onFinish: ({ isAbort, isDisconnect, isError, message }) =>
        events.onFinish.push({ isAbort, isDisconnect, isError, messageId: message?.id ?? null }),
    });
    this.recorder = state;
  }
}

/** One chat on one transport kind in one profile's world, with its wire log and events. */
function makeChat(kind, base, profile, chatId, options = {}) {
  const wire = [];
  const events = { sent: [], ended: [], onError: [], onFinish: [] };
  const make = kind === "workflow" ? workflowTransport : defaultTransport;
  const chat = new TestChat({ id: chatId, transport: make(base, profile, { ...options, wire, events }), events });
  chat.observe = () => ({
    chatId,
    status: chat.status,
    error: errorInfo(chat.error),
    messages: clone(chat.messages),
    statusHistory: [...chat.recorder.statusHistory],
    wire: clone(wire),
    ...clone(events),
  });
  return chat;
}

const assistantText = (chat) => {
  const last = chat.messages.at(-1);
  return last?.role === "assistant" ? last.parts.filter((p) => p.type === "text").map((p) => p.text).join("") : "";
};

async function waitFor(predicate, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ------------------------------------------------------------------ the cases

const cases = {};

for (const profile of ["documented", "deployed"]) {
  const at = (speed) => config[speed];

  // A turn in each of three scenarios, through each transport: the assembled messages are compared.
  for (const scenario of ["default", "tool-call", "rich-parts"]) {
    for (const kind of ["workflow", "default"]) {
      cases[`${profile}:${kind}:${scenario}`] = async () => {
        const { chatId, sessionId } = await freshChat(at("fast"), profile);
        const chat = makeChat(kind, at("fast"), profile, chatId, { sessionId, scenario });
        await chat.sendMessage({ text: "Hello" });
        return chat.observe();
      };
    }
  }

  // The server drops the POST mid-message (no [DONE]): the transport reconnects on its own.
  cases[`${profile}:workflow:disconnect`] = async () => {
    const { chatId, sessionId } = await freshChat(at("faults"), profile);
    const chat = makeChat("workflow", at("faults"), profile, chatId, { sessionId, scenario: "disconnect" });
    await chat.sendMessage({ text: "Hello" });
    return chat.observe();
  };

  // Stop as Recoup's front end does it for workflow chats: POST /api/chat/{chatId}/stop, then let the stream
  // close by itself (no local abort).
  cases[`${profile}:workflow:server-stop`] = async () => {
    const { chatId, sessionId } = await freshChat(at("paced"), profile);
    const chat = makeChat("workflow", at("paced"), profile, chatId, { sessionId, scenario: "slow" });
    const sending = chat.sendMessage({ text: "Count for me" });
    await waitFor(() => assistantText(chat).length >= 20, "the first 20 characters");
    const stop = await api(at("paced"), profile, "POST", `/api/chat/${chatId}/stop`);
    await sending;
    return { stop, ...chat.observe() };
  };

  // The local stop (useChat's stop(): the request is aborted), then resumeStream() on the same chat.
  cases[`${profile}:workflow:abort-then-resume`] = async () => {
    const { chatId, sessionId } = await freshChat(at("paced"), profile);
    const chat = makeChat("workflow", at("paced"), profile, chatId, { sessionId, scenario: "slow" });
    const sending = chat.sendMessage({ text: "Count for me" });
    await waitFor(() => assistantText(chat).length >= 20, "the first 20 characters");
    await chat.stop();
    await sending;
    const aborted = chat.observe();
    // deployed: the server cancels the run when it sees the reader go away, a moment after the abort; a
    // resume sent before that would still find it running. Wait for the cancel (documented: nothing to wait
    // for, the run goes on), so the resume below meets one state, not a race.
    const { runId } = aborted.wire[0];
    const status = () => api(at("paced"), profile, "GET", `/api/chat/runs/${runId}`).then((run) => run.status);
    let runStatusBeforeResume = await status();
    while (profile === "deployed" && runStatusBeforeResume === "running") {
      await sleep(10);
      runStatusBeforeResume = await status();
    }
    await chat.resumeStream();
    return { aborted, runStatusBeforeResume, resumed: chat.observe() };
  };

  // useChat({ resume: true }) on mount: reconnectToStream with startIndex 0.
  cases[`${profile}:workflow:resume-busy`] = async () => {
    const chat = makeChat("workflow", at("fast"), profile, CHAT_BUSY);
    await chat.resumeStream();
    return chat.observe();
  };
  cases[`${profile}:workflow:resume-idle`] = async () => {
    const { chatId, sessionId } = await freshChat(at("fast"), profile);
    const chat = makeChat("workflow", at("fast"), profile, chatId, { sessionId });
    await chat.resumeStream();
    return chat.observe();
  };
  // The tail of the stream only: a negative initialStartIndex, resolved by the server, which says where its
  // stream ends in x-workflow-stream-tail-index (the only use the transport makes of that header).
  cases[`${profile}:workflow:resume-tail`] = async () => {
    const chat = makeChat("workflow", at("fast"), profile, CHAT_BUSY, { initialStartIndex: -3 });
    await chat.resumeStream();
    return chat.observe();
  };

  // prepareSendMessagesRequest with the credentials only: the transport sends no content-type of its own.
  cases[`${profile}:workflow:no-content-type`] = async () => {
    const { chatId, sessionId } = await freshChat(at("fast"), profile);
    const chat = makeChat("workflow", at("fast"), profile, chatId, { sessionId, contentType: false });
    await chat.sendMessage({ text: "Hello" });
    return chat.observe();
  };

  // An HTTP error instead of a stream.
  cases[`${profile}:workflow:http-429`] = async () => {
    const { chatId, sessionId } = await freshChat(at("fast"), profile);
    const chat = makeChat("workflow", at("fast"), profile, chatId, { sessionId, scenario: "http-429" });
    await chat.sendMessage({ text: "Hello" });
    return chat.observe();
  };
}

// ------------------------------------------------------------------ run them

const only = config.only ? new Set(config.only) : null;
const names = Object.keys(cases).filter((name) => !only || only.has(name));
// The cases on the paced mocks race the server's clock (a reconnect must come within the resume window),
// so they run last, all at once, once the fast ones have warmed the process up.
const PACED = /:(disconnect|server-stop|abort-then-resume)$/;

const { results, durations, elapsedMs } = await runCases(cases, names, { isPaced: (name) => PACED.test(name) });
process.stdout.write(`${JSON.stringify({ line, versions, node: process.version, elapsedMs, durations, results })}\n`);
