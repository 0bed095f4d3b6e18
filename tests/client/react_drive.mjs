// Drives examples/react (its `vite build`, served from another port than the mock) in headless Chromium
// (Debian's package, through playwright-core). Driven by test_react_example.py:
//
//   node react_drive.mjs <config-json>
//
// config: {pageUrl, deployedPageUrl, rawPageUrl, screenshot, executablePath}. On WorkflowChatTransport (the page's default):
// a default answer (text seen growing), a slow answer stopped mid-stream, a slow answer with a page reload
// mid-stream (useChat resumes on load), an http-429 (the error banner); then the page again on
// DefaultChatTransport (?transport=default) for one answer; deployedPageUrl (a world in the deployed
// profile) for a dropped connection; last, rawPageUrl (?raw204=1) for what the transport does with a 204 in
// a browser when nothing corrects it. Every wait is on the page (DOM text, status, events), none on a clock.
// Prints one JSON line with what the page showed; test_react_example.py asserts on it.

import process from "node:process";
import { openPage, recordAssistantText } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
const result = { consoleErrors: [], pageErrors: [], failedRequests: [], turns: {} };
const browser = await openPage({ executablePath: config.executablePath, viewport: { width: 900, height: 900 }, profile: "react-chromium", result });
try {
  result.browserVersion = browser.browserVersion;
  const page = browser.page;

  const installRecorder = () => recordAssistantText(page);
  const snapshot = () => page.evaluate(() => ({
    status: document.querySelector("#status").dataset.status,
    banner: document.querySelector("#error-banner .error-message")?.textContent ?? null,
    messages: [...document.querySelectorAll("#messages li")].map((li) => ({
      role: li.dataset.role,
      id: li.dataset.id,
      text: [...li.querySelectorAll(".part-text")].map((p) => p.textContent).join(""),
    })),
    lengths: window.__lengths,
    events: structuredClone(window.recoupChat?.events ?? []),
    runs: [...(window.recoupChat?.runs ?? [])],
    chatId: document.querySelector("main").dataset.chatId,
    transport: window.recoupChat?.transport ?? null,
    stop: document.querySelector("#stop-result")?.dataset.stopped ?? null,
  }));
  // The page has its chat and has tried to resume it (useChat({ resume: true }) on mount).
  const loaded = () => page.waitForSelector("main[data-chat-id]:not([data-resumed=''])");
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

  await page.goto(config.pageUrl);
  await loaded();
  result.origin = await page.evaluate(() => location.origin);
  result.initial = await snapshot();

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

  // 3. A slow answer; reload mid-stream; the page resumes on load and the answer completes once.
  await installRecorder();
  await send("Count again, all the way", "slow");
  await waitStreamed(60);
  const beforeReload = await snapshot();
  await page.reload();
  await loaded();
  await installRecorder();
  const afterReload = await snapshot();
  await waitReadyWith(3, "forty-eight.");
  result.turns.reloaded = { beforeReload, afterReload, ...(await snapshot()) };

  // 4. http-429 instead of a stream: the error banner.
  await send("Once more", "http-429");
  await page.waitForSelector("#error-banner");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "error");
  result.turns.rateLimited = await snapshot();
  await page.screenshot({ path: config.screenshot, fullPage: true });

  // 5. The same chat on DefaultChatTransport (the switch in the header is this query parameter).
  const other = new URL(config.pageUrl);
  other.searchParams.set("transport", "default");
  await page.goto(other.href);
  await loaded();
  await installRecorder();
  await send("And one on the default transport", "");
  await waitReadyWith(4, "turn it up.\"");
  result.turns.defaultTransport = await snapshot();

  // 6. The deployed profile (a world of its own): the server drops the POST mid-answer, which cancels the
  // run there; the transport reconnects by itself and finds nothing (204).
  const deployedFrom = { console: result.consoleErrors.length, failed: result.failedRequests.length };
  await page.goto(config.deployedPageUrl);
  await loaded();
  await installRecorder();
  await send("Tell me the rest", "disconnect");
  await page.waitForSelector("#error-banner");
  await page.waitForFunction(() => document.querySelector("#status").dataset.status === "error");
  result.turns.deployedDisconnect = {
    ...(await snapshot()),
    // This step's own noise: the dropped POST, and the transport's log line about it.
    consoleErrors: result.consoleErrors.splice(deployedFrom.console),
    failed: result.failedRequests.splice(deployedFrom.failed),
  };

  // 7. WorkflowChatTransport as shipped, without the page's 204 fix (?raw204=1), in a world of its own: on
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
  // Closing the page cut the GET in flight: that failure is this step's, not the chat's.
  result.turns.raw204 = { ...rawSnapshot, gets: gets.slice(0, 20), failed: result.failedRequests.splice(failedBefore) };
} catch (error) {
  result.crash = { message: String(error?.message ?? error), stack: String(error?.stack ?? "") };
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
