#!/usr/bin/env node
// An S3-compatible server for local runs and tests (s3rver: the real S3 HTTP
// protocol, objects stored as files). Plain JavaScript so it runs before a build.
'use strict';
const { parseArgs } = require('node:util');
const S3rver = require('s3rver');

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

server.run().then(
  () => console.log(`s3rver listening on 127.0.0.1:${values.port}, data in ${values.directory}`),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close().finally(() => process.exit(0)));
