import type { S3Client } from '@aws-sdk/client-s3';
import { PermanentError } from '@bx/core';
import { Transform, type Readable } from 'node:stream';

/**
 * Most bytes of an error answer the SDK reads. S3's error documents are a
 * few hundred bytes; the SDK reads the whole body into one string and parses
 * it, so an endpoint answering a 200 MB error took the process past its heap
 * (4.7 GB) and killed it: a token holder's own endpoint and one /test did it.
 */
export const MAX_ERROR_ANSWER_BYTES = 64 * 1024;
/**
 * Most bytes of any other answer but an object's body: a list of 1,000 keys
 * of 1,024 bytes (the largest page ListObjectsV2 and DeleteObjects answer)
 * is about 1.5 MB of XML.
 */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/**
 * Stops reading an answer past its cap: the SDK gets an error instead of the
 * rest. GetObject's body (the objects `npm run verify` reads back) is a
 * stream the caller reads as it goes, so only its error answers are capped.
 */
export function capAnswers(client: S3Client): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const response = result.response as { statusCode?: number; body?: unknown };
      const failed = (response.statusCode ?? 0) >= 300;
      const streamed = context.commandName === 'GetObjectCommand' && !failed;
      if (!streamed && isReadable(response.body)) {
        response.body = capped(response.body, failed ? MAX_ERROR_ANSWER_BYTES : MAX_ANSWER_BYTES);
      }
      return result;
    },
    // Inside the deserializer (lowest priority of the last step): it reads the capped body.
    { step: 'deserialize', priority: 'low', name: 'bxAnswerCap' },
  );
  return client;
}

function capped(body: Readable, max: number): Readable {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= max) return done(null, chunk);
      body.destroy();
      done(
        new PermanentError(`S3 endpoint answered more than ${max} bytes; stopped reading`, {
          code: 'AnswerTooLarge',
        }),
      );
    },
  });
  body.on('error', (err) => out.destroy(err));
  return body.pipe(out);
}

function isReadable(body: unknown): body is Readable {
  return typeof (body as Readable | undefined)?.pipe === 'function';
}
