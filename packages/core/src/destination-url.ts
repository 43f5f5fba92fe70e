import { z } from 'zod';

/**
 * A destination's custom endpoint (`endpoint_url`, `access_url`): an http or
 * https URL without a user name or password. Credentials have fields of
 * their own, which the API never shows; in a URL they would be stored and
 * shown back in plain text.
 */
export function destinationUrl() {
  return z.url({ protocol: /^https?$/ }).refine(
    (url) => {
      try {
        const parsed = new URL(url);
        return parsed.username === '' && parsed.password === '';
      } catch {
        return false;
      }
    },
    { message: 'must not carry a user name or password (credentials go in their own fields)' },
  );
}
