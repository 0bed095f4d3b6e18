// The page: a Recoup session (recoup-mock) with its chats, as Recoup's own front end runs one.
//
// Without ?session= it creates a session (POST /api/sessions: the session and its first chat) and puts
// both ids in the URL, so a reload opens the same chat. The session's sandbox is prepared on entry (the
// reconnect probe, POST /api/sandbox when there is none, the status read until it is active); the chat list
// beside the conversation shows which chats are unread or streaming; a chat's messages are read back from
// the server when it is opened.

import { useCallback, useEffect, useState } from "react";
import ChatList from "./ChatList.jsx";
import Conversation from "./Conversation.jsx";
import { note } from "./events.js";
import { api } from "./recoup.js";
import { useChatList, useSandbox } from "./session.js";

function readLocation() {
  const params = new URLSearchParams(location.search);
  return { sessionId: params.get("session"), chatId: params.get("chat") };
}

/** Put the session and chat in the URL (the other parameters stay); `replace` for a redirect. */
function navigate({ sessionId, chatId }, { replace = false } = {}) {
  const url = new URL(location.href);
  url.searchParams.set("session", sessionId);
  if (chatId) url.searchParams.set("chat", chatId);
  else url.searchParams.delete("chat");
  history[replace ? "replaceState" : "pushState"](null, "", url);
  window.dispatchEvent(new Event("recoup-navigate"));
}

export default function App() {
  const [where, setWhere] = useState(readLocation);
  const [session, setSession] = useState(null);
  const [setupError, setSetupError] = useState(null);

  useEffect(() => {
    const onChange = () => setWhere(readLocation());
    window.addEventListener("popstate", onChange);
    window.addEventListener("recoup-navigate", onChange);
    return () => {
      window.removeEventListener("popstate", onChange);
      window.removeEventListener("recoup-navigate", onChange);
    };
  }, []);

  useEffect(() => {
    if (session?.id === where.sessionId) return;
    if (!where.sessionId) {
      api.createSession().then(({ session: created, chat }) => {
        note("session-created", { sessionId: created.id, chatId: chat.id });
        setSession(created);
        navigate({ sessionId: created.id, chatId: chat.id }, { replace: true });
      }, (error) => setSetupError(error.message));
    } else {
      api.getSession(where.sessionId).then(({ session: found }) => setSession(found),
        (error) => setSetupError(error.message));
    }
  }, [where.sessionId, session]);

  if (setupError) return <main><p id="error-banner" role="alert">{setupError}</p></main>;
  if (!session || session.id !== where.sessionId) return <main><p className="muted">Setting up a session…</p></main>;
  return <Workspace key={session.id} session={session} chatId={where.chatId} />;
}

function Workspace({ session, chatId }) {
  const sandbox = useSandbox(session);
  const [busy, setBusy] = useState(false);
  const list = useChatList(session.id, busy);
  const [actionError, setActionError] = useState(null);
  const chats = list.chats;

  const open = useCallback((id, options) => navigate({ sessionId: session.id, chatId: id }, options), [session.id]);

  // No chat in the URL (or one that is gone): the most recently updated one.
  useEffect(() => {
    if (!chats?.length || (chatId && chats.some((chat) => chat.id === chatId))) return;
    if (chatId && chats.some((chat) => chat.pending)) return;
    const latest = chats.reduce((a, b) => (b.updatedAt > a.updatedAt ? b : a));
    open(latest.id, { replace: true });
  }, [chatId, chats, open]);

  const { markRead, refresh } = list;
  const { sync } = sandbox;
  const onEnter = useCallback(() => markRead(chatId), [markRead, chatId]);
  const onTurnEnd = useCallback(() => {
    sync({ force: true });
    markRead(chatId);
    refresh();
  }, [sync, markRead, refresh, chatId]);

  const act = (action) => action().catch((error) => setActionError(error.message));
  const onNew = () => act(async () => open(await list.create()));
  const onRename = (id, title) => act(() => list.rename(id, title));
  // Deleting the open chat opens the first one left.
  const onDelete = (id) => act(async () => {
    await list.remove(id);
    if (id === chatId) open(chats.find((chat) => chat.id !== id).id, { replace: true });
  });

  return (
    <div id="app" data-session-id={session.id}>
      <aside>
        <div className="session-head">
          <strong id="session-title">{session.title}</strong>
          <span id="sandbox" data-phase={sandbox.phase} title={sandbox.error ?? undefined}>{sandbox.label}</span>
          {sandbox.phase === "hibernated" && (
            <button type="button" id="sandbox-action" onClick={sandbox.create}>Resume</button>
          )}
          {["none", "expired", "failed"].includes(sandbox.phase) && (
            <button type="button" id="sandbox-action" onClick={sandbox.create}>Start a sandbox</button>
          )}
        </div>
        {chats && <ChatList chats={chats} activeId={chatId} busyId={busy ? chatId : null} onOpen={(id) => open(id)}
          onNew={onNew} onRename={onRename} onDelete={onDelete} />}
        {(actionError || list.error) && (
          <p id="list-error" role="alert">{actionError ?? list.error}
            <button type="button" onClick={() => setActionError(null)}>Dismiss</button></p>
        )}
        <p className="muted new-session"><a href={newSessionUrl()}>New session</a></p>
      </aside>
      {chatId && (chats ?? []).some((chat) => chat.id === chatId && !chat.pending) && (
        <ChatView key={chatId} sessionId={session.id} chatId={chatId} sandboxReady={sandbox.ready}
          onEnter={onEnter} onBusy={setBusy} onTurnEnd={onTurnEnd} />
      )}
    </div>
  );
}

/** The chat's stored messages, read back on entry, then the conversation on them. */
function ChatView({ sessionId, chatId, sandboxReady, onEnter, onBusy, onTurnEnd }) {
  const [loaded, setLoaded] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    api.getChat(sessionId, chatId).then((answer) => {
      if (!live) return;
      note("read-back", { chatId, messages: answer.messages.length, isStreaming: answer.isStreaming });
      setLoaded(answer);
      onEnter();
    }, (err) => live && setError(err.message));
    return () => { live = false; };
    // Once per chat: the component is keyed by the chat's id.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  if (error) return <main><p id="error-banner" role="alert">{error}</p></main>;
  if (!loaded) return <main><p className="muted">Loading the chat…</p></main>;
  return <Conversation chatId={chatId} sessionId={sessionId} initialMessages={loaded.messages}
    sandboxReady={sandboxReady} onBusy={onBusy} onTurnEnd={onTurnEnd} />;
}

function newSessionUrl() {
  const url = new URL(location.href);
  url.searchParams.delete("session");
  url.searchParams.delete("chat");
  return url.href;
}
