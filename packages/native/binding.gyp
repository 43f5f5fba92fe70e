{
  "targets": [
    {
      "target_name": "bx_native",
      "sources": ["src/json_scan.c"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra"]
    }
  ]
}
