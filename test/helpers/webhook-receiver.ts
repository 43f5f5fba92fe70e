import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback webhook receiver on a free port that keeps the JSON bodies it is sent. */
export async function webhookReceiver(): Promise<{
  server: Server;
  url: string;
  notices: Array<Record<string, unknown>>;
}> {
  const notices: Array<Record<string, unknown>> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      notices.push(JSON.parse(body) as Record<string, unknown>);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, notices };
}
