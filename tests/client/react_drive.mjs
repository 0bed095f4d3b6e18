// Drives examples/react (its `vite build`, served from another port than the mock) in headless Chromium
// (Debian's package, through playwright-core). Driven by test_react_example.py:
//
//   node react_drive.mjs <config-json>
//
// config: {pageUrl, deployedPageUrl, rawPageUrl, mock, world, screenshot, executablePath}. pageUrl has no
// session: the page creates one, waits for its sandbox, and chats on WorkflowChatTransport (the page's
// default): a default answer (text seen growing), a slow answer stopped mid-stream, a slow answer with a
// page reload mid-stream (the chat is read back and useChat resumes), an http-429 (the error banner). Then
// the session's chats: a new chat, renamed; a turn in the first chat left mid-answer for the second, where
// the list shows the first streaming, then unread, and read once it is opened again; the open chat deleted
// (the list shrinks, the only chat left offers no delete). Then the page on DefaultChatTransport
// (?transport=default) for one answer; the world's clock moved on (POST /__mock/clock) until the sandbox
// is hibernated (resumed by the page's button), then expired while a turn streams (a new one started).
// deployedPageUrl (a world in the deployed profile) gets a dropped connection; last, rawPageUrl (?raw204=1)
// shows what the transport does with a 204 in a browser when nothing corrects it. Every wait is on the page
// (DOM text, status, events), none on a clock. Prints one JSON line with what the page showed;
// test_react_example.py asserts on it.

import process from "node:process";
import { openPage, recordAssistantText } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
const result = { consoleErrors: [], pageErrors: [], failedRequests: [], turns: {}, session: {} };
const browser = await openPage({ executablePath: config.executablePath, viewport: { width: 1100, height: 900 }, profile: "react-chromium", result });
try {
  result.browserVersion = browser.browserVersion;
  const page = browser.page;
  // Every text the sandbox label showed, from the page's first paint (the waiting state lasts as long as
  // POST /api/sandbox does).
  await page.addInitScript(() => {
    window.__sandboxLabels = [];
    new MutationObserver(() => {
      const label = document.querySelector("#sandbox")?.textContent ?? null;
      if (label !== null && window.__sandboxLabels.at(-1) !== label) window.__sandboxLabels.push(label);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });

  const installRecorder = () => recordAssistantText(page);
  const snapshot = () => page.evaluate(() => ({
    status: document.querySelector("#status")?.dataset.status ?? null,
    banner: document.querySelector("#error-banner .error-message")?.textContent ?? null,
    messages: [...document.querySelectorAll("#messages li")].map((li) => ({
      role: li.dataset.role,
      id: li.dataset.id,
      text: [...li.querySelectorAll(".part-text")].map((p) => p.textContent).join(""),
    })),
    lengths: window.__lengths,
    events: structuredClone(window.recoupChat?.events ?? []),
    runs: [...(window.recoupChat?.runs ?? [])],
    chatId: document.querySelector("main")?.dataset.chatId ?? null,
    transport: window.recoupChat?.transport ?? null,
    stop: document.querySelector("#stop-result")?.dataset.stopped ?? null,
  }));
  // What the session's side of the page shows: the URL's ids, the sandbox label, the chat list.
  const sessionView = () => page.evaluate(() => {
    const params = new URLSearchParams(location.search);
    const sandbox = document.querySelector("#sandbox");
    return {
      url: { session: params.get("session"), chat: params.get("chat") },
      sessionId: document.querySelector("#app")?.dataset.sessionId ?? null,
      sandbox: sandbox?.textContent ?? null,
      phase: sandbox?.dataset.phase ?? null,
      sandboxAction: document.querySelector("#sandbox-action")?.textContent ?? null,
      sandboxLabels: [...window.__sandboxLabels],
      sendEnabled: document.querySelector("#send") ? !document.querySelector("#send").disabled : null,
      chats: [...document.querySelectorAll("#chat-list li")].map((li) => ({
        id: li.dataset.id,
        title: li.querySelector(".title")?.textContent ?? null,
        active: li.dataset.active === "true",
        unread: li.querySelector(".mark.unread") !== null,
        streaming: li.querySelector(".mark.streaming") !== null,
        deletable: li.querySelector(".delete") !== null,
      })),
      listError: document.querySelector("#list-error")?.textContent ?? null,
    };
  });
  const events = () => page.evaluate(() => structuredClone(window.recoupEvents ?? []));
  const chatItem = (id) => `#chat-list li[data-id="${id}"]`;
  // The page has its chat, read back, and has tried to resume it (useChat({ resume: true }) on mount).
  const loaded = (chatId) => page.waitForSelector(chatId
    ? `main[data-chat-id="${chatId}"]:not([data-resumed=''])` : "main[data-chat-id]:not([data-resumed=''])");
  const sandboxIs = (phase) => page.waitForSelector(`#sandbox[data-phase="${phase}"]`);
  const send = async (text, scenario) => {
    await page.selectOption('select[name="scenario"]', scenario);
    await page.fill('input[name="text"]', text);
    await page.click("#send");
  };
  const waitReadyWith = (count, ending) => page.waitForFunction(([n, end]) => {
    const items = document.querySelectorAll('#messages li[data-role="assistant"]');
    return document.querySelector("#status").dataset.status === "ready" && items.length === n
      && window.__assistantText().endsWith(end);
  }, [count, ending]);
  const waitStreamed = (atLeast) => page.waitForFunction((n) => window.__assistantText().length >= n
    && window.__lengths.length >= 3 && document.querySelector("#status").dataset.status === "streaming"
    && document.querySelector("#messages li:last-child").dataset.role === "assistant", atLeast);
  // The world's clock, moved on as QA would (the admin API); then the page reads the status as it does
  // when the tab comes back (a focus event).
  const advanceClock = async (advanceMs) => {
    const response = await fetch(`${config.mock}/__mock/clock`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-mock-world": config.world },
      body: JSON.stringify({ advanceMs }),
    });
    if (!response.ok) throw new Error(`POST /__mock/clock: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const tabComesBack = () => page.evaluate(() => window.dispatchEvent(new Event("focus")));

  // 0. A new session: the page creates it, puts its ids in the URL, and waits for its sandbox.
  await page.goto(config.pageUrl);
  await sandboxIs("ready");
  await loaded();
  result.origin = await page.evaluate(() => location.origin);
  result.initial = await snapshot();
  result.session.created = { ...(await sessionView()), events: await events() };
  const sessionId = result.session.created.url.session;
  const firstChat = result.session.created.url.chat;

  // 1. A default answer: the text grows as it streams.
  await installRecorder();
  await send("Draft a tweet for the single", "");
  await waitReadyWith(1, "turn it up.\"");
  result.turns.default = await snapshot();

  // 2. A slow answer, stopped mid-stream: the local read ends and the run is cancelled on the server.
  await installRecorder();
  await send("Count to forty-eight", "slow");
  await waitStreamed(40);
  await page.click("#stop");
  await page.waitForSelector("#stop-result");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "ready");
  result.turns.stopped = await snapshot();

  // 3. A slow answer; reload mid-stream; the page reads the chat back, resumes, and the answer completes once.
  await installRecorder();
  await send("Count again, all the way", "slow");
  await waitStreamed(60);
  const beforeReload = await snapshot();
  await page.reload();
  await loaded(firstChat);
  await installRecorder();
  const afterReload = { ...(await snapshot()), readBack: (await events()).filter((e) => e.event === "read-back") };
  await waitReadyWith(3, "forty-eight.");
  await sandboxIs("ready");
  result.turns.reloaded = { beforeReload, afterReload, ...(await snapshot()), session: await sessionView() };

  // 4. http-429 instead of a stream: the error banner.
  await send("Once more", "http-429");
  await page.waitForSelector("#error-banner");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "error");
  result.turns.rateLimited = await snapshot();
  await page.screenshot({ path: config.screenshot, fullPage: true });

  // 5. A new chat (the client's id): listed, opened, empty.
  await page.click("#new-chat");
  await page.waitForFunction((first) => {
    const chat = new URLSearchParams(location.search).get("chat");
    return chat !== first && document.querySelector(`main[data-chat-id="${chat}"]:not([data-resumed=''])`);
  }, firstChat);
  const newChat = await page.evaluate(() => new URLSearchParams(location.search).get("chat"));
  result.session.newChat = { ...(await sessionView()), messages: (await snapshot()).messages };

  // 6. Renamed: the list shows the new title.
  await page.click(`${chatItem(newChat)} .rename`);
  await page.fill(`${chatItem(newChat)} .rename-input`, "Tour dates");
  await page.press(`${chatItem(newChat)} .rename-input`, "Enter");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .title`)?.textContent === "Tour dates",
    chatItem(newChat));
  result.session.renamed = await sessionView();

  // 7. Back to the first chat; a slow turn there, left mid-answer for the new chat. The list shows the
  // first chat streaming, then (its run over on the server) unread; opened again, it is read, and its
  // messages, read back, hold the whole answer.
  await page.click(`${chatItem(firstChat)} .open`);
  await loaded(firstChat);
  await installRecorder();
  await send("Count once more, in the background", "slow");
  await waitStreamed(20);
  const leftMidAnswer = await snapshot();
  await page.click(`${chatItem(newChat)} .open`);
  await loaded(newChat);
  await page.waitForSelector(`${chatItem(firstChat)} .mark.streaming`);
  const streamingElsewhere = await sessionView();
  await page.waitForSelector(`${chatItem(firstChat)}:not([data-streaming="true"]) .mark.unread`, { timeout: 30000 });
  const unreadElsewhere = await sessionView();
  await page.click(`${chatItem(firstChat)} .open`);
  await loaded(firstChat);
  await page.waitForSelector(`${chatItem(firstChat)}[data-unread="false"]`);
  result.session.unread = { leftMidAnswer, streamingElsewhere, unreadElsewhere, reopened: await sessionView(),
    messages: (await snapshot()).messages };

  // 8. The open chat deleted: the page opens the one left; the list shrinks; the only chat offers no delete.
  await page.click(`${chatItem(newChat)} .open`);
  await loaded(newChat);
  const beforeDelete = await sessionView();
  await page.click(`${chatItem(newChat)} .delete`);
  await page.waitForFunction((sel) => document.querySelectorAll("#chat-list li").length === 1
    && !document.querySelector(sel), chatItem(newChat));
  await loaded(firstChat);
  result.session.deleted = { beforeDelete, after: await sessionView() };

  // 9. The same session on DefaultChatTransport (the switch in the header is this query parameter), opened
  // from a URL that names only the session: the page opens its most recently updated chat.
  const other = new URL(page.url());
  other.searchParams.set("transport", "default");
  other.searchParams.delete("chat");
  await page.goto(other.href);
  await sandboxIs("ready");
  await loaded(firstChat);
  await installRecorder();
  await send("And one on the default transport", "");
  await waitReadyWith(5, "turn it up.\"");
  result.turns.defaultTransport = { ...(await snapshot()), session: await sessionView() };

  // 10. Five minutes later, idle: the sandbox hibernated; sending waits; the page's Resume brings it back.
  const labelsFrom = (await sessionView()).sandboxLabels.length;
  result.session.clockHibernate = await advanceClock(5 * 60 * 1000);
  await tabComesBack();
  await sandboxIs("hibernated");
  const hibernated = await sessionView();
  await page.click("#sandbox-action");
  await sandboxIs("ready");
  const resumed = await sessionView();
  result.session.hibernated = { hibernated, resumed, labels: resumed.sandboxLabels.slice(labelsFrom) };

  // 11. Thirty minutes on while a turn streams: the sandbox expired under it (the turn still completes);
  // the page offers a new sandbox, which it then waits for.
  const expiredFrom = resumed.sandboxLabels.length;
  await installRecorder();
  await send("A long one, while time passes", "slow");
  await waitStreamed(20);
  result.session.clockExpire = await advanceClock(30 * 60 * 1000);
  await tabComesBack();
  await sandboxIs("expired");
  const expiredWhileStreaming = { ...(await sessionView()), status: (await snapshot()).status };
  await waitReadyWith(6, "forty-eight.");
  // The turn's end: the list read again (not streaming), and the status read the page makes then.
  await page.waitForSelector(`${chatItem(firstChat)}[data-streaming="false"]`);
  await page.waitForFunction(() => {
    const seen = window.recoupEvents;
    const end = seen.findLastIndex((e) => e.event === "finish");
    return end >= 0 && seen.slice(end).some((e) => e.event === "status");
  });
  const afterTurn = { ...(await sessionView()),
    statusAfterTurn: await page.evaluate(() => window.recoupEvents.findLast((e) => e.event === "status")) };
  await page.click("#sandbox-action");
  await sandboxIs("ready");
  const restarted = await sessionView();
  result.session.expired = { expiredWhileStreaming, afterTurn, restarted, labels: restarted.sandboxLabels.slice(expiredFrom),
    turn: await snapshot() };
  result.session.id = sessionId;
  result.session.firstChat = firstChat;
  result.session.newChatId = newChat;

  // 12. The deployed profile (a world of its own): the server drops the POST mid-answer, which cancels the
  // run there; the transport reconnects by itself and finds nothing (204).
  const deployedFrom = { console: result.consoleErrors.length, failed: result.failedRequests.length };
  await page.goto(config.deployedPageUrl);
  await sandboxIs("ready");
  await loaded();
  await installRecorder();
  await send("Tell me the rest", "disconnect");
  await page.waitForSelector("#error-banner");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "error");
  result.turns.deployedDisconnect = {
    ...(await snapshot()),
    session: await sessionView(),
    // This step's own noise: the dropped POST, and the transport's log line about it.
    consoleErrors: result.consoleErrors.splice(deployedFrom.console),
    failed: result.failedRequests.splice(deployedFrom.failed),
  };

  // 13. WorkflowChatTransport as shipped, without the page's 204 fix (?raw204=1), in a world of its own: on
  // load it resumes, Chromium hands it the 204 with an empty body, and it reconnects again and again. Left
  // to it until 20 GETs have gone out, then the page is closed.
  const raw = new URL(config.rawPageUrl);
  const gets = [];
  let enough;
  const twenty = new Promise((resolve) => { enough = resolve; });
  const onRequest = (request) => {
    if (request.method() === "GET" && request.url().includes("/stream?")) {
      gets.push(new URL(request.url()).search);
      if (gets.length === 20) enough();
    }
  };
  page.on("request", onRequest);
  const failedBefore = result.failedRequests.length;
  await page.goto(raw.href);
  await twenty;
  const rawSnapshot = await page.evaluate(() => ({
    status: document.querySelector("#status")?.dataset.status ?? null,
    resumed: document.querySelector("main")?.dataset.resumed ?? null,
    banner: document.querySelector("#error-banner") !== null,
    chatId: document.querySelector("main")?.dataset.chatId ?? null,
  }));
  await page.goto("about:blank");
  page.off("request", onRequest);
  // Closing the page cut the GET in flight (and may have cut a poll of the chat list or the status).
  result.turns.raw204 = { ...rawSnapshot, gets: gets.slice(0, 20), failed: result.failedRequests.splice(failedBefore) };
} catch (error) {
  result.crash = { message: String(error?.message ?? error), stack: String(error?.stack ?? "") };
  try {
    result.crashView = await browser.page.evaluate(() => document.body.innerText.slice(0, 3000));
  } catch {
    // the page is gone
  }
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
