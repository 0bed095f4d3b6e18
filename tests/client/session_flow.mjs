// The whole flow a Recoup front end runs on a session (recoup-surface.md §8), with the real `ai` client for
// the turn, against a live recoup-mock. Driven by test_session_flow.py:
//
//   node session_flow.mjs <alias> <config-json>
//
// <alias> is one of the npm aliases in package.json (ai6, ai7). <config-json> is {base, world}: the mock's
// URL and the world (x-mock-world) the flow runs in. The flow: create a session; list its chats; the
// reconnect probe; the status (as on mount); create the sandbox; read the status until it is active; one
// turn through AbstractChat (the engine under useChat) on DefaultChatTransport, set up as the front end sets
// it up; the chat read back; the list (unread); mark read; the list again; rename; a new chat with the
// client's id; the list; delete the new chat, then the only one left; the list; archive the session; the
// status; unarchive it; read it. Every step goes on whatever the one before answered (a spec without a
// route answers 404 there, and the flow goes on, as a front end does). Nothing is asserted here: the
// script prints one JSON line {alias, version, steps: [{n, name, method, path, status, body}], turn} and
// exits 0 unless the harness itself broke; test_session_flow.py asserts every step.

import { createRequire } from "node:module";
import process from "node:process";
import { RecordingState, errorInfo } from "./case_runner.mjs";

const [alias, configJson] = process.argv.slice(2);
if (!alias || !configJson) {
  console.error("usage: node session_flow.mjs <alias> <config-json>");
  process.exit(2);
}
const config = JSON.parse(configJson);
const { AbstractChat, DefaultChatTransport } = await import(alias);
const version = createRequire(import.meta.url)(`${alias}/package.json`).version;

const headers = { "x-api-key": "recoup_sk_test_alice", "x-mock-world": config.world };
// How often, and how many times, the status is read after POST /api/sandbox until it says `active`.
const POLL_MS = 50;
const POLL_ATTEMPTS = 20;
const q = encodeURIComponent;

const steps = [];

/** One call: recorded as a step (its status and its body, JSON when it is JSON), and its body returned. */
async function step(name, method, path, body) {
  const response = await fetch(config.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: kept as text
  }
  steps.push({ n: steps.length + 1, name, method, path, status: response.status, body: parsed });
  return response.ok ? parsed : null;
}

class Chat extends AbstractChat {
  constructor(options) {
    const state = new RecordingState(options.messages ?? []);
    super({ ...options, state });
    this.recorded = state;
  }
}

/** One turn as useChat runs it: AbstractChat on DefaultChatTransport, with the front end's request body. */
async function turn(sessionId, chatId, text) {
  const responses = [];
  const transport = new DefaultChatTransport({
    api: `${config.base}/api/chat`,
    headers,
    // What Recoup's front end sends (lib/chat/chat-api-client.ts): the chat and session ids with the
    // transport's own keys.
    prepareSendMessagesRequest: ({ id, messages, trigger, messageId }) => ({
      body: { id, messages, trigger, messageId, sessionId, chatId: id },
    }),
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      responses.push({ method: init?.method ?? "GET", url: String(input), status: response.status,
        contentType: response.headers.get("content-type") });
      return response;
    },
  });
  const finishes = [];
  const errors = [];
  const chat = new Chat({
    id: chatId, transport,
    onFinish: ({ message, isAbort, isDisconnect, isError }) =>
      finishes.push({ messageId: message.id, isAbort, isDisconnect, isError }),
    onError: (error) => errors.push(errorInfo(error)),
  });
  await chat.sendMessage({ text });
  const messages = chat.recorded.messages.map((m) => ({
    id: m.id, role: m.role, text: m.parts.filter((p) => p.type === "text").map((p) => p.text).join(""),
    parts: m.parts,
  }));
  const [post] = responses;
  steps.push({ n: steps.length + 1, name: "stream a turn", method: "POST", path: "/api/chat",
    status: post?.status ?? null, body: null });
  return { responses, messages, finishes, errors, status: chat.recorded.status,
    statusHistory: chat.recorded.statusHistory };
}

let result;
try {
  // Recoup's front end sends these; Recoup strips every key it does not know (recoup-surface.md §4).
  const created = await step("create a session", "POST", "/api/sessions",
    { cloneUrl: "https://github.com/recoupable/example", isNewBranch: false, sandboxType: "vercel",
      autoCommitPush: false, autoCreatePr: false });
  const session = created.session;
  const sid = session.id;
  const first = created.chat.id;
  const chats = `/api/sessions/${q(sid)}/chats`;
  await step("list the chats", "GET", chats);
  await step("reconnect probe", "GET", `/api/sandbox/reconnect?sessionId=${q(sid)}`);
  await step("sandbox status on mount", "GET", `/api/sandbox/status?sessionId=${q(sid)}`);
  await step("create the sandbox", "POST", "/api/sandbox", { repoUrl: session.cloneUrl,
    branch: session.branch ?? "main", isNewBranch: false, sessionId: sid, sandboxType: "vercel" });
  for (let attempt = 1; attempt <= POLL_ATTEMPTS; attempt++) {
    const status = await step("poll the sandbox status", "GET", `/api/sandbox/status?sessionId=${q(sid)}`);
    if (status?.status === "active") break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  const streamed = await turn(sid, first, "Draft a tweet for the single");
  await step("read the chat back", "GET", `${chats}/${q(first)}`);
  await step("list the chats (unread)", "GET", chats);
  await step("mark the chat read", "POST", `${chats}/${q(first)}/read`);
  await step("list the chats (read)", "GET", chats);
  await step("rename the chat", "PATCH", `${chats}/${q(first)}`, { title: "Tour dates" });
  const newId = crypto.randomUUID();
  await step("new chat", "POST", chats, { id: newId });
  await step("list the chats (two)", "GET", chats);
  await step("delete the new chat", "DELETE", `${chats}/${q(newId)}`);
  await step("delete the only chat", "DELETE", `${chats}/${q(first)}`);
  await step("list the chats (one)", "GET", chats);
  await step("archive the session", "PATCH", `/api/sessions/${q(sid)}`, { status: "archived" });
  await step("sandbox status once archived", "GET", `/api/sandbox/status?sessionId=${q(sid)}`);
  await step("unarchive the session", "PATCH", `/api/sessions/${q(sid)}`, { status: "running" });
  await step("read the session", "GET", `/api/sessions/${q(sid)}`);
  result = { alias, version, ids: { session: sid, chat: first, newChat: newId }, steps, turn: streamed };
} catch (error) {
  result = { alias, version, steps, crash: errorInfo(error), stack: String(error?.stack ?? "") };
}
process.stdout.write(`${JSON.stringify(result)}\n`);
