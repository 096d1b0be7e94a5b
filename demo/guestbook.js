'use strict';

// The demo's guestbook store, given to page scripts as host functions: `listEntries` and
// `addEntry` are script globals that look synchronous, while here they are async functions on
// Node's thread (a real site would query its database). Entries stay in memory, the newest 100.

const MAX_ENTRIES = 100;

/** An error whose message the script may show (`expose`, as http-errors has it). */
function visible(message) {
  return Object.assign(new Error(message), { expose: true });
}

function guestbook() {
  const entries = [];
  return {
    /** The entries, 'newest' or 'oldest' first, at most `limit` (1 to 50); emails are never given out. */
    async listEntries(order = 'newest', limit = 10) {
      const n = Math.min(Math.max(Number(limit) || 0, 1), 50);
      const sorted = order === 'oldest' ? entries : [...entries].reverse();
      return sorted.slice(0, n).map(({ name, message, at }) => ({ name, message, at }));
    },
    /** Adds an entry; the page has checked it, and the store checks it again. */
    async addEntry(entry) {
      const { name, email, message } = entry ?? {};
      for (const [field, value, max] of [
        ['name', name, 40],
        ['email', email, 254],
        ['message', message, 500],
      ]) {
        if (typeof value !== 'string' || value === '' || value.length > max) throw visible(`the ${field} is missing or too long`);
      }
      const added = { name, email, message, at: new Date().toISOString() };
      entries.push(added);
      if (entries.length > MAX_ENTRIES) entries.shift();
      return { name, message, at: added.at };
    },
  };
}

module.exports = { guestbook };
