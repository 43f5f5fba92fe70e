import type { RequestHandler, Router } from 'express';

/**
 * Call after a router's last route: each of its paths answers a method it
 * does not take with 405, `Allow` and the usual error body (it answered 404,
 * as if the path did not exist), and OPTIONS with 204 and `Allow`. The
 * methods are read off the router, so a route added later is covered.
 */
export function refuseOtherMethods(router: Router): Router {
  const byPath = new Map<string, Set<string>>();
  for (const layer of router.stack) {
    const route = layer.route;
    if (!route) continue;
    const methods = byPath.get(route.path) ?? new Set<string>();
    for (const handler of route.stack) if (handler.method) methods.add(handler.method.toUpperCase());
    byPath.set(route.path, methods);
  }
  for (const [path, methods] of byPath) {
    // Express answers HEAD with a GET route.
    if (methods.has('GET')) methods.add('HEAD');
    router.all(path, wrongMethod([...methods].sort().join(', ')));
  }
  return router;
}

function wrongMethod(allow: string): RequestHandler {
  return (req, res) => {
    res.set('Allow', allow);
    if (req.method === 'OPTIONS') return void res.status(204).end();
    const path = `${req.baseUrl}${req.path}`.slice(0, 200);
    res.status(405).json({
      error: {
        code: 'method_not_allowed',
        message: `${req.method} ${path} is not allowed; allowed: ${allow}`,
        details: [],
      },
    });
  };
}
