// A shared module: every page's script may `import { isEmail, cleanText } from 'validators'`.
// The middleware compiles the folder once and again whenever a file in it changes.

/** Whether `s` looks like an email address: something@something.tld, without spaces. */
export function isEmail(s) {
  return typeof s === 'string' && s.length <= 254 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s);
}

/** `s` trimmed and cut to `max` characters; '' for anything that is not a string. */
export function cleanText(s, max) {
  return typeof s === 'string' ? s.trim().slice(0, max) : '';
}
