{
  "targets": [
    {
      "target_name": "blkzero",
      "sources": ["blkzero.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
