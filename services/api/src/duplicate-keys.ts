/** One object or array being read: the keys seen so far (null for an array), the current key or index. */
interface Frame {
  keys: Set<string> | null;
  at: string | number;
}

/** Deeper than this no body the API takes goes (bodies are 4 levels deep): the parser and the schema refuse it. */
const MAX_DEPTH = 64;

/**
 * The path (`destination.config.prefix`) of the first key given twice in
 * one object of the JSON `text`, or null. JSON.parse keeps the last one
 * silently, so `{"dry_run": true, ..., "dry_run": false}` created a real
 * backfill; a query parameter or a CLI option given twice is refused for
 * the same reason. Keys compare as decoded (`"a"` and `"\u0061"` are one).
 * Linear in the text, one pass; text that is not JSON, or deeper than
 * MAX_DEPTH, answers null and is left to the parser and the schema.
 */
export function duplicateKeyPath(text: string): string | null {
  const stack: Frame[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      if (end < 0) return null;
      if (expectKey && top?.keys) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, end + 1)) as string;
        } catch {
          return null;
        }
        top.at = key;
        if (top.keys.has(key)) return stack.map((f) => String(f.at)).join('.');
        top.keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= MAX_DEPTH) return null;
      const object = c === 0x7b;
      stack.push({ keys: object ? new Set() : null, at: object ? '' : 0 });
      expectKey = object;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */ && top) {
      if (top.keys) expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return null;
}

/** The index of the quote that ends the string starting at `start`, or -1. */
function endOfString(text: string, start: number): number {
  for (let j = start + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22) return j;
  }
  return -1;
}
