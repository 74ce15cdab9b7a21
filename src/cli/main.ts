// Entry point of the `logwrites` binary.
console.log('logwrites');
