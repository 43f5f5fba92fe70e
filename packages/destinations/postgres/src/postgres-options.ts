import { PermanentError, type ConfigProblem } from '@bx/core';
import { z } from 'zod';
import type { PostgresDestinationOptions } from './postgres-destination';

const ms = (min: number) => {
  const error = `must be a whole number of at least ${min}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).optional();
};

const schema = z.object({
  /** Longest a run waits for a lock on the table or the interval's rows, in ms; then it fails retryable. Default 60000. */
  POSTGRES_LOCK_TIMEOUT_MS: ms(1),
  /** Longest wait for a connection (the host's lookup, TCP, TLS and login), in ms. Default 30000. */
  POSTGRES_CONNECT_TIMEOUT_MS: ms(100),
});

/** The environment variables the Postgres destination reads (the README lists each). */
export const POSTGRES_VARIABLES: readonly string[] = Object.keys(schema.shape);

function parse(env: NodeJS.ProcessEnv) {
  const input = Object.fromEntries(Object.keys(schema.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : [])));
  return schema.safeParse(input);
}

/** The Postgres settings of `env` that are invalid, each named (the worker stops at start on any). */
export function postgresEnvironmentProblems(env: NodeJS.ProcessEnv): ConfigProblem[] {
  const parsed = parse(env);
  return parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({ variable: String(issue.path[0]), message: issue.message }));
}

/**
 * The worker's settings of the Postgres destination, from its environment
 * (read when the first Postgres run starts; empty means the default). The
 * worker refuses to start with a bad value (postgresEnvironmentProblems); one
 * that is bad all the same fails the runs permanently, naming the variable.
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
