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
 * escaped, cut to `max` characters (then `…`). Nothing in it can end the
 * quotation or start a line.
 */
export function quoteRemote(text: string, max = REMOTE_TEXT_MAX_CHARS): string {
  const chars = [...text];
  const kept = chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
  return `"${kept.replace(UNSAFE, escapeChar)}"`;
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

/** A prefix of a secret this long, left at the end of a cut text, is redacted too. */
const MIN_CUT_PREFIX_CHARS = 8;

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
 * leaves nothing of the longer one. A secret cut in half where a text was
 * cut (before a `…`, or at the end of the text) loses its first part too.
 * Values that are not strings, or shorter than MIN_SECRET_CHARS, are
 * skipped.
 */
export function withoutSecretValues(text: string, secrets: Iterable<unknown>): string {
  const forms = secretForms(secrets);
  if (forms.length === 0) return text;
  const anyForm = new RegExp(forms.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const parts = text.replace(anyForm, '[redacted]').split(CUT);
  return parts
    .map((part, i) => withoutCutPrefix(part, forms, i < parts.length - 1 ? MIN_SECRET_CHARS : MIN_CUT_PREFIX_CHARS))
    .join(CUT);
}

/** `text` without the longest prefix (of `min` characters or more) of a secret's form it ends with. */
function withoutCutPrefix(text: string, forms: string[], min: number): string {
  let longest = 0;
  for (const form of forms) {
    // Where the prefix would start: the first place that starts one is the longest.
    for (let at = Math.max(0, text.length - form.length + 1); at <= text.length - Math.max(min, longest + 1); at++) {
      if (text[at] === form[0] && form.startsWith(text.slice(at))) {
        longest = text.length - at;
        break;
      }
    }
  }
  return longest ? `${text.slice(0, text.length - longest)}[redacted]` : text;
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
export function shownErrorMessage(message: string, secrets: Iterable<unknown>): string {
  // Each character as shown, and how many characters that takes (an escape, several).
  const shown = [...withoutSecretValues(message, secrets)].map((ch) =>
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
