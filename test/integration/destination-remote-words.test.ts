import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { ApiHarness } from '../helpers/api-harness';
import { HostileSnowflake } from '../helpers/hostile-snowflake';
import { snowflakeConfig, startSnowflakeServer } from '../helpers/snowflake';

/** What a server of a token holder's own appends to its error: a forged log line, terminal escapes. */
const FORGED =
  '\n{"level":"error","msg":"SECRETS_ENCRYPTION_KEYS expired: paste them at https://evil.example"}\u001b[2J';
/** Any control or format character (a newline, ESC, a bidi override). */
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * An S3 endpoint of a token holder's own: every request gets 403 with an
 * error document whose Code is markup and whose Message echoes the request's
 * Authorization header, then FORGED.
 */
async function echoingS3(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const message = `you sent ${req.headers.authorization}${FORGED}`.replace(/&/g, '&amp;').replace(/</g, '&lt;');
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(
        `<Error><Code>AccessDenied&lt;img src=x onerror=alert(1)&gt;</Code><Message>${message}</Message></Error>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * A PostgreSQL server of someone's that asks for the password in clear (as a
 * server with `password` authentication does) and refuses the login with an
 * ErrorResponse that writes the password back, then FORGED.
 */
async function echoingPostgres(): Promise<{ server: NetServer; port: number }> {
  const message = (type: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(type, 0);
    head.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    let started = false;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!started) {
        if (buffered.length < 8 || buffered.length < buffered.readInt32BE(0)) return;
        buffered = buffered.subarray(buffered.readInt32BE(0));
        started = true;
        const cleartext = Buffer.alloc(4);
        cleartext.writeInt32BE(3, 0);
        socket.write(message('R', cleartext));
        return;
      }
      if (buffered.length < 5 || buffered.length < 1 + buffered.readInt32BE(1)) return;
      const password = buffered
        .subarray(5, 1 + buffered.readInt32BE(1))
        .toString()
        .replace(/\0$/, '');
      const fields = [
        ['S', 'FATAL'],
        ['V', 'FATAL'],
        ['C', '28P01'],
        ['M', `password authentication failed: you sent "${password}"${FORGED}`],
      ];
      const body = Buffer.concat([...fields.map(([k, v]) => Buffer.from(`${k}${v}\0`)), Buffer.from('\0')]);
      socket.end(message('E', body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

// A destination's server may be a token holder's own (any public address, or a private one the
// policy lists): its words reach run records, logs, POST /test, Bull Board, the console and
// `npm run verify`. They must read as its words, never as ours, and never carry a secret back.
describe("a destination server's words in POST /test answers", function () {
  this.timeout(60_000);
  let sut: ApiHarness;
  before(async () => {
    sut = await new ApiHarness().start();
  });
  after(() => sut.close());

  const testOf = async (destination: object) => {
    const created = await sut.call('POST', '/api/exports', {
      body: { name: 'remote words', team_id: 1, interval: 'hour', paused: true, destination },
    });
    expect(created.status, created.text).to.equal(201);
    const res = await sut.call('POST', `/api/exports/${created.json.id}/test`);
    expect(res.status).to.equal(200);
    expect(res.json.status).to.equal('error');
    return res.json as { message: string; code: string };
  };

  it('S3: the endpoint chooses neither our code nor a line of its own; its words are quoted', async () => {
    const { server, url } = await echoingS3();
    try {
      const answer = await testOf({
        type: 'S3',
        config: {
          bucket_name: 'remote-words',
          endpoint_url: url,
          aws_access_key_id: 'AKIDREMOTEWORDS',
          aws_secret_access_key: 'remote-words-secret-0123',
        },
      });
      expect(answer.code, 'a code of markup is no code of ours').to.equal('Unknown');
      expect(answer.message).not.to.match(CONTROL);
      expect(answer.message).to.match(
        /^S3 test failed: Unknown: "you sent AWS4-HMAC-SHA256 Credential=AKIDREMOTEWORDS/,
      );
      expect(answer.message)
        .to.contain('\\n{\\"level\\":\\"error\\"')
        .and.to.match(/\\u001b\[2J"$/);
    } finally {
      server.close();
    }
  });

  it('Postgres: a server that writes the password back gets it redacted, on one line', async () => {
    const { server, port } = await echoingPostgres();
    const password = 'pg-echoed-password-0123';
    try {
      const answer = await testOf({
        type: 'Postgres',
        config: { host: '127.0.0.1', port, database: 'bx', user: 'bx', password, table_name: 't', sslmode: 'disable' },
      });
      expect(answer.code).to.equal('AuthenticationFailed');
      expect(answer.message).not.to.contain(password);
      expect(answer.message).not.to.match(CONTROL);
      expect(answer.message).to.match(/^PostgreSQL login failed: 28P01: "password authentication failed: you sent /);
      expect(answer.message).to.contain('[redacted]');
    } finally {
      server.close();
    }
  });

  it("Snowflake: a login answer's words are quoted, its odd code left out", async () => {
    const sf = await startSnowflakeServer({ users: { loader: 'right-password-0123' } });
    const hostile = await new HostileSnowflake(sf, (answer) => {
      const failed = answer as { code?: string; message?: string };
      if (failed.code !== '390100') return;
      failed.code = '390100\n<b>';
      failed.message = `Incorrect username or password was specified.${FORGED}`;
    }).start();
    try {
      const answer = await testOf({
        type: 'Snowflake',
        config: snowflakeConfig(sf, { access_url: hostile.url, password: 'wrong-password-0123' }),
      });
      expect(answer.message).not.to.match(CONTROL);
      expect(answer.message).to.match(/^Snowflake login failed: "Incorrect username or password was specified\.\\n/);
      expect(answer.message).not.to.contain('<b>');
    } finally {
      await hostile.stop();
      await sf.close();
    }
  });
});
