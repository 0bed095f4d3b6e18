// recoup-mock inspector, served at /__mock/ (openapi/admin.yaml, tag `inspector`).
//
// What the mock does is pushed over GET /__mock/events (SSE). It is read with fetch() and a small parser
// rather than EventSource, so that the admin token header can be sent, and reconnected with backoff; on
// each (re)connection the state is read again from the admin API, then kept current by the events.
// Every call names the selected world in x-mock-world (no header for the default world); pushed events of
// other worlds are ignored, except to notice that a world exists.
//
// Every value from the server reaches the DOM as text (textContent, Text nodes), never as HTML.

const BASE = new URL("../", import.meta.url).pathname; // "/__mock/": this file is /__mock/inspector/app.js
const DEFAULT_WORLD = "default";
const TOKEN_KEY = "recoup-mock.admin-token";
const WORLD_KEY = "recoup-mock.world";
const MAX_ENTRIES = 5000; // journal entries held in the page
const MAX_ROWS = 500; // journal rows rendered: the newest that pass the filters
const MAX_RUN_ROWS = 200;
const MAX_CHUNK_ROWS = 2000; // per chunk list; the count goes on past it
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

// ---------------------------------------------------------------------------------------------- helpers

const $ = (selector) => document.querySelector(selector);

/** An element with `props` (class, text, dataset, on<event>, attributes) and children (nodes or text). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) el.append(child); // a string becomes a Text node
  }
  return el;
}

/** Call `fn` once, `ms` after the first of any number of calls (a burst of events makes one call). */
function coalesce(fn, ms) {
  let timer = 0;
  return () => {
    if (!timer) timer = setTimeout(() => { timer = 0; fn(); }, ms);
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pad = (n, width = 2) => String(n).padStart(width, "0");

function clock(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  return `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
}

function millis(ms) {
  if (typeof ms !== "number") return "";
  return ms >= 100 ? Math.round(ms).toLocaleString("en-US") : ms.toFixed(1);
}

/** A long id, shortened for a table cell (the full id is in the title). */
function shortId(id) {
  if (!id) return "";
  return id.length > 16 ? `${id.slice(0, 5)}…${id.slice(-6)}` : id;
}

function statusClass(status) {
  if (!status) return "st st-pending";
  return `st st-${String(status)[0]}xx`;
}

/** Put `rows` in `tbody`, in order, moving only what is out of place: a row under the pointer stays put
 * (a row taken out and put back between mousedown and mouseup would lose the click). */
function reconcile(tbody, rows) {
  rows.forEach((row, i) => {
    const there = tbody.children[i];
    if (there !== row) tbody.insertBefore(row, there ?? null);
  });
  while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
}

/** Set an element's text only when it differs (no needless layout work). */
function setText(el, text) {
  const value = String(text ?? "");
  if (el.textContent !== value) el.textContent = value;
}

function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

// ------------------------------------------------------------------------------------------------ state

const state = {
  world: sessionStorage.getItem(WORLD_KEY) || DEFAULT_WORLD,
  worlds: [], // [{name, profile, ...counts}] from GET /__mock/worlds
  status: null, // GET /__mock/status of the world
  reloadError: null,
  entries: new Map(), // seq -> journal entry
  seqs: [], // the held seqs, ascending once sorted
  sorted: true,
  runs: new Map(), // runId -> run summary, in the order the page learnt of them
  scenarios: [],
  queue: [],
  selectedSeq: null,
  selectedRun: null,
  generation: 0, // bumped by every full load: a slower, older load is dropped
  detailAsk: 0,
  tokenPrompts: 0,
};

/** Chunk lists on the page (the request's stream, the selected run): chunk events are fed to them. */
const chunkLists = new Set();
const detailView = { list: null, run: null, streamTitle: null,
  open: { "req-headers": true, "req-body": true, "res-headers": false } }; // sections' open state, kept
let runView = null; // {runId, list, head}: the selected run's chunks

// --------------------------------------------------------------------------------------- the admin API

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

function headersFor(world) {
  const headers = {};
  const t = token();
  if (t) headers["x-mock-admin-token"] = t;
  if (world && world !== DEFAULT_WORLD) headers["x-mock-world"] = world;
  return headers;
}

/** Call the admin API in `world` (the selected one by default; null: no world header). A 401 asks for the
 * token and tries again. Resolves to the JSON body; rejects with HttpError on any other failure. */
async function api(path, { method = "GET", body, world = state.world, file = false } = {}) {
  for (;;) {
    const headers = headersFor(world);
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(BASE + path, {
      method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      await askToken(token() ? "The mock refused that token." : "");
      continue;
    }
    if (file && response.ok) {
      // A file to save: its text and the name its content-disposition gives it.
      const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "")?.[1];
      return { text: await response.text(), name, type: response.headers.get("content-type") ?? "text/plain" };
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new HttpError(response.status, data?.message ?? data?.error ?? `${response.status} ${response.statusText}`);
    }
    return data;
  }
}

// ------------------------------------------------------------------------------------- the admin token

let tokenWait = null;

/** Show the token form (once, however many calls are waiting) and resolve when a token is entered. */
function askToken(reason) {
  if (tokenWait) return tokenWait;
  tokenWait = new Promise((resolve) => {
    state.tokenPrompts += 1;
    document.body.dataset.tokenPrompts = String(state.tokenPrompts);
    const overlay = $("#token");
    const error = $("#token-error");
    error.textContent = reason;
    error.hidden = !reason;
    overlay.hidden = false;
    const input = $("#token-input");
    input.value = "";
    input.focus();
    const form = $("#token-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      overlay.hidden = true;
      tokenWait = null;
      resolve();
    }, { once: true });
  });
  return tokenWait;
}

// ---------------------------------------------------------------------------------- the event stream

/** Server-Sent Events, incrementally: feed decoded text, get the data of each event it completed. */
export class SseParser {
  constructor() {
    this.rest = "";
    this.data = [];
  }

  feed(text) {
    const lines = (this.rest + text).split("\n");
    this.rest = lines.pop();
    const events = [];
    for (let line of lines) {
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (this.data.length) events.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        this.data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      } // comments (": keep-alive") and other fields carry nothing for us
    }
    return events;
  }
}

function setConnection(kind, text) {
  document.body.dataset.events = kind;
  const el = $("#connection");
  el.dataset.state = kind;
  el.textContent = text;
}

/** Read GET /__mock/events for as long as the page lives, reconnecting with backoff. */
async function watchEvents() {
  let failures = 0;
  for (;;) {
    try {
      const response = await fetch(`${BASE}events`, { headers: headersFor(null), cache: "no-store" });
      if (response.status === 401) {
        setConnection("locked", "admin token needed");
        await askToken(token() ? "The mock refused that token." : "");
        continue;
      }
      if (!response.ok || !response.body) throw new Error(`GET ${BASE}events answered ${response.status}`);
      failures = 0;
      document.body.dataset.connects = String(Number(document.body.dataset.connects ?? 0) + 1);
      setConnection("open", "live");
      loadAll(); // what is there now; the events keep it current from here
      const parser = new SseParser();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const data of parser.feed(value)) {
          let event;
          try {
            event = JSON.parse(data);
          } catch {
            continue;
          }
          try {
            handleEvent(event);
          } catch (error) {
            console.error("inspector: could not show an event", event, error);
          }
        }
      }
      throw new Error("the event stream ended");
    } catch (error) {
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      setConnection("closed", `disconnected, retrying in ${(wait / 1000).toFixed(1)} s`);
      console.warn("inspector: event stream:", error);
      await sleep(wait);
      setConnection("connecting", "reconnecting…");
    }
  }
}

function handleEvent(event) {
  const ours = event.world === state.world;
  switch (event.type) {
    case "request":
      noteWorld(event.world);
      if (!ours) break;
      upsertEntry(event.entry);
      if (event.entry.runId && state.runs.has(event.entry.runId)) refreshRuns(); // its readers changed
      if (state.queue.length) refreshQueue(); // a request may have used a queued scenario
      if (event.entry.seq === state.selectedSeq) refreshDetail();
      break;
    case "run":
      noteWorld(event.world);
      if (!ours) break;
      upsertRun(event.run);
      if (!event.run.live) refreshRuns(); // its last readers are leaving
      // Follow: a run that begins is shown, unless the run being watched is still live.
      if (event.run.live && $("#follow").checked && !state.runs.get(state.selectedRun)?.live) {
        selectRun(event.run.runId);
      }
      break;
    case "chunk": {
      if (!ours) break;
      const run = state.runs.get(event.runId);
      if (run && run.chunks < event.index + 1) {
        state.runs.set(event.runId, { ...run, chunks: event.index + 1 });
        invalidate("runs");
      }
      for (const list of chunkLists) if (list.runId === event.runId) list.add(event);
      break;
    }
    case "reset":
      refreshWorlds();
      if (event.world === null && state.world !== DEFAULT_WORLD) {
        switchWorld(DEFAULT_WORLD); // every world was dropped
      } else if (event.world === null || ours) {
        clearWorld();
        loadAll();
      }
      break;
    case "chaos": {
      // Seeded chaos picked a fault for a request of this world: its row says so as soon as it is known.
      if (!ours) break;
      const entry = state.entries.get(event.seq);
      if (entry && !entry.chaos) upsertEntry({ ...entry, chaos: true, scenario: event.scenario });
      notify(`Chaos: request ${event.seq} gets ${event.scenario} (draw ${event.draw} at rate ${event.rate})`);
      break;
    }
    case "queued":
      // A request took a queued scenario: the queue shown is one shorter.
      if (!ours) break;
      refreshQueue();
      notify(`Request ${event.seq} took the queued scenario ${event.scenario}`);
      break;
    case "clock":
      // POST /__mock/clock moved this world's time on (the sandbox timers fall due as sessions are read).
      if (ours) notify(`Clock moved on ${(event.advancedMs / 1000).toFixed(1)} s, to ${new Date(event.nowMs).toISOString()}`);
      break;
    case "reload":
      showReloadError(event.error);
      if (!event.error) {
        notify(event.changes?.length ? `Reloaded: ${event.changes.join("; ")}` : "Reloaded the fixtures");
        loadScenarios();
      }
      break;
    default:
      break;
  }
  if (event.overflow) reloadSoon(); // events were lost: read everything again
}

// ------------------------------------------------------------------------------------------- loading

/** Read the world's whole state (journal, runs, scenarios, queue, status) and the list of worlds. */
async function loadAll() {
  const generation = ++state.generation;
  try {
    const listed = await api("worlds", { world: null });
    if (generation !== state.generation) return;
    setWorlds(listed.worlds);
    if (!state.worlds.some((w) => w.name === state.world)) {
      state.world = DEFAULT_WORLD; // the world we remembered is gone: do not recreate it by asking
      sessionStorage.setItem(WORLD_KEY, state.world);
      clearWorld();
      renderWorlds();
    }
    const world = state.world;
    const [status, journal, runs, scenarios, queue] = await Promise.all([
      api("status"), api(`requests?limit=${MAX_ENTRIES}`), api("runs"), api("scenarios"), api("scenarios/next"),
    ]);
    if (generation !== state.generation || world !== state.world) return;
    applyStatus(status);
    // What the load saw, unless an event already brought a later state, and what began since.
    const last = journal.requests.at(-1)?.seq ?? 0;
    const heldEntries = state.entries;
    state.entries = new Map();
    state.seqs = [];
    state.sorted = true;
    for (const entry of journal.requests) {
      const seen = heldEntries.get(entry.seq);
      upsertEntry(seen && entryRank(seen) > entryRank(entry) ? seen : entry);
    }
    for (const entry of heldEntries.values()) if (entry.seq > last) upsertEntry(entry);
    for (const seq of journalRows.keys()) if (!state.entries.has(seq)) journalRows.delete(seq);
    const listedRuns = new Set(runs.runs.map((r) => r.runId));
    const started = [...state.runs.values()].filter((r) => !listedRuns.has(r.runId) && r.live);
    const held = state.runs;
    state.runs = new Map();
    for (const run of [...runs.runs, ...started]) {
      const seen = held.get(run.runId);
      state.runs.set(run.runId, seen ? mergeRun(seen, run) : run);
    }
    setScenarios(scenarios.scenarios);
    setQueue(queue.queued);
    invalidate("journal", "runs", "header");
    draw(); // now, so that "loaded" means drawn
    document.body.dataset.loaded = "true";
    document.body.dataset.loads = String(Number(document.body.dataset.loads ?? 0) + 1);
    if (state.selectedSeq !== null) loadDetail();
    if (!state.selectedRun) {
      const live = [...state.runs.values()].filter((r) => r.live).at(-1);
      if (live && $("#follow").checked) selectRun(live.runId);
    } else if (state.runs.has(state.selectedRun)) {
      loadRunChunks(state.selectedRun);
    }
  } catch (error) {
    if (generation === state.generation) notify(`Could not read the mock: ${error.message}`, "error");
  }
}

const reloadSoon = coalesce(loadAll, 100);

const refreshRuns = coalesce(async () => {
  const world = state.world;
  try {
    const { runs } = await api("runs");
    if (world !== state.world) return;
    for (const run of runs) upsertRun(run);
  } catch { /* the next event or load tries again */ }
}, 200);

const refreshQueue = coalesce(async () => {
  const world = state.world;
  try {
    const { queued } = await api("scenarios/next");
    if (world === state.world) setQueue(queued);
  } catch { /* as above */ }
}, 150);

const refreshWorlds = coalesce(async () => {
  try {
    setWorlds((await api("worlds", { world: null })).worlds);
  } catch { /* as above */ }
}, 150);

async function loadScenarios() {
  try {
    setScenarios((await api("scenarios")).scenarios);
  } catch (error) {
    notify(`Could not read the scenarios: ${error.message}`, "error");
  }
}

/** A world named by an event that the selector does not list yet: list the worlds again. */
function noteWorld(name) {
  if (name && !state.worlds.some((w) => w.name === name)) refreshWorlds();
}

// ------------------------------------------------------------------------------------ state changes

const entryRank = (e) => (e.done ? 2 : e.status ? 1 : 0);

/** A journal entry, new or newer (an entry is pushed when it begins, gets its status and ends). */
function upsertEntry(entry) {
  const held = state.entries.get(entry.seq);
  if (held && entryRank(held) > entryRank(entry)) return; // an older state, overtaken
  if (!held) {
    if (state.seqs.length && entry.seq < state.seqs[state.seqs.length - 1]) state.sorted = false;
    state.seqs.push(entry.seq);
  }
  state.entries.set(entry.seq, entry);
  if (state.seqs.length > MAX_ENTRIES) {
    sortSeqs();
    for (const seq of state.seqs.splice(0, state.seqs.length - MAX_ENTRIES)) {
      state.entries.delete(seq);
      journalRows.delete(seq);
    }
  }
  invalidate("journal", "header");
}

function sortSeqs() {
  if (!state.sorted) {
    state.seqs.sort((a, b) => a - b);
    state.sorted = true;
  }
}

/** A run summary over the one held: never back to live once closed (a summary read before it closed),
 * and while live, never fewer chunks than the chunk events already counted. */
function mergeRun(held, run) {
  if (!held.live && run.live) return held;
  return run.live ? { ...run, chunks: Math.max(run.chunks, held.chunks) } : run;
}

function upsertRun(run) {
  const held = state.runs.get(run.runId);
  state.runs.set(run.runId, held ? mergeRun(held, run) : run);
  invalidate("runs", "header");
}

/** Forget the world's state (another world was selected, or it was reset). */
function clearWorld() {
  state.entries = new Map();
  state.seqs = [];
  state.sorted = true;
  state.runs = new Map();
  state.queue = [];
  journalRows.clear();
  runRows.clear();
  clearDetail();
  clearRunView();
  invalidate("journal", "runs", "queue", "header");
}

function switchWorld(name) {
  state.world = name;
  sessionStorage.setItem(WORLD_KEY, name);
  state.generation += 1; // a load for the previous world is now stale
  clearWorld();
  renderWorlds();
  loadAll();
}

function applyStatus(status) {
  state.status = status;
  showReloadError(status.reloadError);
  invalidate("header");
}

function showReloadError(message) {
  state.reloadError = message || null;
  const banner = $("#reload-error");
  banner.hidden = !state.reloadError;
  banner.querySelector(".message").textContent = state.reloadError ?? "";
}

function setWorlds(worlds) {
  state.worlds = worlds;
  renderWorlds();
}

function setScenarios(scenarios) {
  state.scenarios = scenarios;
  renderScenarios();
}

function setQueue(queue) {
  state.queue = queue;
  invalidate("queue");
}

let noticeTimer = 0;
function notify(text, kind = "info") {
  const el = $("#notice");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, kind === "error" ? 8000 : 3000);
}

// ------------------------------------------------------------------------------------------ rendering

const dirty = new Set();
let frame = 0;

/** Mark parts of the page as out of date; they are drawn once, at the next animation frame. */
function invalidate(...parts) {
  for (const part of parts) dirty.add(part);
  if (!frame) frame = requestAnimationFrame(draw);
}

function draw() {
  cancelAnimationFrame(frame);
  frame = 0;
  const parts = [...dirty];
  dirty.clear();
  for (const part of parts) RENDER[part]();
}

const RENDER = {
  journal: renderJournal,
  runs: renderRuns,
  queue: renderQueue,
  header: renderHeader,
  chunks: () => { for (const list of chunkLists) list.draw(); },
};

function renderHeader() {
  const profile = state.status?.profile ?? "";
  const badge = $("#profile");
  badge.textContent = profile;
  badge.dataset.profile = profile;
  badge.hidden = !profile;
  let live = 0;
  let readers = 0;
  for (const run of state.runs.values()) {
    if (run.live) live += 1;
    readers += run.readers;
  }
  $("#counts").textContent = `${plural(state.entries.size, "request")} · ${plural(live, "live run")} · ${plural(readers, "reader")}`;
}

let worldsDrawn = "";

function renderWorlds() {
  const select = $("#world");
  const names = state.worlds.map((w) => w.name);
  if (!names.includes(state.world)) names.push(state.world);
  const labels = names.map((name) => {
    const world = state.worlds.find((w) => w.name === name);
    const gone = !world && state.worlds.length > 0; // listed worlds, and this one is not among them
    return [name, gone ? `${name} (gone)` : world?.profile === "deployed" ? `${name} · deployed` : name];
  });
  const key = JSON.stringify([state.world, labels]);
  if (key === worldsDrawn) return; // rebuilding an open <select> would close it
  worldsDrawn = key;
  select.replaceChildren(...labels.map(([name, label]) => h("option", { value: name, text: label })));
  select.value = state.world;
  $("#world-count").textContent = state.worlds.length > 1 ? `${state.worlds.length} worlds` : "";
}

// The journal: rows are built once per entry state and reused, so a busy mock costs little to draw.
const journalRows = new Map(); // seq -> {entry, tr, cells}

function filters() {
  const form = $("#filters");
  return {
    path: form.elements.path.value.trim(),
    status: form.elements.status.value.trim().replace(/x+$/i, ""),
    scenario: form.elements.scenario.value,
  };
}

function passes(entry, f) {
  if (f.path && !entry.path.includes(f.path)) return false;
  if (f.status && !String(entry.status).startsWith(f.status)) return false;
  if (f.scenario === "-") return entry.scenario === null;
  if (f.scenario && entry.scenario !== f.scenario) return false;
  return true;
}

function journalRow(entry) {
  let held = journalRows.get(entry.seq);
  if (!held) {
    const cells = {
      time: h("td", { class: "time", text: clock(entry.time), title: entry.time }),
      method: h("td", { class: "method", text: entry.method }),
      path: h("td", { class: "path", text: entry.path, title: entry.path }),
      status: h("span"),
      scenario: h("td", { class: "scenario" }),
      name: h("span"),
      chaos: h("span", { class: "chaos", text: "chaos" }),
      run: h("td", { class: "run id" }),
      duration: h("td"),
    };
    const tr = h("tr", { tabindex: "0", dataset: { seq: entry.seq } }, cells.time, cells.method, cells.path,
      h("td", {}, cells.status), cells.scenario, cells.run, cells.duration);
    cells.scenario.append(cells.name);
    held = { entry: null, tr, cells };
    journalRows.set(entry.seq, held);
  }
  if (held.entry !== entry) {
    const { tr, cells } = held;
    held.entry = entry;
    tr.dataset.status = entry.status;
    tr.dataset.done = entry.done;
    cells.status.className = statusClass(entry.status);
    setText(cells.status, entry.status || "…");
    setText(cells.name, entry.scenario);
    // Seeded chaos chose this request's fault (--chaos): said in the row, with how to replay it.
    if (entry.chaos) cells.scenario.append(cells.chaos);
    else cells.chaos.remove();
    tr.dataset.chaos = Boolean(entry.chaos);
    cells.scenario.title = entry.chaos
      ? `Seeded chaos served ${entry.scenario}; replay it with Prefer: scenario=${entry.scenario}` : "";
    setText(cells.run, shortId(entry.runId));
    cells.run.title = entry.runId ?? "";
    cells.duration.className = `num duration${entry.done ? "" : " pending"}`;
    setText(cells.duration, entry.done ? millis(entry.durationMs) : entry.status ? "streaming" : "…");
  }
  return held.tr;
}

function renderJournal() {
  sortSeqs();
  const f = filters();
  const rows = [];
  let matched = 0;
  for (let i = state.seqs.length - 1; i >= 0; i -= 1) {
    const entry = state.entries.get(state.seqs[i]);
    if (!passes(entry, f)) continue;
    matched += 1;
    if (rows.length < MAX_ROWS) {
      const tr = journalRow(entry);
      tr.classList.toggle("selected", entry.seq === state.selectedSeq);
      rows.push(tr);
    }
  }
  reconcile($("#journal-rows"), rows);
  $("#journal-empty").hidden = state.entries.size > 0;
  const total = state.entries.size;
  $("#journal-count").textContent = matched === total
    ? plural(total, "request")
    : `${matched.toLocaleString("en-US")} of ${plural(total, "request")}`;
  if (matched > MAX_ROWS) $("#journal-count").textContent += ` (newest ${MAX_ROWS} shown)`;
}

// Runs
const runRows = new Map(); // runId -> {run, tr, cells}

function runRow(run) {
  let held = runRows.get(run.runId);
  if (!held) {
    const cells = {
      status: h("span"), chunks: h("td", { class: "num chunks" }), readers: h("td", { class: "num readers" }),
      stop: h("button", { type: "button", class: "stop", text: "Stop" }),
      save: h("button", { type: "button", class: "save-scenario", text: "Scenario" }),
    };
    const tr = h("tr", { tabindex: "0", dataset: { runId: run.runId } },
      h("td", { class: "id", text: shortId(run.runId), title: run.runId }),
      h("td", { class: "chat id", text: run.chatId ? shortId(run.chatId) : run.headless ? "headless" : "", title: run.chatId ?? undefined }),
      h("td", { class: "scenario", text: run.scenario }),
      h("td", {}, cells.status), cells.chunks, cells.readers, h("td", { class: "actions" }, cells.stop, cells.save));
    held = { run: null, tr, cells };
    runRows.set(run.runId, held);
  }
  held.tr.classList.toggle("selected", run.runId === state.selectedRun);
  if (held.run !== run) {
    const { tr, cells } = held;
    const statusChanged = held.run?.status !== run.status || held.run?.live !== run.live;
    held.run = run;
    tr.dataset.status = run.status;
    tr.dataset.live = run.live;
    if (statusChanged) {
      cells.status.className = `run-status rs-${run.status}${run.live ? " live" : ""}`;
      cells.status.textContent = run.pinned ? `${run.status} (pinned)` : run.status;
      cells.stop.disabled = !run.live;
      cells.stop.title = run.live ? `POST /__mock/runs/${run.runId}/stop: cancel the run` : "The run is over";
      // A pinned run was never served (its scenario is in the fixtures); a live one has not ended yet.
      cells.save.disabled = run.pinned || run.live;
      cells.save.title = run.pinned ? "A pinned run was never served: its scenario is the fixture's own"
        : run.live ? "The run is still going: its scenario can be saved when it ends"
          : `GET /__mock/runs/${run.runId}/scenario: download the run as a scenario file`;
    }
    setText(cells.chunks, run.chunks);
    setText(cells.readers, run.readers);
  }
  return held.tr;
}

function renderRuns() {
  const runs = [...state.runs.values()].reverse(); // newest first
  reconcile($("#run-rows"), runs.slice(0, MAX_RUN_ROWS).map(runRow));
  $("#runs-empty").hidden = runs.length > 0;
  const live = runs.filter((r) => r.live).length;
  $("#runs-count").textContent = `${plural(live, "live run")} · ${runs.length.toLocaleString("en-US")} kept`;
  if (runView) renderRunHead();
  renderStreamTitle();
}

// Scenarios
function renderScenarios() {
  const rows = state.scenarios.map((s) => h("tr", { dataset: { scenario: s.name } },
    h("td", {}, h("code", { text: s.name })),
    h("td", {}, h("span", { class: `kind kind-${s.kind}`, text: s.kind })),
    h("td", { class: "description", text: s.description }),
    h("td", { class: "actions" }, h("button", {
      type: "button", class: "use-next", text: "Use for next request",
      title: `POST /__mock/scenarios/next {"name": "${s.name}"}`,
    }))));
  $("#scenario-rows").replaceChildren(...rows);
  // The journal's scenario filter offers every scenario.
  const select = $("#filters").elements.scenario;
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "", text: "any scenario" }), h("option", { value: "-", text: "no scenario" }),
    ...state.scenarios.map((s) => h("option", { value: s.name, text: s.name })));
  select.value = state.scenarios.some((s) => s.name === chosen) || chosen === "-" ? chosen : "";
}

function renderQueue() {
  const el = $("#queue");
  if (!state.queue.length) {
    el.replaceChildren(h("span", { class: "muted", text: "their own scenario (nothing queued)" }));
    return;
  }
  el.replaceChildren(...state.queue.map((name) => h("span", { class: "chip", text: name })));
}

// ------------------------------------------------------------------------------------------- chunks

/** A run's chunks with when each was produced; fed a run's chunkLog and its live chunk events, in any
 * order (each index once): drawn in index order as far as they are contiguous. A chunk event can arrive
 * before the log that precedes it (the list was made while they were on their way): a list that sees a
 * hole reads the run's whole log again, which holds every chunk the page has seen. */
class ChunkList {
  constructor(runId) {
    this.runId = runId;
    this.chunks = [];
    this.drawn = 0;
    this.last = -1; // the highest index held
    this.filling = false;
    this.text = "";
    this.items = h("ol", { class: "chunks" });
    this.assembled = h("p", { class: "assembled", title: "The text-delta chunks, joined" });
    this.note = h("p", { class: "muted more", hidden: true });
    this.el = h("div", { class: "chunk-list", dataset: { runId } }, this.assembled, this.items, this.note);
    chunkLists.add(this);
  }

  add(item) {
    this.put(item);
    this.checkHoles();
  }

  addAll(log) {
    for (const item of log) this.put(item);
    this.checkHoles();
  }

  put({ index, atMs, chunk }) {
    if (this.chunks[index]) return;
    this.chunks[index] = { index, atMs, chunk };
    this.last = Math.max(this.last, index);
    invalidate("chunks");
  }

  checkHoles() {
    let next = this.drawn;
    while (this.chunks[next]) next += 1;
    if (next <= this.last) this.fill();
  }

  /** Read the run's whole chunk log (once at a time; again after it if a hole is left). */
  async fill() {
    if (this.filling) return;
    this.filling = true;
    try {
      const { chunkLog } = await api(`runs/${encodeURIComponent(this.runId)}`);
      if (!chunkLists.has(this)) return;
      for (const item of chunkLog) this.put(item);
    } catch (error) {
      console.warn(`inspector: could not read the chunks of ${this.runId}:`, error);
      return;
    } finally {
      this.filling = false;
    }
    this.checkHoles();
  }

  draw() {
    const box = this.items;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const rows = document.createDocumentFragment();
    while (this.chunks[this.drawn]) {
      const { index, atMs, chunk } = this.chunks[this.drawn];
      if (chunk?.type === "text-delta" && typeof chunk.delta === "string") this.text += chunk.delta;
      if (index < MAX_CHUNK_ROWS) {
        const { type, ...rest } = chunk ?? {};
        rows.append(h("li", { dataset: { index } },
          h("span", { class: "idx", text: index }),
          h("span", { class: "at", text: `+${millis(atMs)} ms` }),
          h("span", { class: `type t-${type}`, text: type ?? "?" }),
          h("code", { class: "body", text: Object.keys(rest).length ? JSON.stringify(rest) : "" })));
      }
      this.drawn += 1;
    }
    box.append(rows);
    this.assembled.textContent = this.text;
    this.assembled.hidden = !this.text;
    this.note.hidden = this.drawn <= MAX_CHUNK_ROWS;
    this.note.textContent = `… and ${(this.drawn - MAX_CHUNK_ROWS).toLocaleString("en-US")} more chunks`;
    this.el.dataset.count = String(this.drawn);
    if (atBottom) box.scrollTop = box.scrollHeight;
    if (this === runView?.list) renderRunHead();
    if (this === detailView.list) renderStreamTitle();
  }

  close() {
    chunkLists.delete(this);
  }
}

// ------------------------------------------------------------------------------- the request's detail

function clearDetail() {
  state.selectedSeq = null;
  detailView.streamTitle = null;
  detailView.list?.close();
  detailView.list = null;
  $("#detail-summary").textContent = "";
  $("#detail-body").replaceChildren(h("p", { class: "empty", text: "Select a request in the journal to see its headers, body, response and stream." }));
}

function selectRequest(seq) {
  if (state.selectedSeq === seq) return;
  state.selectedSeq = seq;
  invalidate("journal");
  loadDetail();
}

async function loadDetail() {
  const seq = state.selectedSeq;
  const ask = ++state.detailAsk;
  try {
    const detail = await api(`requests/${seq}`);
    if (ask === state.detailAsk && seq === state.selectedSeq) renderDetail(detail);
  } catch (error) {
    if (ask !== state.detailAsk) return;
    $("#detail-body").replaceChildren(h("p", { class: "empty", text: error.status === 404
      ? `Request ${seq} is no longer in the journal.` : `Could not read request ${seq}: ${error.message}` }));
  }
}

const refreshDetail = coalesce(loadDetail, 100);

function section(key, title, ...content) {
  const details = h("details", { dataset: { section: key }, open: detailView.open[key] ?? true },
    h("summary", { text: title }), ...content);
  details.addEventListener("toggle", () => { detailView.open[key] = details.open; });
  return details;
}

function headerTable(headers) {
  return h("table", { class: "kv" }, h("tbody", {}, headers.map(([name, value]) =>
    h("tr", {}, h("th", { text: name }), h("td", { text: value })))));
}

function renderDetail(detail) {
  const pane = $("#detail-body");
  const scrolled = pane.scrollTop;
  const run = detail.run;
  if (detailView.list && detailView.list.runId !== run?.runId) {
    detailView.list.close();
    detailView.list = null;
  }
  if (run && !detailView.list) detailView.list = new ChunkList(run.runId);
  if (run) detailView.list.addAll(run.chunkLog);

  $("#detail-summary").textContent = `#${detail.seq}`;
  const body = detail.request.body;
  const meta = [
    ["time", clock(detail.time)], ["account", detail.account], ["scenario", detail.scenario],
    ["run", detail.runId], ["duration", detail.done ? `${millis(detail.durationMs)} ms` : "in progress"],
  ].filter(([, v]) => v !== null && v !== undefined);
  const parts = [
    h("div", { class: "detail-head", dataset: { seq: detail.seq } },
      h("span", { class: "method", text: detail.method }),
      h("code", { class: "path", text: detail.path }),
      h("span", { class: statusClass(detail.status), text: detail.status || "…" })),
    h("dl", { class: "meta" }, meta.map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", { text: v })))),
    section("req-headers", `Request headers (${detail.request.headers.length})`, headerTable(detail.request.headers)),
    section("req-body", "Request body", h("pre", { class: "body", text: body === null ? "(empty)"
      : typeof body === "string" ? body : JSON.stringify(body, null, 2) })),
    section("res-headers", `Response ${detail.response.status || "(not yet)"}, headers (${detail.response.headers.length})`,
      headerTable(detail.response.headers)),
  ];
  detailView.streamTitle = null;
  if (run) {
    const stream = section("stream", "", detailView.list.el);
    detailView.streamTitle = stream.querySelector("summary");
    detailView.run = run;
    parts.push(stream);
    renderStreamTitle();
  }
  pane.replaceChildren(...parts);
  pane.scrollTop = scrolled;
}

/** The detail's stream title, from the run as the events keep it (the detail was read at one moment). */
function renderStreamTitle() {
  if (!detailView.streamTitle) return;
  const run = state.runs.get(detailView.run.runId) ?? detailView.run;
  setText(detailView.streamTitle, `Stream: run ${run.runId} · ${run.scenario} · ${run.status}${run.live ? " (live)" : ""}`
    + ` · ${plural(detailView.list.drawn, "chunk")}`);
}

// ----------------------------------------------------------------------------------------- a run's chunks

function clearRunView() {
  state.selectedRun = null;
  runView?.list.close();
  runView = null;
  $("#run-chunks").replaceChildren(h("p", { class: "empty", text: "Select a run to watch its chunks as they are produced." }));
}

function selectRun(runId) {
  if (state.selectedRun === runId) return;
  runView?.list.close();
  state.selectedRun = runId;
  runView = { runId, list: new ChunkList(runId), head: h("div", { class: "run-head" }) };
  $("#run-chunks").replaceChildren(runView.head, runView.list.el);
  renderRunHead();
  invalidate("runs");
  loadRunChunks(runId);
}

async function loadRunChunks(runId) {
  try {
    const { chunkLog, ...summary } = await api(`runs/${encodeURIComponent(runId)}`);
    if (runView?.runId !== runId) return;
    runView.list.addAll(chunkLog);
    upsertRun(summary);
  } catch (error) {
    if (runView?.runId === runId) notify(`Could not read run ${runId}: ${error.message}`, "error");
  }
}

function renderRunHead() {
  const run = state.runs.get(runView.runId);
  const parts = [h("code", { text: runView.runId })];
  if (run) {
    parts.push(h("span", { class: "scenario", text: run.scenario }),
      h("span", { class: `run-status rs-${run.status}${run.live ? " live" : ""}`, text: run.status }));
  }
  parts.push(h("span", { class: "muted", text: plural(runView.list.drawn, "chunk") }));
  runView.head.replaceChildren(...parts);
}

async function stopRun(runId, button) {
  button.disabled = true;
  try {
    const { stopped } = await api(`runs/${encodeURIComponent(runId)}/stop`, { method: "POST" });
    notify(stopped ? `Stopped ${runId}` : `${runId} was already over`);
  } catch (error) {
    notify(`Could not stop ${runId}: ${error.message}`, "error");
    button.disabled = false;
  }
}

/** Download the run as it was served, as a scenario file for fixtures/scenarios/. */
async function saveScenario(runId, button) {
  button.disabled = true;
  try {
    const { text, name, type } = await api(`runs/${encodeURIComponent(runId)}/scenario`, { file: true });
    const url = URL.createObjectURL(new Blob([text], { type }));
    const link = h("a", { href: url, download: name ?? `${runId}.yaml` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0); // after the click has started the download
    notify(`Saved ${name}: put it in fixtures/scenarios/`);
  } catch (error) {
    notify(`Could not save ${runId} as a scenario: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------- actions

async function useNext(name, button) {
  button.disabled = true;
  try {
    const { queued } = await api("scenarios/next", { method: "POST", body: { name } });
    setQueue(queued);
    notify(`${name} is queued for the next request`);
  } catch (error) {
    notify(`Could not queue ${name}: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

async function resetWorld(button) {
  button.disabled = true;
  try {
    const { runsCancelled } = await api("reset", { method: "POST" });
    notify(`World ${state.world} reset: ${plural(runsCancelled, "run")} cancelled`);
    if (document.body.dataset.events !== "open") {
      clearWorld();
      loadAll();
    } // otherwise its reset event clears and reloads the page
  } catch (error) {
    notify(`Could not reset: ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

function wire() {
  const journal = $("#journal-rows");
  journal.addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-seq]");
    if (tr) selectRequest(Number(tr.dataset.seq));
  });
  journal.addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr[data-seq]");
    if (!tr) return;
    const next = { ArrowDown: tr.nextElementSibling, ArrowUp: tr.previousElementSibling }[event.key];
    if (next) {
      event.preventDefault();
      next.focus();
      selectRequest(Number(next.dataset.seq));
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      selectRequest(Number(tr.dataset.seq));
    }
  });
  $("#run-rows").addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-run-id]");
    if (!tr) return;
    const stop = event.target.closest("button.stop");
    const save = event.target.closest("button.save-scenario");
    if (stop) stopRun(tr.dataset.runId, stop);
    else if (save) saveScenario(tr.dataset.runId, save);
    else selectRun(tr.dataset.runId);
  });
  $("#run-rows").addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr[data-run-id]");
    if (tr && event.target === tr && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      selectRun(tr.dataset.runId);
    }
  });
  $("#scenario-rows").addEventListener("click", (event) => {
    const button = event.target.closest("button.use-next");
    if (button) useNext(button.closest("tr").dataset.scenario, button);
  });
  const form = $("#filters");
  form.addEventListener("input", () => invalidate("journal"));
  form.addEventListener("submit", (event) => event.preventDefault());
  const worlds = $("#world");
  worlds.addEventListener("change", () => switchWorld(worlds.value));
  worlds.addEventListener("focus", refreshWorlds); // worlds come and go without events (dropped when idle)
  worlds.addEventListener("pointerdown", refreshWorlds);
  $("#reset").addEventListener("click", (event) => resetWorld(event.currentTarget));
  $("#notice").addEventListener("click", (event) => { event.currentTarget.hidden = true; });
}

wire();
renderWorlds();
renderQueue();
watchEvents();
