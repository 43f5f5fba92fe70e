import { PermanentError, millisecondsSetting, type ConfigProblem } from '@bx/core';
import { z } from 'zod';
import type { PostgresDestinationOptions } from './postgres-destination';

const schema = z.object({
  /** Longest a run waits for a lock on the table or the interval's rows, in ms; then it fails retryable. Default 60000. */
  POSTGRES_LOCK_TIMEOUT_MS: millisecondsSetting(1).optional(),
  /** Longest wait for a connection (the host's lookup, TCP, TLS and login), in ms. Default 30000. */
  POSTGRES_CONNECT_TIMEOUT_MS: millisecondsSetting(100).optional(),
});

/** The environment variables the Postgres destination reads (the README lists each). */
export const POSTGRES_VARIABLES: readonly string[] = Object.keys(schema.shape);

function parse(env: NodeJS.ProcessEnv) {
  const input = Object.fromEntries(Object.keys(schema.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  return schema.safeParse(input);
}

/** What is wrong with the worker's POSTGRES_* settings (it names them at start, and stops). */
export function postgresEnvironmentProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  const parsed = parse(env);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ variable: String(issue.path[0]), message: issue.message }));
}

/**
 * The worker's settings of the Postgres destination, from its environment
 * (read when the first Postgres run starts; empty means the default). The
 * worker checked them at start; a bad value fails the runs permanently,
 * naming the variable.
 */
export function postgresOptionsFromEnv(env: NodeJS.ProcessEnv): Partial<PostgresDestinationOptions> {
  const parsed = parse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PermanentError(`Invalid configuration: ${String(issue.path[0])}: ${issue.message}`, {
      code: 'InvalidConfiguration',
    });
  }
  const { POSTGRES_LOCK_TIMEOUT_MS: lockMs, POSTGRES_CONNECT_TIMEOUT_MS: connectMs } = parsed.data;
  return { ...(lockMs !== undefined && { lockMs }), ...(connectMs !== undefined && { connectMs }) };
}
