import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // End-to-end tests start real processes; the machine is shared and has two cores.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The JSON report is what .ci/run counts passes and failures from.
    reporters: ["default", ["json", { outputFile: ".test-results/vitest.json" }]],
  },
});
