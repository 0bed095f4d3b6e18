// A minimal chat page on the AI SDK's DefaultChatTransport, talking to recoup-mock from another origin.
//
// AbstractChat is the engine under `useChat`; this page gives it a small DOM-rendering state instead of
// React's. The chat (ids and messages) is kept in localStorage, and on load the page calls
// `chat.resumeStream()`, as `useChat({ resume: true })` does: after a reload mid-answer the mock replays the
// run from its first chunk (same message id), so the answer completes in place, once.
//
// Query parameters: ?mock=http://127.0.0.1:4010 (the mock's base URL) and ?key=recoup_sk_test_alice.

import { AbstractChat, DefaultChatTransport } from "ai";

const params = new URLSearchParams(location.search);
const MOCK = (params.get("mock") ?? "http://127.0.0.1:4010").replace(/\/$/, "");
const API_KEY = params.get("key") ?? "recoup_sk_test_alice";
const STORAGE_KEY = `recoup-mock-chat:${MOCK}`;

const $ = (selector) => document.querySelector(selector);
const form = $("#composer");
const events = [];

function log(event, details = {}) {
  events.push({ event, at: Math.round(performance.now()), ...details });
  $("#log").textContent = events.slice(-6).map((e) => `${e.event} ${JSON.stringify({ ...e, event: undefined, at: undefined })}`).join("\n");
}

async function mockFetch(path, body) {
  const response = await fetch(MOCK + path, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A new session with a sandbox, and its chat: what a front end does before the first message. */
async function createChat() {
  const { session, chat } = await mockFetch("/api/sessions", { title: "Browser chat" });
  await mockFetch("/api/sandbox", { repoUrl: "https://github.com/recoupable/example", sessionId: session.id });
  return { chatId: chat.id, sessionId: session.id, messages: [] };
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    return null;
  }
}

function save(saved, messages) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ ...saved, messages }));
}

// ------------------------------------------------------------------ rendering

function renderPart(part) {
  const el = document.createElement(part.type === "text" ? "p" : "div");
  if (part.type === "text") {
    el.className = "part-text";
    el.textContent = part.text;
  } else if (part.type === "reasoning") {
    el.className = "part-reasoning";
    el.textContent = part.text;
  } else if (part.type.startsWith("tool-") || part.type === "dynamic-tool") {
    el.className = "part-tool";
    el.dataset.state = part.state;
    el.textContent = `${part.type.replace(/^tool-/, "")} (${part.state}) ${part.output ? JSON.stringify(part.output) : ""}`;
  } else if (part.type.startsWith("data-")) {
    el.className = "part-data";
    el.textContent = `${part.type}: ${JSON.stringify(part.data)}`;
  } else if (part.type === "source-url" || part.type === "file") {
    el.className = "part-source";
    el.textContent = `${part.type}: ${part.title ?? part.url}`;
  } else if (part.type === "source-document") {
    el.className = "part-source";
    el.textContent = `document: ${part.title}`;
  } else {
    return null;
  }
  return el;
}

function render(chat) {
  const status = $("#status");
  status.dataset.status = chat.status;
  status.textContent = chat.status;
  const list = $("#messages");
  list.replaceChildren(...chat.messages.map((message) => {
    const li = document.createElement("li");
    li.className = "message";
    li.dataset.role = message.role;
    li.dataset.id = message.id;
    const role = document.createElement("div");
    role.className = "role";
    role.textContent = message.role;
    li.append(role, ...message.parts.map(renderPart).filter(Boolean));
    return li;
  }));
  const error = $("#error");
  error.hidden = chat.error == null;
  error.textContent = chat.error ? `${chat.error.name}: ${chat.error.message}` : "";
  $("#send").disabled = chat.status === "submitted" || chat.status === "streaming";
}

// ------------------------------------------------------------------ the chat

/** The ChatState AbstractChat needs: plain fields, re-rendered and saved on every change. */
class PageChatState {
  constructor(messages, changed) {
    this._messages = messages;
    this._status = "ready";
    this._error = undefined;
    this.changed = changed;
    this.snapshot = (thing) => structuredClone(thing);
  }
  get status() { return this._status; }
  set status(value) { this._status = value; this.changed(); }
  get error() { return this._error; }
  set error(value) { this._error = value; this.changed(); }
  get messages() { return this._messages; }
  set messages(value) { this._messages = value; this.changed(); }
  pushMessage(message) { this.messages = this._messages.concat(message); }
  popMessage() { this.messages = this._messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this._messages.slice(0, index), this.snapshot(message), ...this._messages.slice(index + 1)];
  }
}

class PageChat extends AbstractChat {
  constructor({ messages, changed, ...init }) {
    super({ ...init, state: new PageChatState(messages, changed) });
  }
}

function transportFor(saved) {
  return new DefaultChatTransport({
    api: `${MOCK}/api/chat`,
    // Per request: the API key, and the scenario picked in the form (the mock reads `Prefer`).
    headers: () => {
      const scenario = form.elements.scenario.value;
      return { "x-api-key": API_KEY, ...(scenario ? { prefer: `scenario=${scenario}` } : {}) };
    },
    // The mock (like Recoup) wants chatId and sessionId in the body.
    prepareSendMessagesRequest: ({ id, messages, body, headers, trigger, messageId }) => ({
      headers,
      body: { ...body, id, chatId: id, sessionId: saved.sessionId, messages, trigger, messageId },
    }),
    // Resume: GET {MOCK}/api/chat/{chatId}/stream (the default URL too; spelled out here), key only.
    prepareReconnectToStreamRequest: ({ id }) => ({
      api: `${MOCK}/api/chat/${encodeURIComponent(id)}/stream`,
      headers: { "x-api-key": API_KEY },
    }),
  });
}

async function main() {
  $("#mock-url").textContent = MOCK;
  let saved = load();
  if (!saved) {
    saved = await createChat();
    save(saved, []);
  }
  $("#chat-id").textContent = saved.chatId;
  $("#chat-id").dataset.chatId = saved.chatId;

  let chat;
  const changed = () => {
    if (!chat) return;
    save(saved, chat.messages);
    render(chat);
  };
  chat = new PageChat({
    id: saved.chatId,
    messages: saved.messages ?? [],
    changed,
    transport: transportFor(saved),
    onError: (error) => log("error", { name: error.name, message: error.message }),
    onFinish: ({ message, isAbort, isDisconnect, isError }) => {
      log("finish", { messageId: message.id, isAbort, isDisconnect, isError });
      // A dropped connection: the run goes on in the server, so pick it up again.
      if (isDisconnect) setTimeout(() => { log("resume", { reason: "disconnect" }); chat.resumeStream(); }, 0);
    },
  });
  window.recoupChat = { chat, events, chatId: saved.chatId };
  render(chat);

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = form.elements.text.value.trim();
    if (!text) return;
    form.elements.text.value = "";
    log("send", { text, scenario: form.elements.scenario.value || "default" });
    chat.sendMessage({ text });
  });
  $("#stop").addEventListener("click", () => chat.stop());
  $("#new-chat").addEventListener("click", () => {
    localStorage.removeItem(STORAGE_KEY);
    location.reload();
  });

  // Like useChat({ resume: true }): on load, follow a response that is still streaming (204: none).
  log("resume", { reason: "load" });
  await chat.resumeStream();
  document.body.dataset.loaded = "true";
}

main().catch((error) => {
  const status = $("#status");
  status.dataset.status = "error";
  status.textContent = "error";
  $("#error").hidden = false;
  $("#error").textContent = String(error);
  log("startup-error", { message: String(error) });
});
