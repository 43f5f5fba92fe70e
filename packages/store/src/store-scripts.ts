import { LuaScripts } from '@bx/redis';
import { join } from 'node:path';

/** The store's Lua scripts, in packages/store/lua. */
export const storeScripts = new LuaScripts(join(__dirname, '..'));
