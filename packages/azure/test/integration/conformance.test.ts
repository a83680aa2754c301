import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { uniqueRoot } from './helpers.js';

// Azurite from integration/ (AZURE_STORAGE_CONNECTION_STRING): each test gets its own prefix.
describeConformance('azure on Azurite', {
  open: () => openRepository(uniqueRoot('conformance')),
});
