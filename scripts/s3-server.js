#!/usr/bin/env node
// An S3-compatible server for local runs and tests (s3rver: the real S3 HTTP
// protocol, objects stored as files). Plain JavaScript so it runs before a build.
'use strict';
const { parseArgs } = require('node:util');
const { Buffer } = require('node:buffer');
const { createHash } = require('node:crypto');
const fs = require('node:fs/promises');
const fsSync = require('node:fs');
const path = require('node:path');
const { crc32 } = require('node:zlib');
// s3rver builds an S3 event notification for every object written (three random ids and a
// SHA-256: 5% of its CPU per small PUT, --cpu-prof) and emits it as 'event'; it is built here
// only when something listens (nothing in this script does).
const eventModule = require.resolve('s3rver/lib/models/event');
const S3Event = require(eventModule);
/** The server, for its listeners. */
let app = null;
require.cache[eventModule].exports = function S3EventIfHeard(data, params) {
  return app?.listenerCount('event') ? new S3Event(data, params) : {};
};
const S3rver = require('s3rver');
const S3Bucket = require('s3rver/lib/models/bucket');
const { getConfigModel } = require('s3rver/lib/models/config');
const S3Error = require('s3rver/lib/models/error');
const S3Object = require('s3rver/lib/models/object');
const AWSAccount = require('s3rver/lib/models/account');
const { parseDate } = require('s3rver/lib/utils');

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4568' },
    directory: { type: 'string', default: '.local/services/s3' },
  },
});

const server = new S3rver({
  address: '127.0.0.1',
  port: Number(values.port),
  directory: values.directory,
  silent: true,
  // Access key id S3RVER (secret S3RVER); other key ids get InvalidAccessKeyId.
  // SigV4 signatures are not verified by s3rver at all.
  allowMismatchedSignatures: true,
});
app = server;
/** Objects up to this size are answered before Koa (smallPutsFirst). */
const SMALL_OBJECT_BYTES = 1024 * 1024;
/**
 * Objects up to this size are received whole, then stored (leanSmallPut): s3rver writes a PUT's
 * body straight into the object's file, so a client that died mid-body left the object cut short
 * where S3 keeps the previous one. Larger single PUTs still go to s3rver (the product sends
 * multipart uploads long before this size).
 */
const BUFFERED_OBJECT_BYTES = 64 * 1024 * 1024;
let putsAside = 0;
leanMultipart(server.store);
leanSmallPut(server.store);
syncBucketLookups(server.store);
noRequestLog(server);
smallPutsFirst(server);

/**
 * The PutObject of a tiny run's file or receipt, answered before Koa: the
 * request as the product's S3 client sends it (path-style to an IP address,
 * SigV4 in the Authorization header, a Content-Length of at most 1 MiB, no
 * query but the SDK's `x-id`, no Content-MD5, copy source, redirect or
 * Origin), checked as s3rver checks it (its header parsing, a known access
 * key id, the request time within 15 minutes, the bucket's folder), stored
 * by the same putObject and answered with the same status and headers.
 * Anything else, and any request those checks would refuse, goes to s3rver,
 * which answers as ever. Koa's context, the router's matching and the
 * middleware chain were about half of the server's CPU per small PUT
 * (bench/s3-server-cpu.ts: 0.60-0.83 ms through Koa, 0.26-0.31 ms here).
 */
function smallPutsFirst(app) {
  const koaCallback = app.callback.bind(app);
  app.callback = () => {
    const koa = koaCallback();
    return (req, res) => {
      const put = smallPut(req);
      if (!put) return koa(req, res);
      app.store.putObject(new S3Object(put.bucket, put.key, req, req.headers)).then(
        ({ md5 }) => {
          res.writeHead(200, { ETag: `"${md5}"`, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 0 });
          res.end();
        },
        (err) => {
          const error = err instanceof S3Error ? err : S3Error.fromError(err);
          const xml = error.toXML();
          res.writeHead(error.status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
          res.end(xml);
        },
      );
    };
  };

  // The SDK's `?x-id=PutObject` names the operation; s3rver reads no other meaning in it.
  const PATH = /^\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/([^?#]+)(?:\?x-id=PutObject)?$/;
  const IPV4_HOST = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?$/;
  /** The bucket and key of a small PUT this server answers itself, or null. */
  function smallPut(req) {
    const h = req.headers;
    if (req.method !== 'PUT' || !IPV4_HOST.test(h.host ?? '')) return null;
    const path = PATH.exec(req.url);
    if (!path || path[2].endsWith('/')) return null;
    const declared = Number(h['content-length']);
    if (!(declared <= SMALL_OBJECT_BYTES) || 'transfer-encoding' in h) return null;
    for (const name of ['content-md5', 'x-amz-copy-source', 'x-amz-website-redirect-location', 'origin', 'expect'])
      if (name in h) return null;
    if (/aws-chunked/.test(h['content-encoding'] ?? '')) return null;
    if (!/^(UNSIGNED-PAYLOAD|[0-9A-Fa-f]{64})$/.test(h['x-amz-content-sha256'] ?? '')) return null;
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/,]+)\/[^,]*, ?SignedHeaders=[^,]+, ?Signature=[0-9a-f]+$/.exec(
      h.authorization ?? '',
    );
    if (!auth || !AWSAccount.registry.get(auth[1])) return null;
    const at = parseDate(h['x-amz-date'] || h.date);
    if (isNaN(at) || Math.abs(Date.now() - at) > 900_000) return null;
    let key;
    try {
      key = decodeURIComponent(path[2]);
    } catch {
      return null;
    }
    // Empty, `.` and `..` segments: s3rver's router and folders decide what they mean.
    if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) return null;
    const stat = fsSync.statSync(app.store.getBucketPath(path[1]), { throwIfNoEntry: false });
    if (!stat?.isDirectory()) return null;
    return { bucket: path[1], key };
  }
}

/**
 * The bucket lookups every request makes, as s3rver makes them but without
 * libuv's thread pool: its CORS and website configuration (two file reads,
 * each absent nearly always) and the bucket's folder (a stat). Each was a
 * trip to the pool and back, about 3 of the 5 per small PUT that were left;
 * a stat or an absent file is a few microseconds of page-cache lookup.
 */
function syncBucketLookups(store) {
  store.getBucket = async (bucket) => {
    const stat = fsSync.statSync(store.getBucketPath(bucket), { throwIfNoEntry: false });
    return stat?.isDirectory() ? new S3Bucket(bucket, stat.birthtime) : null;
  };
  store.getSubresource = async (bucket, key, resourceType) => {
    const resourcePath = store.getResourcePath(bucket, key, `${resourceType}.xml`);
    const Model = getConfigModel(resourceType);
    // Most buckets have none: no ENOENT error (and its stack) made per request.
    if (!fsSync.existsSync(resourcePath)) return null;
    try {
      return new Model(fsSync.readFileSync(resourcePath).toString());
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw err;
    }
  };
}

/**
 * s3rver's first middleware is koa-logger, which formats a coloured line per
 * request (chalk, byte counts, timings) for a logger that `silent` mutes: it
 * goes, the logger it set up for the controllers stays (ctx.logger).
 */
function noRequestLog(app) {
  if (app.silent && app.middleware[0]?.name === 'logger') app.middleware[0] = (ctx, next) => next();
}

/**
 * A PutObject of a small object (a tiny run's data file, a receipt) stored
 * with the same three files s3rver writes (the object, its `.md5`, its
 * `metadata.json`, same contents), written synchronously once the body is in:
 * s3rver's own path opens, writes and closes each through libuv's thread pool
 * (about ten trips there and back per PUT, plus a directory check), which
 * cost the scale benchmark's S3 server more CPU per tiny run than the worker's
 * own PUTs (docs/scaling.md). A few small writes to the page cache block
 * this process for tens of microseconds.
 */
/** S3's answer to a body shorter than its Content-Length (the client went away mid-body). */
function incompleteBody() {
  return new S3Error(
    'IncompleteBody',
    'You did not provide the number of bytes specified by the Content-Length HTTP header',
  );
}

function leanSmallPut(store) {
  const original = store.putObject.bind(store);
  store.putObject = async (object) => {
    const declared = Number(object.metadata['content-length']);
    const chunked = /aws-chunked/.test(object.metadata['content-encoding'] ?? '');
    if (!(declared <= BUFFERED_OBJECT_BYTES) || chunked || Buffer.isBuffer(object.content)) return original(object);
    const md5 = createHash('md5');
    const chunks = [];
    let size = 0;
    for await (const chunk of object.content) {
      md5.update(chunk);
      chunks.push(chunk);
      size += chunk.length;
    }
    // A client that died mid-body (a killed or frozen worker's socket closed): S3 stores nothing.
    if (size !== declared) throw incompleteBody();
    const hex = md5.digest('hex');
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    // As s3rver's putMetadata: its allowed headers in their order, then the user's x-amz-meta-*.
    const metadata = {};
    for (const name of S3Object.ALLOWED_METADATA) if (name in object.metadata) metadata[name] = object.metadata[name];
    for (const [name, value] of Object.entries(object.metadata))
      if (name.startsWith('x-amz-meta-')) metadata[name] = value;
    fsSync.mkdirSync(path.dirname(objectPath), { recursive: true });
    // Written aside, then renamed into place: a reader never sees half an object (S3 PUTs are atomic).
    const aside = `${objectPath}.${process.pid}.${++putsAside}`;
    fsSync.writeFileSync(aside, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    fsSync.renameSync(aside, objectPath);
    fsSync.writeFileSync(store.getResourcePath(object.bucket, object.key, 'object.md5'), hex);
    fsSync.writeFileSync(
      store.getResourcePath(object.bucket, object.key, 'metadata.json'),
      JSON.stringify(metadata, null, 2),
    );
    return { size, md5: hex };
  };
}

/**
 * Parts and their assembly as S3 does them, without the work s3rver adds on
 * this machine's CPU (which the exports it serves here share):
 * - a part's body is copied into a reused buffer and written with one call,
 *   instead of a thread-pool write per socket read (a context switch each);
 * - a part's ETag is the MD5 of its body only when the request sends a
 *   Content-MD5, which is then checked (BadDigest) as S3 checks it; without
 *   one the ETag is the body's CRC32 and length (32 hex digits, as S3's).
 *   S3 does not promise an MD5 ETag (not for SSE-KMS objects, nor for
 *   multipart ones); a client only hands the ETags back at completion.
 *   MD5 ran at about 700 MB/s here, CRC32 at about 5 GB/s;
 * - CompleteMultipartUpload refuses a part it was not given or whose ETag is
 *   not the one answered (InvalidPart, as S3), joins the part files as they
 *   are and answers S3's multipart ETag (the MD5 of the parts' ETags, `-` and
 *   the number of parts), instead of streaming the whole object through MD5
 *   again (an ETag real S3 never gives a multipart object).
 * s3rver's CPU per export of 1.9M 400-byte rows: see docs/performance.md.
 */
function leanMultipart(store) {
  const uploadDir = (bucket, uploadId) => path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);

  /** Part buffers free for the next part: a socket's chunks are copied in and die young (no old-generation GC). */
  const free = [];
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const partPath = path.join(uploadDir(bucket, uploadId), partNumber.toString());
    await fs.mkdir(path.dirname(partPath), { recursive: true });
    const sentMd5 = content.headers?.['content-md5'];
    const md5 = sentMd5 === undefined ? null : createHash('md5');
    let body = free.pop() ?? Buffer.allocUnsafeSlow(8 * 1024 * 1024);
    let size = 0;
    for await (const chunk of content) {
      md5?.update(chunk);
      if (size + chunk.length > body.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(size + chunk.length, body.length * 2));
        body.copy(bigger, 0, 0, size);
        body = bigger;
      }
      chunk.copy(body, size);
      size += chunk.length;
    }
    let etag;
    try {
      const declared = Number(content.headers?.['content-length']);
      if (Number.isFinite(declared) && size !== declared) throw incompleteBody();
      if (md5) {
        const digest = md5.digest();
        if (digest.toString('base64') !== sentMd5) {
          throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
        }
        etag = digest.toString('hex');
      } else {
        etag = crc32(body.subarray(0, size)).toString(16).padStart(8, '0') + size.toString(16).padStart(24, '0');
      }
      await fs.writeFile(partPath, body.subarray(0, size));
    } finally {
      if (free.length < 4) free.push(body);
    }
    await fs.writeFile(`${partPath}.md5`, etag);
    return { size, md5: etag };
  };

  store.putObjectMultipart = async (bucket, uploadId, parts) => {
    const dir = uploadDir(bucket, uploadId);
    const [key, metadata] = await Promise.all([
      fs.readFile(path.join(dir, 'key'), 'utf8'),
      fs.readFile(path.join(dir, 'metadata')).then(JSON.parse),
    ]);
    const sorted = [...parts].sort((a, b) => a.number - b.number);
    const etags = createHash('md5');
    for (const { number, etag } of sorted) {
      const stored = await fs.readFile(path.join(dir, `${number}.md5`), 'utf8').catch(() => null);
      if (stored === null || stored !== etag) {
        throw new S3Error(
          'InvalidPart',
          'One or more of the specified parts could not be found. The part might not have been uploaded, or the ' +
            "specified entity tag might not have matched the part's entity tag.",
        );
      }
      etags.update(Buffer.from(stored, 'hex'));
    }
    const numbers = sorted.map((p) => p.number);
    const objectPath = store.getResourcePath(bucket, key, 'object');
    await fs.mkdir(path.dirname(objectPath), { recursive: true });
    let size = 0;
    let buffer = free.pop() ?? Buffer.allocUnsafeSlow(8 * 1024 * 1024);
    const out = await fs.open(objectPath, 'w');
    try {
      for (const n of numbers) {
        const partPath = path.join(dir, n.toString());
        const part = await fs.open(partPath, 'r');
        try {
          const { size: partSize } = await part.stat();
          if (partSize > buffer.length) buffer = Buffer.allocUnsafeSlow(partSize);
          for (let at = 0; at < partSize;) {
            const { bytesRead } = await part.read(buffer, at, partSize - at, at);
            if (bytesRead === 0) throw new Error(`part ${partPath} ended early`);
            at += bytesRead;
          }
          for (let at = 0; at < partSize;) at += (await out.write(buffer, at, partSize - at)).bytesWritten;
          size += partSize;
        } finally {
          await part.close();
        }
      }
    } finally {
      await out.close();
      if (free.length < 4) free.push(buffer);
    }
    const md5 = `${etags.digest('hex')}-${numbers.length}`;
    await store.putMetadata(bucket, key, metadata, md5);
    await fs.rm(dir, { recursive: true, force: true });
    return { size, md5 };
  };
}

server.run().then(
  (address) => console.log(`s3rver listening on 127.0.0.1:${address.port}, data in ${values.directory}`),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close().finally(() => process.exit(0)));
