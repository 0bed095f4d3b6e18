// Drives the inspector page (GET /__mock/) in headless Chromium (Debian's package, through playwright-core)
// for test_inspector_page.py, which acts as another client of the mock at the same time, so the steps are
// sent one by one rather than scripted here:
//
//   node inspector_drive.mjs <config-json>        config: {executablePath, width, height}
//
// It prints {"ready": true, ...} once the browser is up, then reads one JSON command per line on stdin
// and answers each with one JSON line on stdout: {id, ok: true, value} or {id, ok: false, error}.
//   goto {url} | reload | waitFor {fn, arg, timeout} | evaluate {fn, arg} | click {selector}
//   fill {selector, value} | select {selector, value} | screenshot {path} | download {selector, path} | log
//   clearLog | close
// `download` clicks `selector`, waits for the download it starts, saves it to `path` and answers with the
// file name the page suggested.
// `fn` is the source of a function run in the page; waitFor answers with its first truthy result.
// `log` answers with the console errors, page errors, failed requests and main-frame navigations so far;
// `clearLog` empties them (one browser serves several tests, each starting from an empty log).
// Every step is bounded by its `timeout` (ms, default 10000); end of input closes the browser.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const userDataDir = mkdtempSync(join(tmpdir(), "recoup-mock-inspector-"));
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const log = { consoleErrors: [], consoleWarnings: [], pageErrors: [], failedRequests: [], navigations: [] };

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: config.executablePath, headless: true, args: ARGS,
  viewport: { width: config.width ?? 1440, height: config.height ?? 900 },
});
const page = context.pages()[0] ?? await context.newPage();
page.on("console", (msg) => {
  if (msg.type() === "error") log.consoleErrors.push(msg.text());
  else if (msg.type() === "warning") log.consoleWarnings.push(msg.text());
});
page.on("pageerror", (error) => log.pageErrors.push(String(error)));
page.on("requestfailed", (request) => log.failedRequests.push(
  { method: request.method(), url: request.url(), failure: request.failure()?.errorText ?? null }));
page.on("framenavigated", (frame) => { if (frame === page.mainFrame()) log.navigations.push(frame.url()); });

// The source of a page function, as a function (Playwright sends its text to the page).
const pageFunction = (source) => new Function(`return (${source});`)();

const OPS = {
  goto: ({ url, timeout }) => page.goto(url, { timeout }).then(() => null),
  reload: ({ timeout }) => page.reload({ timeout }).then(() => null),
  waitFor: async ({ fn, arg, timeout }) => {
    const handle = await page.waitForFunction(pageFunction(fn), arg, { timeout, polling: "raf" });
    return handle.jsonValue();
  },
  evaluate: ({ fn, arg }) => page.evaluate(pageFunction(fn), arg),
  click: ({ selector, timeout }) => page.click(selector, { timeout }).then(() => null),
  fill: ({ selector, value, timeout }) => page.fill(selector, value, { timeout }).then(() => null),
  select: ({ selector, value, timeout }) => page.selectOption(selector, value, { timeout }).then(() => null),
  screenshot: ({ path, timeout }) => page.screenshot({ path, timeout }).then(() => null),
  download: async ({ selector, path, timeout }) => {
    const [download] = await Promise.all([page.waitForEvent("download", { timeout }), page.click(selector, { timeout })]);
    await download.saveAs(path);
    return download.suggestedFilename();
  },
  log: async () => log,
  clearLog: async () => { for (const entries of Object.values(log)) entries.length = 0; },
};

say({ ready: true, browserVersion: context.browser()?.version() ?? null });
try {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const { id, op, ...args } = JSON.parse(line);
    if (op === "close") {
      say({ id, ok: true, value: null });
      break;
    }
    try {
      if (!(op in OPS)) throw new Error(`unknown op ${op}`);
      say({ id, ok: true, value: (await OPS[op]({ timeout: 10000, ...args })) ?? null });
    } catch (error) {
      say({ id, ok: false, error: String(error?.message ?? error) });
    }
  }
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(0); // stdin may still be open
