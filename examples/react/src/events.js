// What happened, for tests (window.recoupEvents; also window.recoupChat.events) and for anyone reading the
// page with devtools open.

export const events = [];
window.recoupEvents = events;

export function note(event, details = {}) {
  events.push({ event, at: Math.round(performance.now()), ...details });
  window.dispatchEvent(new Event("recoup-chat-event"));
}
