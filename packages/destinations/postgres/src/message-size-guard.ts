import { PermanentError } from '@bx/core';
import type { Readable } from 'node:stream';

/**
 * Largest backend message a session reads, in bytes. What the destination
 * reads is small: errors and notices (PostgreSQL cuts a COPY line in its
 * context to 100 bytes; a key in a detail is under the index's ~2.7 kB),
 * catalog rows, receipts, and the read-back's rows of a uuid and a number.
 * `pg` buffers each message whole before it parses it: a server announcing a
 * 2 GB ErrorResponse at login and sending it had the API read ~90 MB within
 * the 10 s login budget of one POST /test.
 */
export const MAX_BACKEND_MESSAGE_BYTES = 1024 * 1024;

/**
 * Most bytes of messages other than notices a session reads by default: the
 * answers of a run's statements (table checks, DELETE and COPY outcomes,
 * receipts) are a few KB, but `pg` keeps every row of a result until the
 * statement ends, so a server of a token holder's own (a public `host`)
 * answering with rows without end filled the process. Notices
 * (NoticeResponse, e.g. a trigger's RAISE NOTICE per row) are handed on one
 * by one and kept by nobody: they do not count.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** A backend message announced larger than MAX_BACKEND_MESSAGE_BYTES: the session stopped reading. */
export class MessageTooLargeError extends Error {
  readonly code = 'MessageTooLarge';

  constructor(type: number, bytes: number, max: number) {
    super(
      `the server sent a message ('${String.fromCharCode(type)}'${type === 0x45 ? ', an error' : type === 0x4e ? ', a notice' : ''}) ` +
        `of ${bytes} bytes, more than the ${max} bytes this client reads; stopped reading`,
    );
  }
}

const NOTICE = 0x4e; // 'N'

/**
 * Follows the frames of the backend protocol on `stream` (a type byte, then
 * a 4-byte length that counts itself) and destroys the stream as soon as a
 * header announces more than `max` bytes, or the messages other than
 * notices add up to more than `maxTotal`, before the driver buffers the
 * body. Listens beside the driver's parser, first, so the driver sees at
 * most the chunk that carried the header.
 */
export function guardMessageSizes(
  stream: Readable,
  max = MAX_BACKEND_MESSAGE_BYTES,
  maxTotal = MAX_ANSWER_BYTES,
): void {
  const header = Buffer.alloc(5);
  let have = 0; // bytes of the current header read so far
  let skip = 0; // bytes of the current message's body still to pass
  let total = 0; // bytes of the messages other than notices announced so far
  stream.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      const n = Math.min(5 - have, chunk.length - i);
      chunk.copy(header, have, i, i + n);
      have += n;
      i += n;
      if (have < 5) return;
      have = 0;
      const body = header.readUInt32BE(1) - 4;
      if (body > max) return void stream.destroy(new MessageTooLargeError(header[0]!, body + 5, max));
      if (header[0] !== NOTICE && (total += body + 5) > maxTotal) {
        return void stream.destroy(
          new PermanentError(
            `PostgreSQL server sent more than ${maxTotal / (1024 * 1024)} MiB in answer; the connection was closed`,
            { code: 'AnswerTooLarge' },
          ),
        );
      }
      skip = body;
    }
  });
}
