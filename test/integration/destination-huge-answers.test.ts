import { expect } from 'chai';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { S3_CREDENTIALS } from '../helpers/env';
import { PermanentError, parseInput } from '@bx/core';
import { PostgresConnection, postgresConfigSchema } from '@bx/destination-postgres';
import { FLOOD_BYTES, FloodingEndpoint, FloodingPostgres } from '../helpers/flooding-endpoint';
import { HostileSnowflake } from '../helpers/hostile-snowflake';
import { InProcessSystem } from '../helpers/in-process';
import { snowflakeConfig, startSnowflakeServer } from '../helpers/snowflake';

const S3_ERROR_HEAD = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>';

describe('destination endpoints that answer without end', function () {
  this.timeout(120_000);
  let sys: InProcessSystem;
  let endpoint: FloodingEndpoint | FloodingPostgres | null = null;

  beforeEach(async () => {
    sys = await new InProcessSystem('default').start();
  });
  afterEach(async () => {
    await endpoint?.stop();
    endpoint = null;
    await sys.stop();
  });

  /** POST /test of a new export to `destination`. */
  const testExport = async (destination: object) => {
    const created = await sys.call('POST', '/api/exports', {
      name: 'flooding',
      team_id: 1,
      interval: 'hour',
      paused: true,
      destination,
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    return sys.call('POST', `/api/exports/${created.json.id}/test`);
  };
  /** POST /test of an export to `endpoint`, flooding with `status` and `head` first. */
  const testOf = async (status: number, head: string, destination: (url: string) => object) => {
    endpoint = await new FloodingEndpoint(status, head).start();
    return testExport(destination(`http://127.0.0.1:${endpoint.port}`));
  };
  const s3 = (url: string) => ({
    type: 'S3',
    config: { bucket_name: 'flood-bucket', endpoint_url: url, ...S3_CREDENTIALS },
  });

  // A 200 MB error answer took the API process past its heap (4.7 GB): it died.
  it('S3: POST /test stops reading a huge error answer and says so briefly', async () => {
    const sut = await testOf(403, S3_ERROR_HEAD, s3);
    expect(sut.status).to.equal(200);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message.length, 'message length').to.be.below(4096);
    expect(endpoint!.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });

  it('S3: POST /test stops reading a huge answer to a write that succeeded', async () => {
    const sut = await testOf(200, S3_ERROR_HEAD, s3);
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message).to.contain('more than');
    expect(endpoint!.sent, 'bytes the endpoint sent').to.be.below(16 * 1024 * 1024);
  });

  // The SDK read a 200 MB login answer whole (RSS 567 MB), and went on after /test gave up.
  it('Snowflake: POST /test stops reading a huge login answer and says so', async () => {
    const sut = await testOf(200, '{"success": true, "data": {"token": "', (url) => ({
      type: 'Snowflake',
      config: {
        account: 'flood',
        user: 'u',
        password: 'p',
        database: 'd',
        schema: 's',
        warehouse: 'w',
        table_name: 't',
        access_url: url,
      },
    }));
    expect(sut.json).to.include({ status: 'error' });
    expect(sut.json.message).to.contain('exceeded');
    expect(endpoint!.sent, 'bytes the endpoint sent').to.be.below(32 * 1024 * 1024);
  });

  // The answer to a statement names result chunks to fetch: with an access_url of a token holder's
  // own, any URL, which the SDK read whole without limit (tens of MB per chunk are real Snowflake's).
  it('Snowflake: POST /test stops reading a huge result chunk', async () => {
    endpoint = await new FloodingEndpoint(200, '[["x"').start();
    const sf = await startSnowflakeServer({ users: { loader: 'pw-0123456789' } });
    const hostile = await new HostileSnowflake(sf, (answer, sql) => {
      if (!sql?.includes('CURRENT_WAREHOUSE') || !answer.data) return;
      Object.assign(answer.data, {
        rowset: [],
        returned: 1,
        total: 1,
        chunks: [
          { url: `http://127.0.0.1:${endpoint!.port}/chunk`, rowCount: 1, uncompressedSize: 8, compressedSize: 8 },
        ],
      });
    }).start();
    try {
      const config = snowflakeConfig(sf, { access_url: hostile.url, password: 'pw-0123456789' });
      const res = await testExport({ type: 'Snowflake', config });
      expect(res.json).to.include({ status: 'error' });
      // The SDK retries a chunk that failed (up to 10 times, with backoff): each read stops at the cap.
      expect(endpoint!.largest, 'most bytes one chunk answer sent').to.be.below(FLOOD_BYTES * 0.75);
    } finally {
      await hostile.stop();
      await sf.close();
    }
  });

  /**
   * A PostgreSQL server that logs every client in, then answers a query with
   * `rows` rows of 512 KiB (without end when Infinity) after `notices` notices
   * of 512 KiB, and ends the statement. `sent` counts what left it.
   */
  const answeringPostgres = async (notices: number, rows: number) => {
    const bytes = (type: string, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.write(type, 0);
      head.writeInt32BE(body.length + 4, 1);
      return Buffer.concat([head, body]);
    };
    const notice = bytes(
      'N',
      Buffer.concat([Buffer.from('SNOTICE\0M'), Buffer.alloc(512 * 1024, 'n'), Buffer.from('\0\0')]),
    );
    const cell = Buffer.alloc(512 * 1024, 'r');
    const row = bytes('D', Buffer.concat([Buffer.from([0, 1]), Buffer.from([0, 8, 0, 0]), cell]));
    const field = Buffer.concat([
      Buffer.from('x\0'),
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]),
    ]);
    const description = bytes('T', Buffer.concat([Buffer.from([0, 1]), field]));
    const done = Buffer.concat([bytes('C', Buffer.from('SELECT 1\0')), bytes('Z', Buffer.from('I'))]);
    const state = { sent: 0, port: 0 };
    const server = createNetServer((socket) => {
      socket.on('error', () => undefined);
      let loggedIn = false;
      socket.on('data', (data) => {
        if (data.length === 8 && data.readUInt32BE(4) === 80877103) return void socket.write('N'); // no TLS
        if (!loggedIn) {
          loggedIn = true;
          return void socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
        }
        if (data[0] !== 0x51) return; // only a simple Query is answered
        const messages = (function* () {
          for (let i = 0; i < notices; i++) yield notice;
          yield description;
          for (let i = 0; i < rows; i++) yield row;
          yield done;
        })();
        const pump = () => {
          // Not for-of: leaving it to wait for 'drain' would close the generator.
          for (let next = messages.next(); !next.done && !socket.destroyed; next = messages.next()) {
            state.sent += next.value.length;
            if (!socket.write(next.value)) return void socket.once('drain', pump);
          }
        };
        pump();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    state.port = (server.address() as AddressInfo).port;
    return { state, close: () => server.close() };
  };
  const openSession = (port: number) =>
    PostgresConnection.open(parseInput(postgresConfigSchema, postgres(port).config), {
      connectMs: 10_000,
      lockMs: 1000,
      statementMs: 0,
      applicationName: 'bx test',
    });

  // A server of a token holder's own at a public `host`: pg keeps every row of a result until the
  // statement ends, so rows without end (each under the 1 MiB a message may have) filled the process.
  it('Postgres: a session stops reading a result without end', async () => {
    const server = await answeringPostgres(0, Infinity);
    try {
      const conn = await openSession(server.state.port);
      try {
        const err = await conn.query('SELECT 1', 'SELECT').then(
          () => expect.fail('expected a failure'),
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(PermanentError).with.property('code', 'AnswerTooLarge');
      } finally {
        await conn.close().catch(() => undefined);
      }
      expect(server.state.sent, 'bytes the server sent').to.be.below(2 * FLOOD_BYTES);
    } finally {
      server.close();
    }
  });

  // Notices are handed on one by one and kept by nobody: a destination table whose trigger raises a
  // notice per row sends more than the cap of answers over a big load, and that is no reason to fail.
  it('Postgres: notices past the cap of answers do not end a session', async () => {
    const server = await answeringPostgres(160, 1);
    try {
      const conn = await openSession(server.state.port);
      try {
        const result = await conn.query<{ x: string }>('SELECT 1', 'SELECT');
        expect(result.rows).to.have.length(1);
      } finally {
        await conn.close().catch(() => undefined);
      }
      expect(server.state.sent, 'bytes the server sent').to.be.above(80 * 1024 * 1024);
    } finally {
      server.close();
    }
  });

  const postgres = (port: number) => ({
    type: 'Postgres',
    config: { host: '127.0.0.1', port, database: 'd', user: 'u', password: 'p', table_name: 't', sslmode: 'disable' },
  });

  // pg buffers a message whole: a 96 MB ErrorResponse at login was read (~90 MB) until the 10 s login budget ran out.
  it('Postgres: POST /test stops reading a huge error at login and says so', async () => {
    endpoint = await new FloodingPostgres('E').start();
    const created = await sys.call('POST', '/api/exports', {
      name: 'flooding',
      team_id: 1,
      interval: 'hour',
      paused: true,
      destination: postgres(endpoint.port),
    });
    expect(created.status, JSON.stringify(created.json)).to.equal(201);
    const sut = await sys.call('POST', `/api/exports/${created.json.id}/test`);
    expect(sut.status).to.equal(200);
    expect(sut.json).to.include({ status: 'error', retryable: false });
    expect(sut.json.message).to.contain('more than the 1048576 bytes');
    expect(endpoint.sent, 'bytes the server sent').to.be.below(16 * 1024 * 1024);
  });

  it('Postgres: a session stops reading a huge notice after login', async () => {
    endpoint = await new FloodingPostgres('N', true).start();
    const config = parseInput(postgresConfigSchema, postgres(endpoint.port).config);
    const settings = { connectMs: 10_000, lockMs: 1000, statementMs: 0, applicationName: 'bx test' };
    const conn = await PostgresConnection.open(config, settings);
    try {
      const err = await conn.query('SELECT 1', 'SELECT').then(
        () => expect.fail('expected a failure'),
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(PermanentError).with.property('code', 'MessageTooLarge');
      expect((err as Error).message)
        .to.contain('PostgreSQL SELECT failed')
        .and.contain('a notice');
    } finally {
      await conn.close();
    }
    expect(endpoint.sent, 'bytes the server sent').to.be.below(16 * 1024 * 1024);
  });
});
