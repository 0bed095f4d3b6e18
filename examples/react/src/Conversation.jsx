// One chat with Recoup (recoup-mock), through useChat and the transport picked in the header.
//
// It starts from the messages the server stored (read back by the page on entry), and
// useChat({ resume: true }) follows a response that is still streaming (Recoup replays the run from its
// first chunk, with the same message id, so the answer completes in place, once). Sending waits for the
// sandbox: Recoup refuses a turn (400) until the session's sandbox is active.

import { useChat } from "@ai-sdk/react";
import { useEffect, useMemo, useRef, useState } from "react";
import { note, events } from "./events.js";
import { defaultTransport, settings, stopRun, workflowTransport } from "./recoup.js";

const SCENARIOS = ["", "slow", "reasoning", "tool-call", "rich-parts", "error-mid-stream", "disconnect", "http-429",
  "http-500"];

export default function Conversation({ chatId, sessionId, initialMessages, sandboxReady, onBusy, onTurnEnd }) {
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
        note("resume", { chatId, outcome });
        setResumed(outcome);
      },
      onRunStarted: (runId) => {
        note("run", { runId });
        setRuns((known) => [...known, runId]);
      },
      onRunEnded: (chunkIndex) => note("run-end", { chunkIndex }),
    };
    return settings.transport === "default" ? defaultTransport(options) : workflowTransport(options);
  }, [chatId, sessionId]);

  const { messages, sendMessage, status, error, stop, clearError } = useChat({
    id: chatId,
    messages: initialMessages,
    transport,
    resume: true,
    experimental_throttle: 50,
    onError: (err) => note("error", { message: err.message }),
    onFinish: ({ message, isAbort, isDisconnect, isError }) =>
      note("finish", { chatId, messageId: message.id, isAbort, isDisconnect, isError }),
  });

  useEffect(() => {
    window.recoupChat = { chatId, sessionId, transport: settings.transport, events, runs };
  }, [chatId, sessionId, runs]);

  const busy = status === "submitted" || status === "streaming";
  // The chat list shows the open chat as streaming at once, and the page marks it read and reads the
  // sandbox's status again when a turn ends (submitted/streaming -> ready).
  const callbacks = useRef({ onBusy, onTurnEnd });
  callbacks.current = { onBusy, onTurnEnd };
  const wasBusy = useRef(false);
  useEffect(() => {
    callbacks.current.onBusy(busy);
    if (wasBusy.current && status === "ready") callbacks.current.onTurnEnd();
    wasBusy.current = busy;
  }, [busy, status]);
  // Leaving the chat ends the local read only; the run goes on on the server (Recoup's front end does the
  // same), and the chat list shows it streaming, then unread.
  const stopRef = useRef(stop);
  stopRef.current = stop;
  useEffect(() => () => {
    stopRef.current();
    callbacks.current.onBusy(false);
  }, []);

  const onSubmit = (event) => {
    event.preventDefault();
    const value = text.trim();
    if (!value || busy || !sandboxReady) return;
    setText("");
    note("send", { chatId, text: value, scenario: scenario || "default" });
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
        <button type="submit" id="send" disabled={busy || !sandboxReady}
          title={sandboxReady ? undefined : "waiting for the sandbox"}>Send</button>
        <button type="button" id="stop" disabled={!busy || stopping} onClick={onStop}>Stop</button>
      </form>

      <footer>
        <span>mock <code>{settings.mock}</code></span>
        {settings.world && <span>world <code>{settings.world}</code></span>}
        <span>session <code id="session-id">{sessionId}</code></span>
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
