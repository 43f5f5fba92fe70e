/**
 * `npx tsx bench/s3-put-cpu.ts [--puts 500] [--rounds 4] [--endpoint URL]`: this process's CPU
 * per small PutObject (330 bytes, a tiny run's file or receipt), the SDK's command against the
 * lean PUT (packages/destinations/s3/src/lean-put.ts), each sent `--puts` times in a row on the
 * export's shared client, in alternating rounds (the first ones warm the JIT up). The S3 server's
 * own CPU is not counted. Default endpoint: the local S3 server (s3rver on 4568).
 */
import { parseArgs } from 'node:util';
import { leanPutOf, s3ConfigSchema, sdkPut, sharedS3Client, type ObjectPut } from '@bx/destination-s3';
import { benchBucket } from './bench-bucket';

const { values: args } = parseArgs({
  options: {
    puts: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '4' },
    endpoint: { type: 'string', default: 'http://127.0.0.1:4568' },
  },
});

async function main(): Promise<void> {
  const config = s3ConfigSchema.parse(await benchBucket(args.endpoint!, 'bx-bench-put-cpu'));
  const client = sharedS3Client(config);
  const body = Buffer.from(`${JSON.stringify({ event: '$pageview', properties: { pad: 'x'.repeat(290) } })}\n`);
  const paths: Record<string, ObjectPut> = { sdk: sdkPut(client), lean: leanPutOf(client).put };
  const puts = Number(args.puts);
  for (let round = 1; round <= Number(args.rounds); round++) {
    for (const [name, put] of Object.entries(paths)) {
      const start = process.cpuUsage();
      for (let i = 0; i < puts; i++) {
        await put({
          Bucket: config.bucket_name,
          Key: `put-cpu/${name}-${i % 50}.jsonl`,
          Body: body,
          ContentType: 'application/x-ndjson',
          ContentLength: body.length,
        });
      }
      const used = process.cpuUsage(start);
      const ms = (used.user + used.system) / 1000 / puts;
      console.log(`round ${round} ${name.padEnd(4)} ${ms.toFixed(3)} ms of CPU per PUT`);
    }
  }
  client.destroy();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
