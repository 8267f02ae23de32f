/**
 * Test data: a policy, health, queues, a call and a desk built from them. They are the figures of
 * the LCD's situations (src/lcd/situations.ts, what `cuffia lcd preview` shows), so the product's
 * preview and the tests speak of the same desk: one copy, kept with the product that uses it.
 */
export {
  baseState,
  SAMPLE_NOW,
  sampleCall,
  sampleHealth,
  samplePolicy,
  sampleQueues,
} from "../src/lcd/situations.js";
