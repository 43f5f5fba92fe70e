import { expect } from 'chai';
import dns from 'node:dns';
import fs from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DESTINATION_NOT_ALLOWED, EVENTS_SCHEMA, NetworkPolicy } from '@bx/core';
import {
  SnowflakeSession,
  UNSAFE_FILE_TRANSFER,
  createTableSql,
  putFile,
  sessionPolicies,
  vetFileTransfer,
} from '@bx/destination-snowflake';
import { CaptureServer } from '../helpers/capture-server';
import { HostileSnowflake } from '../helpers/hostile-snowflake';
import { snowflakeConfig, startSnowflakeServer, type SnowflakeServer } from '../helpers/snowflake';

const PASSWORD = 'pw-0123456789';
type Rewrite = (data: Record<string, any>) => void;

/** Answers the PUT with a GCS stage whose presigned URL is loopback port `port`. */
const gcsStageAt =
  (port: number, host = '127.0.0.1'): Rewrite =>
  (data) => {
    data.stageInfo = {
      locationType: 'GCS',
      location: 'bucket/path/',
      path: 'path/',
      region: 'us-east1',
      creds: {},
      presignedUrl: `http://${host}:${port}/bucket/path/part-0.jsonl.zst`,
      endPoint: null,
      isClientSideEncrypted: false,
    };
  };

/**
 * Answers the PUT with an S3 stage whose endpoint is `host:port` (the SDK connects with https;
 * a bucket name that is no DNS name makes it address the bucket in the path, on that host).
 */
const s3StageAt =
  (port: number, host = '127.0.0.1'): Rewrite =>
  (data) => {
    data.stageInfo = {
      locationType: 'S3',
      location: 'Bx_Bucket/path/',
      path: 'path/',
      region: 'us-east-1',
      endPoint: `${host}:${port}`,
      creds: { AWS_KEY_ID: 'key', AWS_SECRET_KEY: 'secret', AWS_TOKEN: 'token' },
      isClientSideEncrypted: false,
    };
  };

describe('Snowflake PUT: the server answer cannot choose other files or places', function () {
  this.timeout(60_000);
  let sf: SnowflakeServer;
  let dir: string;
  let secretFile: string;
  let ownFile: string;
  let proxy: HostileSnowflake | null = null;

  beforeEach(async () => {
    sf = await startSnowflakeServer({ users: { loader: PASSWORD } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bx-sf-put-'));
    secretFile = path.join(dir, 'environ');
    fs.writeFileSync(secretFile, 'SECRETS_ENCRYPTION_KEYS=do-not-leak-0123456789');
    ownFile = path.join(dir, 'part-0.jsonl.zst');
    fs.writeFileSync(ownFile, 'our rows');
  });
  afterEach(async () => {
    await proxy?.stop();
    proxy = null;
    await sf.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Logs in through a hostile proxy (as `localhost`, the one name the policy lists) and PUTs our file. */
  const put = async (
    rewrite: Rewrite,
    policy: string | ((proxyPort: number) => NetworkPolicy) = 'localhost',
  ): Promise<unknown> => {
    // The SDK takes the files to upload and where to put them from the answer to a PUT.
    proxy = await new HostileSnowflake(sf, (answer) => {
      if (answer.data?.command === 'UPLOAD') rewrite(answer.data);
    }).start();
    const config = snowflakeConfig(sf, { access_url: proxy.url, password: PASSWORD });
    const timeouts = { statementMs: 20_000, requestMs: 10_000, loginRetries: 0 };
    const network = typeof policy === 'string' ? NetworkPolicy.parse(policy) : policy(proxy.port);
    const session = await SnowflakeSession.open(config, timeouts, undefined, network);
    try {
      await session.query(createTableSql(config.table_name, EVENTS_SCHEMA), 'CREATE TABLE');
      await putFile(session, config.table_name, 'bx/run/', { path: ownFile, name: 'part-0.jsonl.zst', bytes: 8 });
      return null;
    } catch (err) {
      return err;
    } finally {
      await session.close();
    }
  };

  it('uploads the file the PUT names, as before', async () => {
    expect(await put(() => undefined)).to.equal(null);
    expect(sf.stagedFiles('events')).to.deep.equal(['bx/run/part-0.jsonl.zst']);
  });

  it('refuses an answer naming another local file to upload (a secret of the worker)', async () => {
    const loot = path.join(dir, 'loot');
    const err = await put((data) => {
      data.src_locations = [secretFile];
      data.stageInfo.location = loot;
    });
    expect(err).to.have.property('code', UNSAFE_FILE_TRANSFER);
    expect(fs.existsSync(loot) ? fs.readdirSync(loot) : [], 'nothing was copied').to.deep.equal([]);
  });

  it('refuses an answer sending the upload to an address the policy refuses', async () => {
    const sink = await new CaptureServer().start();
    try {
      const err = await put(gcsStageAt(sink.port));
      expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
      expect(sink.connections, 'the loopback address saw nothing').to.equal(0);
    } finally {
      await sink.stop();
    }
  });

  // DNS rebinding: the storage host is public when the answer is checked, loopback when the SDK connects.
  for (const [kind, stageAt] of [
    ['GCS', gcsStageAt],
    ['S3', s3StageAt],
  ] as const) {
    it(`${kind}: refuses an upload whose storage host name resolves to a refused address only when connecting`, async () => {
      const sink = await new CaptureServer().start();
      // The server's answer names `localhost`, which resolves to a public address once: when it is checked.
      let rebinding = false;
      let checked = false;
      const toSink = stageAt(sink.port, 'localhost');
      const rewrite: Rewrite = (data) => {
        toSink(data);
        rebinding = true;
      };
      const policy = (proxyPort: number) =>
        new NetworkPolicy([`localhost:${proxyPort}`], (host, options) => {
          if (host === 'localhost' && rebinding) {
            rebinding = false;
            checked = true;
            return Promise.resolve([{ address: '203.0.113.7', family: 4 }]);
          }
          return new Promise((resolve, reject) =>
            dns.lookup(host, { ...options, all: true }, (err, found) => (err ? reject(err) : resolve(found))),
          );
        });
      try {
        const err = await put(rewrite, policy);
        expect(checked, 'the answer was checked while the name was public').to.equal(true);
        expect(sink.connections, 'the loopback address saw nothing').to.equal(0);
        expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
        expect(String(err)).to.include(`(localhost) port ${sink.port}`);
      } finally {
        await sink.stop();
      }
    });
  }

  // Without a presigned URL the SDK makes the GCS URL of the answer's bucket: `https://<bucket>.storage.googleapis.com`.
  it('refuses a GCS stage whose bucket name makes the SDK address loopback', async () => {
    const sink = await new CaptureServer().start();
    try {
      const err = await put((data) => {
        data.stageInfo = {
          locationType: 'GCS',
          location: `x@127.0.0.1:${sink.port}#/path/`,
          path: 'path/',
          region: 'us-east1',
          useVirtualUrl: true,
          creds: { GCS_ACCESS_TOKEN: 'token' },
          endPoint: null,
          isClientSideEncrypted: false,
        };
      });
      expect(sink.connections, 'the loopback address saw nothing').to.equal(0);
      expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
    } finally {
      await sink.stop();
    }
  });

  it('refuses a redirect of the storage answer to an address the policy refuses', async () => {
    const sink = await new CaptureServer().start();
    // A storage server the policy lets through (its port listed) that sends the upload on to loopback.
    const redirector = createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: `${sink.url}${req.url ?? '/'}` }).end();
    });
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    const port = (redirector.address() as AddressInfo).port;
    try {
      const err = await put(gcsStageAt(port), `localhost,127.0.0.1:${port}`);
      expect(sink.connections, 'the loopback address saw nothing').to.equal(0);
      expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
    } finally {
      redirector.closeAllConnections();
      await new Promise((resolve) => redirector.close(resolve));
      await sink.stop();
    }
  });

  // ALLOWED_PRIVATE_DESTINATIONS may name host:port: such an entry allows that port of a stage's storage only.
  it('lets an upload reach a private storage address whose port the policy names, and no other port', async () => {
    const sink = await new CaptureServer().start();
    const toSink = gcsStageAt(sink.port);
    try {
      const refused = await put(toSink, `localhost,127.0.0.1:${sink.port === 65535 ? 1 : sink.port + 1}`);
      expect(refused).to.have.property('code', DESTINATION_NOT_ALLOWED);
      expect(sink.connections, 'another port listed: nothing reached the sink').to.equal(0);
      const allowed = await put(toSink, `localhost,127.0.0.1:${sink.port}`);
      expect(allowed ?? {}).to.not.have.property('code', DESTINATION_NOT_ALLOWED);
      expect(sink.connections, 'its port listed: the upload reached the sink').to.be.above(0);
    } finally {
      await sink.stop();
    }
  });

  it('checks the host the AWS SDK makes of an S3 stage: the bucket in front of the endpoint', async () => {
    // `loot.files.example` is a name of the answering server's own choosing, on loopback.
    const addresses: Record<string, string> = { 'files.example': '203.0.113.7', 'loot.files.example': '127.0.0.1' };
    const policy = new NetworkPolicy([], (host) =>
      addresses[host] ? Promise.resolve([{ address: addresses[host], family: 4 }]) : Promise.resolve([]),
    );
    const agentClass = {};
    sessionPolicies.set(agentClass, policy);
    const answer = (location: string) => ({
      sqlText: `PUT 'file://${ownFile}' @%"events"/bx/ AUTO_COMPRESS = FALSE`,
      fileMetadata: {
        data: {
          command: 'UPLOAD',
          src_locations: [ownFile],
          stageInfo: { locationType: 'S3', location, region: 'us-east-1', endPoint: 'files.example', creds: {} },
        },
      },
      connectionConfig: { agentClass, accessUrl: 'https://xy12345.snowflakecomputing.com' },
    });
    // A bucket name that is no DNS name goes in the path: the endpoint alone is reached.
    await vetFileTransfer(answer('Loot_Bucket/path/'));
    const err = await vetFileTransfer(answer('loot/path/')).catch((e: unknown) => e);
    expect(err).to.have.property('code', DESTINATION_NOT_ALLOWED);
    expect(String(err)).to.include('127.0.0.1 (loot.files.example)');
  });

  it('takes a stage on this machine (LOCAL_FS) only from a server on this machine', async () => {
    const answer = (accessUrl: string) => ({
      sqlText: `PUT 'file://${ownFile}' @%"events"/bx/ AUTO_COMPRESS = FALSE`,
      fileMetadata: {
        data: { command: 'UPLOAD', src_locations: [ownFile], stageInfo: { locationType: 'LOCAL_FS', location: dir } },
      },
      connectionConfig: { accessUrl },
    });
    await vetFileTransfer(answer('http://127.0.0.1:8080'));
    const err = await vetFileTransfer(answer('https://xy12345.snowflakecomputing.com')).catch((e: unknown) => e);
    expect(err).to.have.property('code', UNSAFE_FILE_TRANSFER);
  });
});
