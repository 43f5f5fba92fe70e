import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'chai';
import type { Run } from '@bx/core';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TestClickHouse } from '../helpers/clickhouse';
import { S3_CREDENTIALS, testEnv } from '../helpers/env';
import { chTime, makeEvent } from '../helpers/events';
import { InProcessSystem } from '../helpers/in-process';
import { eventually } from '../helpers/processes';
import { createBucket, listKeys, testS3Client } from '../helpers/s3';
import { TcpFaultProxy } from '../helpers/tcp-fault-proxy';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** An endpoint that accepts TCP connections, reads what comes and never answers. */
class SilentEndpoint {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Bytes received, over all connections. */
  received = 0;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('data', (d) => (this.received += d.length));
      socket.on('error', () => undefined);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('S3 endpoints that never answer', function () {
  this.timeout(90_000);
  let ch: TestClickHouse;
  let s3: S3Client;
  let sys: InProcessSystem;
  let bucket: string;
  const small = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
  // 24k events of ~600 bytes: about 14 MB of JSON Lines, two multipart parts.
  const big = small - 24 * HOUR;

  before(async () => {
    ch = await new TestClickHouse().setup();
    await ch.insert(Array.from({ length: 5 }, (_, i) => makeEvent({ inserted_at: chTime(iso(small + i * 60_000)) })));
    const pad = JSON.stringify({ pad: 'p'.repeat(400) });
    await ch.insert(
      Array.from({ length: 24_000 }, () => makeEvent({ inserted_at: chTime(iso(big + 60_000)), properties: pad })),
    );
    s3 = testS3Client();
  });
  after(async () => ch.drop());
  beforeEach(async () => {
    bucket = await createBucket(s3);
    sys = await new InProcessSystem(ch.database).start();
  });
  afterEach(async () => sys.stop());

  const createExport = async (endpoint: string): Promise<string> => {
    const res = await sys.call('POST', '/api/exports', {
      name: 'silent',
      team_id: 1,
      interval: 'hour',
      // Ended before now: never scheduled (a paused export would hold its backfills).
      end_at: new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString(),
      destination: { type: 'S3', config: { bucket_name: bucket, endpoint_url: endpoint, ...S3_CREDENTIALS } },
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
    return res.json.id as string;
  };
  const backfill = async (id: string, start: number) => {
    const res = await sys.call('POST', `/api/exports/${id}/backfills`, {
      start_at: iso(start),
      end_at: iso(start + HOUR),
    });
    expect(res.status, JSON.stringify(res.json)).to.equal(201);
  };
  const runOf = async (id: string): Promise<Run | undefined> =>
    ((await sys.call('GET', `/api/exports/${id}/runs`)).json.results as Run[])[0];
  const activeJobs = async () => (await sys.queue.jobCounts())[0]!.counts.active;

  /** Cancels the export's running run; resolves once no worker slot holds it (bounded at 10 s). */
  const cancelAndWaitForSlot = async (id: string) => {
    const run = await eventually(
      async () => ((await runOf(id))?.status === 'Running' ? runOf(id) : undefined),
      30_000,
      'the run to start',
    );
    const cancel = await sys.call('POST', `/api/exports/${id}/runs/${run!.id}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.json)).to.equal(200);
    await eventually(async () => ((await activeJobs()) === 0 ? true : undefined), 10_000, 'the worker slot back');
    expect((await runOf(id))!.status).to.equal('Cancelled');
  };

  it('POST /test answers within 30 s, with a retryable error, whatever the endpoint does', async () => {
    const silent = await new SilentEndpoint().start();
    try {
      const id = await createExport(`http://127.0.0.1:${silent.port}`);
      const res = await sys.call('POST', `/api/exports/${id}/test`);
      expect(res.status).to.equal(200);
      expect(res.json).to.include({ retryable: true });
      expect(res.json.status).to.not.equal('ok');
      expect(res.json.message).to.contain('did not answer within');
      expect(silent.received, 'the endpoint was asked').to.be.greaterThan(0);
    } finally {
      await silent.stop();
    }
  });

  it('a cancelled run gives its worker slot back while its S3 request hangs', async () => {
    const silent = await new SilentEndpoint().start();
    try {
      const id = await createExport(`http://127.0.0.1:${silent.port}`);
      sys.startWorker(1);
      await backfill(id, small);
      await eventually(async () => (silent.received > 0 ? true : undefined), 30_000, 'the upload to be sent');
      await cancelAndWaitForSlot(id);

      // The slot takes the next run: one to the real S3 server completes.
      const good = await createExport(testEnv.S3_ENDPOINT_URL);
      await backfill(good, small);
      const done = await eventually(
        async () => ((await runOf(good))?.status === 'Completed' ? runOf(good) : undefined),
        30_000,
        'the next run to complete',
      );
      expect(done!.records_completed).to.equal(5);
    } finally {
      await silent.stop();
    }
  });

  it('a cancelled multipart upload whose endpoint stops answering is cleaned up within a deadline', async () => {
    const proxy = await new TcpFaultProxy(Number(new URL(testEnv.S3_ENDPOINT_URL).port)).start();
    try {
      const id = await createExport(`http://127.0.0.1:${proxy.port}`);
      sys.startWorker(1);
      await backfill(id, big);
      // Once S3 has opened the upload (its first answer), every later answer is held: parts, and the abort.
      await new Promise<void>((resolve) => {
        const poll = () => {
          if (proxy.forwarded > 0) {
            proxy.fault = 'stall-responses';
            resolve();
          } else setImmediate(poll);
        };
        poll();
      });
      await cancelAndWaitForSlot(id);
      expect(await listKeys(s3, bucket)).to.deep.equal([]);
    } finally {
      await proxy.stop();
    }
  });
});
