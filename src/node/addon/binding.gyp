{
  "targets": [
    {
      "target_name": "native",
      "sources": ["native.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
