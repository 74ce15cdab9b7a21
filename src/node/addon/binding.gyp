{
  "targets": [
    {
      "target_name": "native",
      "sources": ["native.c", "runs.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
