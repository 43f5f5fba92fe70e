/**
 * Words a destination's server chose (an S3 error's Message, a Snowflake
 * login answer, a PostgreSQL ErrorResponse) as our errors carry them: in
 * run records, run logs, `POST /test` answers, Bull Board, the console,
 * alert webhooks and `npm run verify`. The server may be a token holder's
 * own: its words must not pass for ours (a forged log line after a newline,
 * terminal escapes, a machine code of its choosing, pages of text), nor
 * carry an export's secret back out (a server that echoes the password it
 * was sent).
 */

/** Most characters of a server's words kept in one error message. */
export const REMOTE_TEXT_MAX_CHARS = 1000;

// Control and format characters (newlines, ESC, bidi overrides, zero-width),
// line and paragraph separators, lone surrogates; and what would end the quotation.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}"\\]/gu;

/**
 * A server's words as one quotation: `"..."`, each control or format
 * character written as an escape (`\n`, `\u001b`), a quote or backslash
 * escaped, cut to `max` characters (cutWords). Nothing in it can end the
 * quotation or start a line.
 */
export function quoteRemote(text: string, max = REMOTE_TEXT_MAX_CHARS): string {
  return `"${cutWords(text, max).replace(UNSAFE, escapeChar)}"`;
}

/**
 * `text` cut to at most `max` characters and then back to its last
 * whitespace, with a `…` where it was cut; as it is when it is short
 * enough. The word the cut split goes whole (all of the text when it is
 * one word), so a secret a server wrote back and the cut split shows none
 * of its first part: decided without the secrets, which are not known
 * where servers' words are cut, and which withoutSecretValues matches only
 * whole (see there).
 */
export function cutWords(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  let end = max;
  while (end > 0 && !/\s/u.test(chars[end - 1]!)) end--;
  return `${chars.slice(0, end).join('')}${CUT}`;
}

function escapeChar(ch: string): string {
  switch (ch) {
    case '"':
      return '\\"';
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/** What an error code of a server's must look like to become ours: `AccessDenied`, `KMS.NotFoundException`, `390100`. */
const CODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * A server's error code as the code of our error (the `code` of a `POST
 * /test` answer): kept when it is a plain word of letters, digits, dots,
 * dashes and underscores (at most 64), else `fallback`.
 */
export function remoteCode(code: unknown, fallback = 'Unknown'): string {
  return typeof code === 'string' && CODE.test(code) ? code : fallback;
}

/** Secret values shorter than this are not searched for (they would match ordinary words). */
const MIN_SECRET_CHARS = 4;

/** The mark of a cut (quoteRemote, shownErrorMessage). */
const CUT = '…';

/**
 * Each way a server may write `secret` back: as sent, JSON-escaped, escaped as quoteRemote
 * quotes it, percent-encoded (upper- or lowercase hex, `%20` or `+` for a space, with or
 * without `!'()*~` encoded).
 */
function formsOf(secret: string): string[] {
  const encoded = [
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
  ];
  const percent = encoded.flatMap((e) => [e, e.replace(/%20/g, '+')]);
  return [
    secret,
    JSON.stringify(secret).slice(1, -1),
    secret.replace(UNSAFE, escapeChar),
    ...percent,
    ...percent.map((e) => e.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())),
  ];
}

/** Every form of every secret value (strings of MIN_SECRET_CHARS or more), longest first. */
function secretForms(secrets: Iterable<unknown>): string[] {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_CHARS) continue;
    for (const form of formsOf(secret)) forms.add(form);
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * `text` with every occurrence of each secret value replaced by
 * `[redacted]`, also as the server may have written it back: JSON-escaped,
 * quoted, or percent-encoded. The longest forms are matched first, so a
 * secret inside another (a password that starts the key's passphrase)
 * leaves nothing of the longer one. Values that are not strings, or shorter
 * than MIN_SECRET_CHARS, are skipped.
 *
 * Only whole forms: redacting text that merely starts a secret (a secret
 * cut in half) answered a token holder whether text of theirs does. A
 * schema named `abcd…`, whose "does not exist" came back as `[redacted]…`
 * exactly when the password starts with `abcd`, told the password four
 * characters at a time, then one. Cuts drop the split word instead
 * (cutWords). `visible` are values the reader sees anyway (the export's
 * settings that are not secret): wherever one occurs it is shown as it is.
 */
export function withoutSecretValues(text: string, secrets: Iterable<unknown>, visible: Iterable<unknown> = []): string {
  const forms = secretForms(secrets);
  if (forms.length === 0) return text;
  // Text the token holder can read anyway (the export's other settings) stays as it is, even where
  // a secret is in it: a schema named after the whole password came back `[redacted]` exactly when
  // the guess was right, a yes or no per guess that never reached the destination's own login.
  const kept = secretForms(visible).filter((v) => forms.some((f) => v.includes(f)));
  const alternatives = (list: string[]) => list.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  if (kept.length === 0) return text.replace(new RegExp(alternatives(forms), 'g'), '[redacted]');
  const either = new RegExp(`(${alternatives(kept)})|${alternatives(forms)}`, 'g');
  return text.replace(either, (match: string, keep: string | undefined) => (keep === undefined ? '[redacted]' : match));
}

/** Most characters of an error message a run records or `POST /test` answers with. */
export const ERROR_MESSAGE_MAX_CHARS = 4000;

// What quoteRemote escapes, but quotes: the message's own words may quote.
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/**
 * An error's message as a run records it (its `error`, its log, its job's
 * failedReason) and as `POST /test` answers it: the export's own secret
 * values redacted (withoutSecretValues), one line (control and format
 * characters as escapes, whatever path the text came by), at most
 * ERROR_MESSAGE_MAX_CHARS characters, escapes and the `…` of a cut included
 * (an escape is never cut in half).
 */
export function shownErrorMessage(
  message: string,
  secrets: Iterable<unknown>,
  visible: Iterable<unknown> = [],
): string {
  // Each character as shown, and how many characters that takes (an escape, several).
  const shown = [...withoutSecretValues(message, secrets, visible)].map((ch) =>
    CONTROL.test(ch) ? { text: escapeChar(ch), size: escapeChar(ch).length } : { text: ch, size: 1 },
  );
  if (shown.reduce((n, piece) => n + piece.size, 0) <= ERROR_MESSAGE_MAX_CHARS)
    return shown.map((p) => p.text).join('');
  let room = ERROR_MESSAGE_MAX_CHARS - 1; // the `…`
  let kept = '';
  for (const piece of shown) {
    if (piece.size > room) break;
    kept += piece.text;
    room -= piece.size;
  }
  return `${kept}${CUT}`;
}
