'use strict';

// The limits every sandbox gets, as a page-script host would set them.
module.exports = Object.freeze({
  cpuTimeMs: 1000,
  memoryLimitBytes: 32 << 20,
  maxStackBytes: 256 << 10,
});
