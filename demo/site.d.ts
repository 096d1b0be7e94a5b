// Types of the demo's own script globals (host functions) and shared modules, for editors: a site
// declares its own the same way, next to `backend-scripts/script` (see the README).

declare module 'validators' {
  /** Whether `s` looks like an email address. */
  export function isEmail(s: unknown): boolean;
  /** `s` trimmed and cut to `max` characters; '' for anything that is not a string. */
  export function cleanText(s: unknown, max: number): string;
}

/** A guestbook entry as pages see it (emails are never given out). */
interface GuestbookEntry {
  name: string;
  message: string;
  /** When it was written, as an ISO date. */
  at: string;
}

/** The guestbook's entries, newest or oldest first, at most `limit` (1 to 50). */
declare function listEntries(order: 'newest' | 'oldest', limit: number): GuestbookEntry[];

/** Adds an entry; throws an Error saying which field is missing or too long. */
declare function addEntry(entry: { name: string; email: string; message: string }): GuestbookEntry;
