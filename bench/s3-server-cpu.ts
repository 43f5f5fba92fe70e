/**
 * `npx tsx bench/s3-server-cpu.ts [--puts 4000] [--rounds 3] [--concurrency 16]`: the
 * benchmark's S3 server's CPU (scripts/s3-server.js on a folder of its own, bench/s3-server.ts)
 * per small PUT as the scale benchmark sends them: a tiny run's file and its receipt (330 and
 * 250 bytes) under a prefix of their own (a team's, a new folder), by the lean PUT, `--concurrency`
 * at once. The first round warms the server's JIT up.
 */
import { parseArgs } from 'node:util';
import { leanPutOf, s3ConfigSchema, sharedS3Client } from '@bx/destination-s3';
import { benchBucket } from './bench-bucket';
import { startBenchS3 } from './s3-server';

const { values: args } = parseArgs({
  options: {
    puts: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
  },
});

async function main(): Promise<void> {
  const server = await startBenchS3();
  try {
    const config = s3ConfigSchema.parse(await benchBucket(server.endpoint, 'bx-bench-s3-server'));
    const client = sharedS3Client(config);
    const put = leanPutOf(client).put;
    const data = Buffer.from(`${JSON.stringify({ event: '$pageview', properties: { pad: 'x'.repeat(290) } })}\n`);
    const receipt = JSON.stringify({
      rows: 1,
      checksum: 'x'.repeat(64),
      files: ['f'],
      version: 1,
      pad: 'y'.repeat(120),
    });
    const puts = Number(args.puts);
    let next = 0;
    for (let round = 1; round <= Number(args.rounds); round++) {
      const cpu = server.cpuSeconds();
      const began = Date.now();
      let sent = 0;
      const sender = async () => {
        while (sent < puts) {
          const team = next++;
          sent += 2;
          const stem = `t${team}/2026-12-06/2026-12-06T01:00:00-2026-12-06T01:05:00`;
          await put({
            Bucket: config.bucket_name,
            Key: `${stem}.jsonl`,
            Body: data,
            ContentType: 'application/x-ndjson',
          });
          await put({
            Bucket: config.bucket_name,
            Key: `${stem}_receipt.json`,
            Body: receipt,
            ContentType: 'application/json',
          });
        }
      };
      await Promise.all(Array.from({ length: Number(args.concurrency) }, sender));
      const ms = ((server.cpuSeconds() - cpu) * 1000) / sent;
      console.log(
        `round ${round}: ${sent} PUTs in ${((Date.now() - began) / 1000).toFixed(1)} s, S3 server ${ms.toFixed(3)} ms of CPU per PUT`,
      );
    }
    client.destroy();
  } finally {
    await server.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
