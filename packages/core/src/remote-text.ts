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

/**
 * `text` with every occurrence of each secret value replaced by
 * `[redacted]`, also as the server may have written it back: JSON-escaped
 * or percent-encoded. Values that are not strings, or shorter than
 * MIN_SECRET_CHARS, are skipped.
 */
export function withoutSecretValues(text: string, secrets: Iterable<unknown>): string {
  let out = text;
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_CHARS) continue;
    const forms = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
    for (const form of forms) out = out.split(form).join('[redacted]');
  }
  return out;
}

/** Most characters of an error message a run records or `POST /test` answers with. */
export const ERROR_MESSAGE_MAX_CHARS = 4000;

// What quoteRemote escapes, but quotes: the message's own words may quote.
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

/**
 * An error's message as a run records it (its `error`, its log, its job's
 * failedReason) and as `POST /test` answers it: the export's own secret
 * values redacted (withoutSecretValues), one line (control and format
 * characters as escapes, whatever path the text came by), at most
 * ERROR_MESSAGE_MAX_CHARS characters.
 */
export function shownErrorMessage(message: string, secrets: Iterable<unknown>): string {
  const chars = [...withoutSecretValues(message, secrets)];
  const kept =
    chars.length > ERROR_MESSAGE_MAX_CHARS ? `${chars.slice(0, ERROR_MESSAGE_MAX_CHARS).join('')}…` : chars.join('');
  return kept.replace(CONTROL, escapeChar);
}
