import { defineConfig } from "vitest/config";

// Three projects: pure/unit tests run in parallel; integration tests share one lab (Kamailio,
// Mosquitto, baresip on loopback), started once by the global setup, and run one file at a time;
// benchmarks print figures and are run on demand (npm run bench), never as part of npm test.
// Every project first runs test/tmp-root.ts: the run's temporary files go into one directory
// (TMPDIR), removed after the last project's teardown (CUFFIA_KEEP_TMP=1 keeps it).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**", "test/bench/**", "node_modules/**"],
          globalSetup: ["test/tmp-root.ts"],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/tmp-root.ts", "test/lab/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "bench",
          include: ["test/bench/**/*.bench.test.ts"],
          globalSetup: ["test/tmp-root.ts", "test/lab/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
