// The session's state as the page keeps it: its sandbox (the waiting state before the first message) and
// its chat list (unread and streaming marks). The calls, their order and their timing follow Recoup's own
// front end (open-agents; /work/shared/reference/recoup-surface.md §8, steps 6-9, 13, 17 and 18).

import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "./recoup.js";
import { note } from "./events.js";

/** What the sandbox label says, per phase. */
export const SANDBOX_LABELS = {
  checking: "checking the sandbox",
  waiting: "waiting for the sandbox",
  ready: "sandbox ready",
  none: "no sandbox",
  hibernated: "hibernated",
  expired: "expired",
  archived: "archived",
  failed: "sandbox failed",
};

/** After POST /api/sandbox: how often, and how many times, the status is read until it says `active`. */
const POLL_MS = 500;
const POLL_ATTEMPTS = 20;
/** The status is read every 15 s while the tab is visible, at most once every 5 s (forced reads aside). */
const STATUS_EVERY_MS = 15_000;
const STATUS_THROTTLE_MS = 5_000;

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A status answer as the page shows it. `hibernated` is a sandbox stopped with a snapshot to resume from;
 * `expired` one that is gone (its lifecycle says hibernated without a snapshot, or still active past its
 * expiry). The deployed server reports a hibernated sandbox as `status: "active"`, hence the lifecycle first.
 */
export function sandboxPhase(answer) {
  const state = answer.lifecycle?.state ?? null;
  if (state === "archived") return "archived";
  if (state === "hibernated" || state === "hibernating") return answer.hasSnapshot ? "hibernated" : "expired";
  if (answer.status === "active") return "ready";
  if (state === "active") return "expired";
  return "none";
}

/**
 * The sandbox of `session`: on entry the reconnect probe, then (no sandbox and no snapshot) POST
 * /api/sandbox once, then the status read until `active`; afterwards a status read every 15 s while the tab
 * is visible, and at once on focus, on the tab coming back, and when `sync({force: true})` is called (the
 * page does at the end of each turn). Returns {phase, label, ready, error, create, sync}.
 */
export function useSandbox(session) {
  const sessionId = session.id;
  const [sandbox, setSandbox] = useState({ phase: "checking", error: null });
  const creating = useRef(false);
  const lastRead = useRef(0);
  const lastPhase = useRef(null);
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const show = useCallback((phase, error = null) => {
    if (lastPhase.current !== phase) note("sandbox", { phase });
    lastPhase.current = phase;
    setSandbox({ phase, error });
  }, []);

  const sync = useCallback(async ({ force = false } = {}) => {
    // While a create is under way its own polling decides what the label says.
    if (creating.current || (!force && Date.now() - lastRead.current < STATUS_THROTTLE_MS)) return;
    lastRead.current = Date.now();
    try {
      const answer = await api.sandboxStatus(sessionId);
      note("status", { status: answer.status, phase: sandboxPhase(answer) });
      if (!creating.current) show(sandboxPhase(answer));
    } catch (error) {
      if (!creating.current) show("failed", error.message);
    }
  }, [sessionId, show]);

  const create = useCallback(async () => {
    if (creating.current) return;
    creating.current = true;
    show("waiting");
    try {
      await api.createSandbox(sessionRef.current);
      for (let attempt = 1; ; attempt++) {
        const answer = await api.sandboxStatus(sessionId);
        if (answer.status === "active" || attempt === POLL_ATTEMPTS) {
          creating.current = false;
          show(sandboxPhase(answer));
          return;
        }
        await wait(POLL_MS);
      }
    } catch (error) {
      creating.current = false;
      show("failed", error.message);
    }
  }, [sessionId, show]);

  // On entry: the reconnect probe, then create (once per page load) or read the status.
  useEffect(() => {
    if (sessionRef.current.status === "archived") {
      show("archived");
      return undefined;
    }
    let live = true;
    (async () => {
      let probe;
      try {
        probe = await api.reconnectSandbox(sessionId);
      } catch (error) {
        probe = { status: "failed", hasSnapshot: false, message: error.message };
      }
      note("reconnect", { status: probe.status });
      if (!live) return;
      if (probe.status === "connected" || probe.hasSnapshot) await sync({ force: true });
      else await create();
    })();
    return () => { live = false; };
  }, [sessionId, sync, create, show]);

  useEffect(() => {
    const forced = () => sync({ force: true });
    const onVisibility = () => { if (document.visibilityState === "visible") forced(); };
    const timer = setInterval(() => { if (document.visibilityState === "visible") sync(); }, STATUS_EVERY_MS);
    window.addEventListener("focus", forced);
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      clearInterval(timer);
      window.removeEventListener("focus", forced);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [sync]);

  return { ...sandbox, label: SANDBOX_LABELS[sandbox.phase], ready: sandbox.phase === "ready", create, sync };
}

/**
 * The chats of session `sessionId`, oldest first, with `hasUnread` and `isStreaming`: read on entry and on
 * focus, then every second while a chat streams (`localStreaming`: the open chat's own turn), every 8 s
 * when idle and focused, every 15 s otherwise, never while the tab is hidden. The actions change the list
 * at once; an answer to a read that overlapped one of them is dropped (it may predate the change).
 */
export function useChatList(sessionId, localStreaming) {
  const [chats, setChats] = useState(null);
  const [error, setError] = useState(null);
  const changes = useRef(0);

  const refresh = useCallback(async () => {
    const seen = changes.current;
    try {
      const answer = await api.listChats(sessionId);
      if (changes.current === seen) setChats(answer.chats);
    } catch (err) {
      setError(err.message);
    }
  }, [sessionId]);

  // A change to the list: shown at once, then read again once the server has it.
  const change = useCallback(async (update, request) => {
    changes.current++;
    if (update) setChats((known) => known && update(known));
    try {
      return await request();
    } finally {
      changes.current++;
      refresh();
    }
  }, [refresh]);

  const streaming = localStreaming || (chats ?? []).some((chat) => chat.isStreaming);
  useEffect(() => {
    refresh();
    let timer;
    const period = () => (streaming ? 1000 : document.hasFocus() ? 8000 : 15000);
    const next = () => {
      timer = setTimeout(async () => {
        if (document.visibilityState === "visible") await refresh();
        next();
      }, period());
    };
    next();
    window.addEventListener("focus", refresh);
    return () => {
      clearTimeout(timer);
      window.removeEventListener("focus", refresh);
    };
  }, [refresh, streaming]);

  const markRead = useCallback((chatId) => change(
    (known) => known.map((chat) => (chat.id === chatId ? { ...chat, hasUnread: false } : chat)),
    () => api.markRead(sessionId, chatId),
  ).then(() => note("read", { chatId }), (err) => note("read-failed", { chatId, message: err.message })), [change, sessionId]);

  /** A new chat with the client's id: listed at once, removed again if the server refuses it. */
  const create = useCallback(async () => {
    const id = crypto.randomUUID();
    const local = { id, title: "New chat", hasUnread: false, isStreaming: false, pending: true };
    try {
      await change((known) => [...known, local], () => api.createChat(sessionId, id));
    } catch (err) {
      setChats((known) => known && known.filter((chat) => chat.id !== id));
      throw err;
    }
    note("chat-created", { chatId: id });
    return id;
  }, [change, sessionId]);

  const rename = useCallback(async (chatId, title) => {
    const { chat } = await change(null, () => api.renameChat(sessionId, chatId, title));
    setChats((known) => known && known.map((c) => (c.id === chatId ? { ...c, ...chat } : c)));
    note("renamed", { chatId, title: chat.title });
  }, [change, sessionId]);

  const remove = useCallback(async (chatId) => {
    await change(null, () => api.deleteChat(sessionId, chatId));
    setChats((known) => known && known.filter((chat) => chat.id !== chatId));
    note("deleted", { chatId });
  }, [change, sessionId]);

  return { chats, error, refresh, markRead, create, rename, remove };
}
