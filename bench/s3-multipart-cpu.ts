/**
 * `npx tsx bench/s3-multipart-cpu.ts [--mb 80] [--rounds 5]`: the benchmark's S3 server's
 * CPU (scripts/s3-server.js on a folder of its own, bench/s3-server.ts) per multipart upload
 * as an export sends one: `--mb` MiB in the product's parts (openParts: PART_SIZE, QUEUE_SIZE
 * in flight), the same key each round. The first round warms the server's JIT up.
 * BENCH_S3_SCRIPT=path runs another server script (A/B against an older copy).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { openParts, s3ConfigSchema, sharedS3Client } from '@bx/destination-s3';
import { benchBucket } from './bench-bucket';
import { startBenchS3 } from './s3-server';

const { values: args } = parseArgs({
  options: {
    mb: { type: 'string', default: '80' },
    rounds: { type: 'string', default: '5' },
  },
});

async function main(): Promise<void> {
  const server = await startBenchS3();
  try {
    const config = s3ConfigSchema.parse(await benchBucket(server.endpoint, 'bx-bench-s3-multipart'));
    const client = sharedS3Client(config);
    // Incompressible like a zstd file; written in the compressor's 256 KiB chunks.
    const chunk = randomBytes(256 * 1024);
    const chunks = Math.round((Number(args.mb) * 1024 * 1024) / chunk.length);
    for (let round = 1; round <= Number(args.rounds); round++) {
      const cpu = server.cpuTimes();
      const began = Date.now();
      const parts = openParts({
        client,
        bucket: config.bucket_name,
        key: 'bench/object.jsonl.zst',
        contentType: 'application/zstd',
      });
      for (let i = 0; i < chunks; i++) await parts.write(chunk);
      await parts.complete();
      console.log(
        JSON.stringify({
          round,
          mb: Number(args.mb),
          s3_server_cpu_s: Number((server.cpuSeconds() - cpu.user - cpu.system).toFixed(2)),
          user_s: Number((server.cpuTimes().user - cpu.user).toFixed(2)),
          system_s: Number((server.cpuTimes().system - cpu.system).toFixed(2)),
          wall_s: (Date.now() - began) / 1000,
        }),
      );
    }
  } finally {
    await server.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
