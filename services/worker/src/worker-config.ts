import { ConfigError, loadConfig, type Config, type ConfigProblem, type Role } from '@bx/core';
import { destinationEnvironmentProblems } from '@bx/destinations';

/**
 * The worker's configuration: the services' variables and the destinations'
 * own (POSTGRES_LOCK_TIMEOUT_MS, ...), every bad one named in one
 * ConfigError. A bad destination setting found only when a run needs it
 * would fail each of those runs for good, and auto-pause their exports.
 * `roles`: the roles of the process (`npm start` runs all three).
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv, roles: readonly Role[] = ['worker']): Config {
  let config: Config | null = null;
  const problems: ConfigProblem[] = [];
  try {
    config = loadConfig(env, roles);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  problems.push(...destinationEnvironmentProblems(env));
  if (problems.length > 0 || !config) throw ConfigError.of(problems);
  return config;
}
