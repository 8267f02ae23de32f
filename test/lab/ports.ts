// Moved to src/lab/ so the demo (npm run demo) runs it compiled; tests keep importing it from here.
export * from "../../src/lab/ports.js";
