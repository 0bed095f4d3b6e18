// What the Node client suites (ai_sdk_cases.mjs, workflow_transport_cases.mjs) share: running their cases
// (each only observes and returns what the client ended with; a case that throws is recorded as a crash),
// describing errors, and the chat state their AbstractChat (the engine under useChat) records into.

// What an error says, for the Python side (its name, message, status code and cause).
export function errorInfo(error) {
  if (error == null) return null;
  const cause = error.cause;
  return {
    name: error.name ?? null,
    message: String(error.message ?? error),
    isTypeError: error instanceof TypeError,
    statusCode: error.statusCode ?? null,
    cause: cause == null ? null : { name: cause.name ?? null, code: cause.code ?? null, message: String(cause.message ?? cause) },
  };
}

// Runs `names` of `cases`: the others first, `concurrency` at a time; then those `isPaced` picks, all at once.
// Paced cases race the server's clock (a resume must come within the resume window), so they run once the
// fast ones have warmed the process up (a cold process spends its first second compiling), with nothing
// else going on. Returns {results, durations, elapsedMs}.
export async function runCases(cases, names, { isPaced, concurrency = 6 }) {
  const results = {};
  const durations = {};
  async function runAll(queue, width) {
    async function worker() {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        const started = Date.now();
        try {
          results[name] = await cases[name]();
        } catch (error) {
          results[name] = { crash: errorInfo(error), stack: String(error?.stack ?? "") };
        }
        durations[name] = Date.now() - started;
      }
    }
    await Promise.all(Array.from({ length: Math.min(queue.length, width) }, worker));
  }
  const started = Date.now();
  await runAll(names.filter((name) => !isPaced(name)), concurrency);
  const paced = names.filter(isPaced);
  await runAll(paced, paced.length);
  return { results, durations, elapsedMs: Date.now() - started };
}

// The chat state an AbstractChat writes to (what useChat keeps in React state), recording every status.
export class RecordingState {
  constructor(messages = []) {
    this.messages = messages;
    this.statusHistory = [];
    this._status = "ready";
    this.error = undefined;
    this.snapshot = (thing) => structuredClone(thing);
  }
  get status() { return this._status; }
  set status(value) { this._status = value; this.statusHistory.push(value); }
  pushMessage(message) { this.messages = this.messages.concat(message); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(index, message) {
    this.messages = [...this.messages.slice(0, index), this.snapshot(message), ...this.messages.slice(index + 1)];
  }
}
