'use strict';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/__test__/**/*.spec.js'],
  testTimeout: 30000,
  // Refuses to run outside the loopback-only network namespace.
  globalSetup: '<rootDir>/__test__/support/require-loopback-only.js',
};
