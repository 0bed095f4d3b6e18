// Drives examples/browser in headless Chromium (Debian's package, through playwright-core). Driven by
// test_browser.py:
//
//   node browser_drive.mjs <config-json>
//
// config: {pageUrl, screenshot, executablePath}. Three turns: a default answer (text seen growing), a
// slow answer with a page reload mid-stream (resumed on load), and a dropped connection (the page resumes
// on `isDisconnect`). Prints one JSON line with what the page showed; test_browser.py asserts on it.

import process from "node:process";
import { openPage, recordAssistantText } from "./chromium.mjs";

const config = JSON.parse(process.argv[2]);
const result = { consoleErrors: [], pageErrors: [], failedRequests: [], turns: [] };
const browser = await openPage({ executablePath: config.executablePath, viewport: { width: 900, height: 1000 }, profile: "chromium", result });
try {
  result.browserVersion = browser.browserVersion;
  const page = browser.page;

  const installRecorder = () => recordAssistantText(page);
  const snapshot = () => page.evaluate(() => ({
    status: document.querySelector("#status").dataset.status,
    error: document.querySelector("#error").hidden ? null : document.querySelector("#error").textContent,
    messages: [...document.querySelectorAll("#messages li")].map((li) => ({
      role: li.dataset.role,
      id: li.dataset.id,
      text: [...li.querySelectorAll(".part-text")].map((p) => p.textContent).join(""),
      parts: li.querySelectorAll(".part-text, .part-tool, .part-data, .part-source, .part-reasoning").length,
    })),
    lengths: window.__lengths,
    events: window.recoupChat?.events ?? [],
    chatId: window.recoupChat?.chatId ?? null,
  }));
  const send = async (text, scenario) => {
    await page.selectOption('select[name="scenario"]', scenario);
    await page.fill('input[name="text"]', text);
    await page.click("#send");
  };
  const assistantCount = () => page.evaluate(() => document.querySelectorAll('#messages li[data-role="assistant"]').length);
  const waitReadyWith = (count, ending) => page.waitForFunction(([n, end]) => {
    const items = document.querySelectorAll('#messages li[data-role="assistant"]');
    return document.querySelector("#status").dataset.status === "ready" && items.length === n
      && window.__assistantText().endsWith(end);
  }, [count, ending]);

  await page.goto(config.pageUrl);
  await page.waitForSelector('body[data-loaded="true"]');
  result.origin = await page.evaluate(() => location.origin);
  result.initial = await snapshot();

  // 1. A default answer: the text grows as it streams.
  await installRecorder();
  await send("Hi there", "");
  await waitReadyWith(1, "turn it up.\"");
  result.turns.push({ name: "default", ...(await snapshot()) });

  // 2. A slow answer; reload mid-stream; the page resumes on load and the answer completes once.
  await installRecorder();
  await send("Count to forty-eight", "slow");
  await page.waitForFunction(() => window.__assistantText().length >= 60 && window.__lengths.length >= 3
    && document.querySelector('#messages li:last-child').dataset.role === "assistant");
  const beforeReload = await snapshot();
  const reloadedAt = Date.now();
  await page.reload();
  await page.waitForFunction(() => window.recoupChat !== undefined);
  await installRecorder();
  const afterReload = await snapshot();
  await waitReadyWith(2, "forty-eight.");
  result.turns.push({ name: "slow-reload", beforeReload, afterReload, resumedInMs: Date.now() - reloadedAt, ...(await snapshot()) });

  // 3. The connection drops mid-answer; the page resumes on the disconnect and the answer completes.
  await installRecorder();
  await send("Tell me the rest", "disconnect");
  await waitReadyWith(3, "a client that resumes.");
  result.turns.push({ name: "disconnect", ...(await snapshot()) });
  result.assistantCount = await assistantCount();

  await page.screenshot({ path: config.screenshot, fullPage: true });
} catch (error) {
  result.crash = { message: String(error?.message ?? error), stack: String(error?.stack ?? "") };
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
