// Talking to Recoup (here: recoup-mock) from the browser: the page's settings, the calls of the session
// surface a front end makes (sessions, session chats, read marks, the sandbox), stop, and the two chat
// transports.
//
// Query parameters: ?mock=http://127.0.0.1:4010 (the API's base URL), ?key=recoup_sk_test_alice,
// ?transport=workflow|default, ?world=NAME (sent as x-mock-world: the mock's isolated worlds; optional),
// ?session=ID&chat=ID (the session and chat to open; without them the page creates a session),
// ?raw204=1 (WorkflowChatTransport without the 204 fix below, to see what it does then: don't).

import { WorkflowChatTransport } from "@workflow/ai";
import { DefaultChatTransport } from "ai";

const params = new URLSearchParams(location.search);

export const settings = {
  mock: (params.get("mock") ?? "http://127.0.0.1:4010").replace(/\/$/, ""),
  apiKey: params.get("key") ?? "recoup_sk_test_alice",
  transport: params.get("transport") === "default" ? "default" : "workflow",
  world: params.get("world"),
  raw204: params.get("raw204") === "1",
};

/** The credentials every request carries (and the mock's world, when one is picked). */
export const auth = {
  "x-api-key": settings.apiKey,
  ...(settings.world ? { "x-mock-world": settings.world } : {}),
};

/** A non-2xx answer: its status, and the body's `error` or `message` when it has one. */
export class ApiError extends Error {
  constructor(method, path, status, text) {
    let detail = text;
    try {
      const body = JSON.parse(text);
      detail = body.error ?? body.message ?? text;
    } catch {
      // not JSON: the text as it came
    }
    super(`${method} ${path}: ${status} ${detail}`);
    this.status = status;
  }
}

async function call(method, path, body) {
  const response = await fetch(settings.mock + path, {
    method,
    cache: "no-store",
    headers: { ...auth, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new ApiError(method, path, response.status, text);
  return text ? JSON.parse(text) : null;
}

const q = encodeURIComponent;

/** The session surface, one function per call (recoup-surface.md §8 says when a front end makes each). */
export const api = {
  /** {session, chat}: a session and its first chat. */
  createSession: (title) => call("POST", "/api/sessions", title ? { title } : {}),
  /** {session} */
  getSession: (sessionId) => call("GET", `/api/sessions/${q(sessionId)}`),
  /** {chats: [chat + hasUnread, isStreaming], defaultModelId}, oldest first. */
  listChats: (sessionId) => call("GET", `/api/sessions/${q(sessionId)}/chats`),
  /** {chat}: the id is the client's (crypto.randomUUID()), so the page can show the chat at once. */
  createChat: (sessionId, id) => call("POST", `/api/sessions/${q(sessionId)}/chats`, { id }),
  /** {chat, isStreaming, messages}: the stored UI messages, oldest first. */
  getChat: (sessionId, chatId) => call("GET", `/api/sessions/${q(sessionId)}/chats/${q(chatId)}`),
  /** {chat} */
  renameChat: (sessionId, chatId, title) =>
    call("PATCH", `/api/sessions/${q(sessionId)}/chats/${q(chatId)}`, { title }),
  /** {success: true}; the only chat of a session cannot be deleted (400). */
  deleteChat: (sessionId, chatId) => call("DELETE", `/api/sessions/${q(sessionId)}/chats/${q(chatId)}`),
  /** {success: true}: hasUnread is false until the assistant writes again. */
  markRead: (sessionId, chatId) => call("POST", `/api/sessions/${q(sessionId)}/chats/${q(chatId)}/read`),
  /** {status: connected|no_sandbox|expired, hasSnapshot, expiresAt?, lifecycle} */
  reconnectSandbox: (sessionId) => call("GET", `/api/sandbox/reconnect?sessionId=${q(sessionId)}`),
  /** {createdAt, timeout, currentBranch, mode}, once the sandbox is up (Recoup answers when it is). */
  createSandbox: (session) => call("POST", "/api/sandbox", {
    repoUrl: session.cloneUrl, branch: session.branch ?? "main", isNewBranch: false, sessionId: session.id,
    sandboxType: "vercel",
  }),
  /** {status: active|no_sandbox, hasSnapshot, lifecycleVersion, lifecycle} */
  sandboxStatus: (sessionId) => call("GET", `/api/sandbox/status?sessionId=${q(sessionId)}`),
};

/** Cancel the chat's run on the server: {success, stopped}. useChat's stop() only aborts the local read. */
export function stopRun(chatId) {
  return call("POST", `/api/chat/${encodeURIComponent(chatId)}/stop`);
}

const prefer = (scenario) => (scenario ? { prefer: `scenario=${scenario}` } : {});

/**
 * fetch, with a 204 handed on without a body. A browser gives a 204 response a body (non-null, empty:
 * Chromium does), and WorkflowChatTransport only stops on `!response.ok || !response.body`; so on Recoup's
 * 204 it would read the empty stream, find no `finish`, and reconnect at once, again and again, with no delay
 * (recoupable/app#2052). Node's fetch gives a 204 no body, so there the transport throws instead. With this,
 * it throws in the browser too: `Failed to fetch chat: 204 `.
 */
async function noContentAwareFetch(input, init) {
  const response = await fetch(input, init);
  if (response.status !== 204) return response;
  return new Response(null, { status: 204, statusText: response.statusText, headers: response.headers });
}

/** Recoup's "nothing to resume" (204), as WorkflowChatTransport reports it: `Failed to fetch chat: 204 `. */
const isNothingToResume = (error) => error instanceof Error && error.message.includes("Failed to fetch chat: 204");

/**
 * The stream, or null when the first read finds Recoup's 204. WorkflowChatTransport has no notion of
 * "nothing to resume": it throws on a 204 (given `noContentAwareFetch`) while the stream is read, so
 * `useChat({ resume: true })` on a chat with nothing running would end in an error. The first read is done
 * here instead, and a 204 becomes null, which useChat takes as nothing to resume (DefaultChatTransport's
 * answer to a 204). Wrapping `reconnectToStream` in a try/catch is not enough: it returns before any fetch.
 */
async function nullWhenNothingToResume(stream) {
  const reader = stream.getReader();
  let first;
  try {
    first = await reader.read();
  } catch (error) {
    if (isNothingToResume(error)) return null;
    throw error;
  }
  return new ReadableStream({
    start(controller) {
      if (first.done) controller.close();
      else controller.enqueue(first.value);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * WorkflowChatTransport, set up as Recoup's front end sets it up (recoupable/app
 * lib/chat/createWorkflowChatTransport.ts). If the POST stream ends without a `finish` chunk (a dropped
 * connection, a function timeout), it reconnects by itself: GET {api}/chat/{chatId}/stream?startIndex=N, N
 * being the chunks it already has, until `finish` comes.
 */
export function workflowTransport({ sessionId, getScenario, onResume, onRunStarted, onRunEnded }) {
  class RecoupChatTransport extends WorkflowChatTransport {
    async reconnectToStream(options) {
      const stream = await nullWhenNothingToResume(await super.reconnectToStream(options));
      onResume(stream === null ? "nothing" : "stream");
      return stream;
    }
  }
  return new RecoupChatTransport({
    api: `${settings.mock}/api/chat`,
    fetch: settings.raw204 ? undefined : noContentAwareFetch,
    // The transport adds no headers of its own, not even content-type: give them all here. Recoup wants
    // chatId and sessionId in the body; the transport's own body is only {messages}.
    prepareSendMessagesRequest: ({ id, messages, body }) => ({
      headers: { "content-type": "application/json", ...auth, ...prefer(getScenario()) },
      body: { ...body, messages, chatId: id, sessionId },
    }),
    // Its default reconnect URL is `${api}/${runId}/stream`; Recoup's is keyed by the chat. The transport
    // appends `?startIndex=N` itself, and passes no headers here: give the credentials again.
    prepareReconnectToStreamRequest: ({ id }) => ({
      api: `${settings.mock}/api/chat/${encodeURIComponent(id)}/stream`,
      headers: auth,
    }),
    onChatSendMessage: (response) => onRunStarted(response.headers.get("x-workflow-run-id")),
    onChatEnd: ({ chunkIndex }) => onRunEnded(chunkIndex),
  });
}

/** DefaultChatTransport, as the mock's README sets it up: one POST, and GET .../stream on resume (204: none). */
export function defaultTransport({ sessionId, getScenario, onResume }) {
  class ObservedTransport extends DefaultChatTransport {
    async reconnectToStream(options) {
      const stream = await super.reconnectToStream(options);
      onResume(stream === null ? "nothing" : "stream");
      return stream;
    }
  }
  return new ObservedTransport({
    api: `${settings.mock}/api/chat`,
    headers: () => ({ ...auth, ...prefer(getScenario()) }),
    prepareSendMessagesRequest: ({ id, messages, body, headers, trigger, messageId }) => ({
      headers,
      body: { ...body, id, chatId: id, sessionId, messages, trigger, messageId },
    }),
    prepareReconnectToStreamRequest: ({ id }) => ({
      api: `${settings.mock}/api/chat/${encodeURIComponent(id)}/stream`,
      headers: auth,
    }),
  });
}
