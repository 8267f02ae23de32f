/**
 * Script: regenerates udev/70-cuffia-headsets.rules from device/headsets/*.yaml.
 * Run after a build: `node dist/src/headset/gen-udev-rules.js`. test/headset/profiles.test.ts
 * fails while the committed file differs from what this writes.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultProfileDir, loadProfiles } from "./profiles.js";
import { generateUdevRules } from "./udev-rules.js";

const profileDir = defaultProfileDir();
const target = join(profileDir, "..", "..", "udev", "70-cuffia-headsets.rules");
const profiles = await loadProfiles(profileDir);
await writeFile(target, generateUdevRules(profiles.map((p) => ({ id: p.vendor.id, name: p.vendor.name }))));
