/** A UTF-16 surrogate without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` holds a lone surrogate: JSON can carry one (`"\ud800"`),
 * but it is no character. Encoded as UTF-8 it becomes U+FFFD, so an event
 * filter of one matched the events named U+FFFD, and no URL (so no S3 key)
 * can carry it.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
