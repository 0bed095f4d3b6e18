// Drives examples/browser in headless Chromium (Debian's package, through playwright-core). Driven by
// test_browser.py:
//
//   node browser_drive.mjs <config-json>
//
// config: {pageUrl, screenshot, executablePath}. Three turns: a default answer (text seen growing), a
// slow answer with a page reload mid-stream (resumed on load), and a dropped connection (the page resumes
// on `isDisconnect`). Prints one JSON line with what the page showed; test_browser.py asserts on it.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const userDataDir = mkdtempSync(join(tmpdir(), "recoup-mock-chromium-"));
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const result = { consoleErrors: [], pageErrors: [], failedRequests: [], turns: [] };
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: config.executablePath, headless: true, args: ARGS, viewport: { width: 900, height: 1000 },
});
try {
  result.browserVersion = context.browser()?.version() ?? null;
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") result.consoleErrors.push(msg.text()); });
  page.on("pageerror", (error) => result.pageErrors.push(String(error)));
  page.on("requestfailed", (request) => result.failedRequests.push({ method: request.method(), url: request.url(), failure: request.failure()?.errorText ?? null }));
  page.setDefaultTimeout(20000);

  // The last assistant message's text, and every distinct length it had (recorded in the page).
  const installRecorder = () => page.evaluate(() => {
    window.__lengths = [];
    const text = () => {
      const items = document.querySelectorAll('#messages li[data-role="assistant"]');
      const last = items[items.length - 1];
      return last ? [...last.querySelectorAll(".part-text")].map((p) => p.textContent).join("") : "";
    };
    window.__assistantText = text;
    new MutationObserver(() => {
      const length = text().length;
      if (window.__lengths.at(-1) !== length) window.__lengths.push(length);
    }).observe(document.querySelector("#messages"), { subtree: true, childList: true, characterData: true });
  });
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
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);
