{
  "targets": [
    {
      "target_name": "native",
      "sources": ["native.c", "runs.c", "shell.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
