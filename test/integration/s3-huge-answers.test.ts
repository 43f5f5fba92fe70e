import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3_CREDENTIALS } from '../helpers/env';
import { InProcessSystem } from '../helpers/in-process';

/** Bytes of the answer the endpoint would send in full: far more than any S3 answer. */
const ANSWER_BYTES = 96 * 1024 * 1024;

/**
 * An S3 endpoint of the token holder's: answers every request with `status`
 * and an XML document of ANSWER_BYTES, written as the client reads it.
 * `sent` counts what left it before the client stopped reading.
 */
class FloodingEndpoint {
  private server: Server | null = null;
  sent = 0;
  port = 0;

  constructor(private readonly status: number) {}

  async start(): Promise<this> {
    const head = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>');
    const chunk = Buffer.alloc(64 * 1024, 'E');
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(this.status, { 'content-type': 'application/xml' });
        res.on('error', () => undefined);
        res.write(head);
        let left = ANSWER_BYTES;
        const pump = () => {
          while (left > 0 && !res.destroyed) {
            left -= chunk.length;
            this.sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end('</Message></Error>');
        };
        pump();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('S3 endpoints that answer without end', function () {
  this.timeout(120_000);
  let sys: InProcessSystem;
  let endpoint: FloodingEndpoint;

  beforeEach(async () => {
    sys = await new InProcessSystem('default').start();
  });
  afterEach(async () => {
    await endpoint.stop();
    await sys.stop();
  });

  const testOf = async (status: number) => {
    endpoint = await new FloodingEndpoint(status).start();
    const created = await sys.call('POST', '/api/exports', {
      name: 'flooding',
      team_id: 1,
      interval: 'hour',
      paused: true,
      destination: {
        type: 'S3',
        config: { bucket_name: 'flood-bucket', endpoint_url: `http://127.0.0.1:${endpoint.port}`, ...S3_CREDENTIALS },
      },
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    return sys.call('POST', `/api/exports/${created.json.id}/test`);
  };

  // A 200 MB error answer took the API process past its heap (4.7 GB): it died.
  it('POST /test stops reading a huge error answer and says so briefly', async () => {
    const sut = await testOf(403);
    expect(sut.status).to.equal(200);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message.length, 'message length').to.be.below(4096);
    expect(endpoint.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });

  it('POST /test stops reading a huge answer to a write that succeeded', async () => {
    const sut = await testOf(200);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message).to.contain('more than');
    expect(endpoint.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });
});
