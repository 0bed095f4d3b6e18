// Headless Chromium for the page drivers (browser_drive.mjs, react_drive.mjs): Debian's package through
// playwright-core, one persistent profile in a temporary folder, one page, and what the page logged.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// Opens Chromium at `executablePath` and returns {page, browserVersion, close}; the page's console errors,
// page errors and failed requests are pushed to `result` (its consoleErrors, pageErrors, failedRequests).
export async function openPage({ executablePath, viewport, profile, result }) {
  const userDataDir = mkdtempSync(join(tmpdir(), `recoup-mock-${profile}-`));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath, headless: true, args: ARGS, viewport,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") result.consoleErrors.push(msg.text()); });
  page.on("pageerror", (error) => result.pageErrors.push(String(error)));
  page.on("requestfailed", (request) => result.failedRequests.push(
    { method: request.method(), url: request.url(), failure: request.failure()?.errorText ?? null }));
  page.setDefaultTimeout(20000);
  return {
    page,
    browserVersion: context.browser()?.version() ?? null,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Records, in the page, the text of the last assistant message and every distinct length it had
// (window.__assistantText(), window.__lengths): a chat page's `#messages li[data-role="assistant"] .part-text`.
export function recordAssistantText(page) {
  return page.evaluate(() => {
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
}
