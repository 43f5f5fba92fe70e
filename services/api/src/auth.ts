import type { NextFunction, Request, Response } from 'express';
import { timingSafeEqual } from 'node:crypto';

/** Requires `Authorization: Bearer <token>`; compares in constant time. */
export function bearerAuth(token: string) {
  const expected = Buffer.from(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = Buffer.from(match?.[1]?.trim() ?? '');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return next();
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer')
      .json({
        error: {
          code: 'unauthorized',
          message: match ? 'invalid API token' : 'missing Authorization: Bearer <token> header',
          details: [],
        },
      });
  };
}
