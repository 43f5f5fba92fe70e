import { PermanentError } from '@bx/core';
import { z } from 'zod';
import type { PostgresDestinationOptions } from './postgres-destination';

const ms = (min: number) => z.coerce.number().int().min(min).optional();

const schema = z.object({
  /** Longest a run waits for a lock on the table or the interval's rows, in ms; then it fails retryable. Default 60000. */
  POSTGRES_LOCK_TIMEOUT_MS: ms(1),
  /** Longest wait for a connection (the host's lookup, TCP, TLS and login), in ms. Default 30000. */
  POSTGRES_CONNECT_TIMEOUT_MS: ms(100),
});

/** The environment variables the Postgres destination reads (the README lists each). */
export const POSTGRES_VARIABLES: readonly string[] = Object.keys(schema.shape);

/**
 * The worker's settings of the Postgres destination, from its environment
 * (read when the first Postgres run starts; empty means the default). A bad
 * value fails the runs permanently, naming the variable.
 */
export function postgresOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<PostgresDestinationOptions> {
  const input = Object.fromEntries(Object.keys(schema.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PermanentError(`Invalid configuration: ${String(issue.path[0])}: ${issue.message}`, {
      code: 'InvalidConfiguration',
    });
  }
  const { POSTGRES_LOCK_TIMEOUT_MS: lockMs, POSTGRES_CONNECT_TIMEOUT_MS: connectMs } = parsed.data;
  return { ...(lockMs !== undefined && { lockMs }), ...(connectMs !== undefined && { connectMs }) };
}
