// The page: one chat with Recoup (recoup-mock), through useChat and the transport picked in the header.
//
// The chat (its ids and messages) is kept in localStorage, so a reload shows the conversation again; and
// useChat({ resume: true }) follows a response that is still streaming (Recoup replays the run from its first
// chunk, with the same message id, so the answer completes in place, once).

import { useChat } from "@ai-sdk/react";
import { useEffect, useMemo, useRef, useState } from "react";
import { createChat, defaultTransport, settings, stopRun, workflowTransport } from "./recoup.js";

const STORAGE_KEY = `recoup-react-chat:${settings.mock}:${settings.world ?? ""}`;
const SCENARIOS = ["", "slow", "reasoning", "tool-call", "rich-parts", "error-mid-stream", "disconnect", "http-429",
  "http-500"];

// What happened, for the log line under the composer (and for tests: window.recoupChat.events).
const events = [];
function note(event, details = {}) {
  events.push({ event, at: Math.round(performance.now()), ...details });
  window.dispatchEvent(new Event("recoup-chat-event"));
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "null");
  } catch {
    return null;
  }
}

export default function App() {
  const [saved, setSaved] = useState(load);
  const [setupError, setSetupError] = useState(null);
  useEffect(() => {
    if (saved) return;
    createChat().then((chat) => {
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ ...chat, messages: [] }));
      setSaved({ ...chat, messages: [] });
    }, (error) => setSetupError(String(error)));
  }, [saved]);
  if (setupError) return <main><p id="error-banner" role="alert">{setupError}</p></main>;
  if (!saved) return <main><p className="muted">Setting up a chat…</p></main>;
  return <Chat saved={saved} />;
}

function Chat({ saved }) {
  const { chatId, sessionId } = saved;
  const [scenario, setScenario] = useState("");
  const scenarioRef = useRef(scenario);
  scenarioRef.current = scenario;
  const [text, setText] = useState("");
  const [runs, setRuns] = useState([]);
  const [stopping, setStopping] = useState(false);
  const [lastStop, setLastStop] = useState(null);
  const [resumed, setResumed] = useState(null);

  const transport = useMemo(() => {
    const options = {
      sessionId,
      getScenario: () => scenarioRef.current,
      onResume: (outcome) => {
        note("resume", { outcome });
        setResumed(outcome);
      },
      onRunStarted: (runId) => {
        note("run", { runId });
        setRuns((known) => [...known, runId]);
      },
      onRunEnded: (chunkIndex) => note("run-end", { chunkIndex }),
    };
    return settings.transport === "default" ? defaultTransport(options) : workflowTransport(options);
  }, [sessionId]);

  const { messages, sendMessage, status, error, stop, clearError } = useChat({
    id: chatId,
    messages: saved.messages,
    transport,
    resume: true,
    experimental_throttle: 50,
    onError: (err) => note("error", { message: err.message }),
    onFinish: ({ message, isAbort, isDisconnect, isError }) =>
      note("finish", { messageId: message.id, isAbort, isDisconnect, isError }),
  });

  useEffect(() => {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ chatId, sessionId, messages }));
  }, [chatId, sessionId, messages]);
  useEffect(() => {
    window.recoupChat = { chatId, sessionId, transport: settings.transport, events, runs };
  }, [chatId, sessionId, runs]);

  const busy = status === "submitted" || status === "streaming";

  const onSubmit = (event) => {
    event.preventDefault();
    const value = text.trim();
    if (!value || busy) return;
    setText("");
    note("send", { text: value, scenario: scenario || "default" });
    sendMessage({ text: value });
  };

  // Stop: end the local read (the transport does not reconnect after an abort), then cancel the run on the
  // server, which useChat's stop() alone does not do.
  const onStop = async () => {
    setStopping(true);
    try {
      await stop();
      const result = await stopRun(chatId);
      note("stop", result);
      setLastStop(result);
    } catch (err) {
      note("stop-failed", { message: String(err) });
      setLastStop({ success: false, error: String(err) });
    } finally {
      setStopping(false);
    }
  };

  const switchTransport = (name) => {
    const next = new URL(location.href);
    next.searchParams.set("transport", name);
    location.assign(next);
  };

  const newChat = () => {
    localStorage.removeItem(STORAGE_KEY);
    location.reload();
  };

  return (
    <main data-chat-id={chatId} data-resumed={resumed ?? ""}>
      <header>
        <h1>Recoup chat</h1>
        <label className="transport">
          transport{" "}
          <select name="transport" value={settings.transport} onChange={(e) => switchTransport(e.target.value)}>
            <option value="workflow">WorkflowChatTransport</option>
            <option value="default">DefaultChatTransport</option>
          </select>
        </label>
        <span id="status" data-status={status}>{status}</span>
      </header>

      <ol id="messages">
        {messages.map((message) => <Message key={message.id} message={message} />)}
      </ol>

      {error && (
        <div id="error-banner" role="alert">
          <strong>Something went wrong.</strong>
          <p className="error-message">{error.message}</p>
          <button type="button" onClick={clearError}>Dismiss</button>
        </div>
      )}

      <form id="composer" onSubmit={onSubmit}>
        <input name="text" autoComplete="off" placeholder="Ask Recoup something" value={text}
          onChange={(e) => setText(e.target.value)} />
        <select name="scenario" title="Sent as Prefer: scenario=NAME" value={scenario}
          onChange={(e) => setScenario(e.target.value)}>
          {SCENARIOS.map((name) => <option key={name} value={name}>{name || "default"}</option>)}
        </select>
        <button type="submit" id="send" disabled={busy}>Send</button>
        <button type="button" id="stop" disabled={!busy || stopping} onClick={onStop}>Stop</button>
        <button type="button" id="new-chat" onClick={newChat}>New chat</button>
      </form>

      <footer>
        <span>mock <code>{settings.mock}</code></span>
        {settings.world && <span>world <code>{settings.world}</code></span>}
        <span>chat <code id="chat-id">{chatId}</code></span>
        {runs.length > 0 && <span>run <code id="run-id">{runs.at(-1)}</code></span>}
        {lastStop && <span id="stop-result" data-stopped={String(lastStop.stopped)}>
          stop: {lastStop.stopped ? "run cancelled" : "nothing was running"}</span>}
      </footer>
    </main>
  );
}

function Message({ message }) {
  return (
    <li className="message" data-role={message.role} data-id={message.id}>
      <div className="role">{message.role === "user" ? "you" : "recoup"}</div>
      {message.parts.map((part, index) => <Part key={index} part={part} />)}
    </li>
  );
}

function Part({ part }) {
  if (part.type === "text") return <p className="part-text">{part.text}</p>;
  if (part.type === "reasoning") return <p className="part-reasoning">{part.text}</p>;
  if (part.type.startsWith("tool-") || part.type === "dynamic-tool") {
    return (
      <div className="part-tool" data-state={part.state}>
        <code>{part.type === "dynamic-tool" ? part.toolName : part.type.slice(5)}</code> <em>{part.state}</em>
        {part.output !== undefined && <pre>{JSON.stringify(part.output)}</pre>}
      </div>
    );
  }
  if (part.type.startsWith("data-")) {
    return <div className="part-data"><code>{part.type}</code> {JSON.stringify(part.data)}</div>;
  }
  if (part.type === "source-url") {
    return <div className="part-source"><a href={part.url} target="_blank" rel="noreferrer">{part.title ?? part.url}</a></div>;
  }
  if (part.type === "source-document") return <div className="part-source">document: {part.title}</div>;
  if (part.type === "file") return <div className="part-source">file: <a href={part.url}>{part.mediaType}</a></div>;
  return null;
}
