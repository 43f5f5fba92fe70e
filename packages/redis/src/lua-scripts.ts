import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './redis-connection';

/**
 * Lua scripts kept in `.lua` files, as BullMQ keeps its own: a package's
 * scripts live in its `lua/` folder, beside `src/` and `dist/`. A line
 * `-- @include name` is replaced by `lua/includes/name.lua`. Every key a
 * script touches is passed in KEYS (so scripts run on Redis Cluster); the
 * first argument of a call is the number of keys.
 */
export class LuaScripts {
  private readonly cache = new Map<string, string>();

  /** `packageRoot`: the folder holding `lua/` (a package's `__dirname/..`). */
  constructor(private readonly packageRoot: string) {}

  /** The text of a script with its includes resolved. */
  source(name: string): string {
    let text = this.cache.get(name);
    if (text === undefined) {
      text = this.read(`${name}.lua`).replace(/^-- @include (\S+)\s*$/gm, (_, inc: string) =>
        this.read(join('includes', `${inc}.lua`)),
      );
      this.cache.set(name, text);
    }
    return text;
  }

  /**
   * Registers the scripts as commands of a connection (ioredis defineCommand:
   * calls send EVALSHA, and the script again after NOSCRIPT). Idempotent.
   */
  define(redis: RedisClient, names: readonly string[]): void {
    for (const name of names) {
      const command = commandName(name);
      if (typeof (redis as unknown as Record<string, unknown>)[command] !== 'function') {
        redis.defineCommand(command, { lua: this.source(name) });
      }
    }
  }

  private read(file: string): string {
    return readFileSync(join(this.packageRoot, 'lua', file), 'utf8');
  }
}

type Target = RedisClient | ChainableCommander;
type Call = (...args: Array<string | number>) => unknown;

/** The command a script is registered as: `bx` and the file name in camel case. */
export function commandName(script: string): string {
  return 'bx' + script.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** Calls a script registered with `LuaScripts.define`: keys, then arguments. */
export function callScript(
  target: RedisClient,
  script: string,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): Promise<unknown>;
export function callScript(
  target: ChainableCommander,
  script: string,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): ChainableCommander;
export function callScript(
  target: Target,
  script: string,
  keys: readonly string[],
  args: ReadonlyArray<string | number>,
): unknown {
  const fn = (target as unknown as Record<string, Call>)[commandName(script)];
  if (!fn) throw new Error(`Lua script ${script} is not defined on this connection`);
  return fn.call(target, keys.length, ...keys, ...args);
}
