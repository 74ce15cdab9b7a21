{
  "targets": [
    {
      "target_name": "native",
      "sources": ["native.c", "runs.c", "shell.c", "mapped.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
