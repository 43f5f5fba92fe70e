import { PermanentError } from '@bx/core';
import type { Client } from 'pg';
import type { Readable } from 'node:stream';

/**
 * Most bytes a session reads from the server by default: the answers of a
 * run's statements (table checks, DELETE and COPY outcomes, receipts) are a
 * few KB. A server of a token holder's own (a public `host`) that sent one
 * message of 2 GB, or messages without end, had the pg driver buffer them
 * all: POST /test took the API process past 700 MB in 10 s on loopback.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/**
 * Makes `client` end its connection with a PermanentError once the server
 * sent more than `max` bytes (counted on the decrypted stream, as the driver
 * reads it), before the driver buffers them.
 */
export function capAnswers(client: Client, max: number): void {
  if (!Number.isFinite(max)) return;
  const connection = (client as unknown as { connection: { attachListeners(stream: Readable): void } }).connection;
  const attach = connection.attachListeners.bind(connection);
  let received = 0;
  connection.attachListeners = (stream) => {
    // Before the driver's own listener, so the chunk past the cap is the last one it takes.
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > max && !stream.destroyed) {
        stream.destroy(
          new PermanentError(
            `PostgreSQL server sent more than ${max / (1024 * 1024)} MiB in answer; the connection was closed`,
            { code: 'AnswerTooLarge' },
          ),
        );
      }
    });
    attach(stream);
  };
}
