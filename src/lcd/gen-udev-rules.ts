/**
 * Script: regenerates udev/71-cuffia-lcd.rules from device/lcds/*.yaml.
 * Run after a build: `node dist/lcd/gen-udev-rules.js`. test/lcd/udev-rules.test.ts fails while
 * the committed file differs from what this writes.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { loadLcdModels } from "./models.js";
import { generateLcdUdevRules, LCD_UDEV_RULES_FILE } from "./udev-rules.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
await writeFile(
  `${root}udev/${LCD_UDEV_RULES_FILE}`,
  generateLcdUdevRules(loadLcdModels(`${root}device/lcds`)),
);
