import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true }>>['values'];

/**
 * The command's options, as parseArgs reads them (strict), refusing one
 * given twice: parseArgs keeps the last, so `--start A ... --start B`
 * silently ran another range (the API answers a query parameter given twice
 * with a 400 for the same reason).
 */
export function parseOptions<O extends Options>(argv: string[], options: O): Values<O> {
  const { values, tokens } = parseArgs({ args: argv, options, strict: true, tokens: true });
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    if (seen.has(token.name)) throw new Error(`option --${token.name} is given more than once`);
    seen.add(token.name);
  }
  return values;
}

/**
 * `npm run <script> --export-id x` without `--` keeps the options for npm
 * (it sets npm_config_export_id) and passes the script only their values:
 * what to say after the parser's "Unexpected argument 'x'", or ''.
 */
export function npmTookOptions(env: NodeJS.ProcessEnv, script: string, names: readonly string[]): string {
  const taken = names.filter((name) => env[`npm_config_${name.replace(/-/g, '_')}`] !== undefined);
  if (taken.length === 0) return '';
  return (
    `\nnpm kept ${taken.map((n) => `--${n}`).join(', ')} for itself: put -- between the script and its options ` +
    `(npm run ${script} -- --${taken[0]} ...)`
  );
}
