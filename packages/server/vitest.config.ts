import { unitTestConfig } from '../../vitest.shared.ts';

export default unitTestConfig(['src/**/*.test.ts', 'test/*.test.ts'], { setupFiles: ['test/setup.ts'] });
