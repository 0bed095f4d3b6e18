// Records a HAR in headless Chromium (Debian's package, through playwright-core's recordHar) for
// test_import_har.py: a page on its own origin streams a turn from the mock (read chunk by chunk, as a
// front end does), gets a 429 from a scenario, asks another host (localhost instead of 127.0.0.1) for
// something, and the HAR is written when the context closes.
//
//   node har_record.mjs <config-json>     config: {executablePath, pageUrl, api, otherHost, apiKey, body, harPath}
//
// Prints one JSON line: what the page got ({turn: {status, text}, limited: {status, body}, other}), the
// browser's version, and the page's errors.

import process from "node:process";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const browser = await chromium.launch({ executablePath: config.executablePath, headless: true, args: ARGS });
const result = { pageErrors: [], consoleErrors: [] };
try {
  result.browserVersion = browser.version();
  const context = await browser.newContext({ recordHar: { path: config.harPath, content: "embed" } });
  const page = await context.newPage();
  page.on("pageerror", (error) => result.pageErrors.push(String(error)));
  page.on("console", (msg) => { if (msg.type() === "error") result.consoleErrors.push(msg.text()); });
  await page.goto(config.pageUrl);
  result.page = await page.evaluate(async ({ api, otherHost, apiKey, body }) => {
    const headers = (scenario) => ({ "content-type": "application/json", "x-api-key": apiKey, prefer: `scenario=${scenario}` });
    const turn = await fetch(`${api}/api/chat`, { method: "POST", headers: headers("tool-call"), body: JSON.stringify(body) });
    const reader = turn.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const limited = await fetch(`${api}/api/chat`, { method: "POST", headers: headers("http-429"), body: JSON.stringify(body) });
    const other = await fetch(`${otherHost}/api/sandbox/status?sessionId=${body.sessionId}`, { headers: { "x-api-key": apiKey } });
    return { turn: { status: turn.status, text }, limited: { status: limited.status, body: await limited.text() },
             other: other.status };
  }, config);
  await context.close(); // writes the HAR
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
