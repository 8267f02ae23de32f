import { defineConfig } from "vitest/config";

// Runs the SIP integration tests without the lab's shared global setup (each SIP test starts
// its own Kamailio on its own port base): `npx vitest run -c test/sip/vitest.integration.config.ts`.
export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/integration/sip-*.test.ts"],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
