{
  "targets": [
    {
      "target_name": "bx_native",
      "sources": ["src/addon.c", "src/binary_text.c", "src/chunked.c", "src/frames.c", "src/json_scan.c", "src/parquet.c", "src/records.c", "src/siphash.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra"]
    }
  ]
}
