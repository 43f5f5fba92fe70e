import type { ChainableCommander, Redis } from 'ioredis';

type Target = Redis | ChainableCommander;
type Call = (...args: Array<string | number>) => unknown;

/**
 * Registers a Lua script as a command of this connection (ioredis
 * defineCommand): calls send EVALSHA, not the script text, and ioredis loads
 * the script again when Redis answers NOSCRIPT (after a restart). With
 * thousands of calls per scheduler tick the script text was most of the bytes.
 */
export function defineLua(redis: Redis, name: string, lua: string): void {
  if (typeof (redis as unknown as Record<string, unknown>)[name] !== 'function') redis.defineCommand(name, { lua });
}

/** Calls a script defined with defineLua; the first argument is the number of keys. */
export function callLua(target: Redis, name: string, ...args: Array<string | number>): Promise<unknown>;
export function callLua(target: ChainableCommander, name: string, ...args: Array<string | number>): ChainableCommander;
export function callLua(target: Target, name: string, ...args: Array<string | number>): unknown {
  const fn = (target as unknown as Record<string, Call>)[name];
  if (!fn) throw new Error(`Lua command ${name} is not defined on this connection`);
  return fn.apply(target, args);
}
