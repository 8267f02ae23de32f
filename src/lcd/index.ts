/** The LCD side's public surface (only app.ts and the CLI import it). */

export { type LcdModel, lcdModelSchema, loadLcdModels } from "./models.js";
export type { LcdBacklight, LcdCharset, LcdDriver, LcdLanguage, LcdOptions } from "./options.js";
export { parseSize } from "./options.js";
export type { LcdPort, OpenPort } from "./port.js";
export { lcdPreview } from "./preview.js";
export { hasVisibleTimer, type ScreenContext, screen } from "./screens.js";
export { type LcdClock, type LcdLink, SerialLcd, type SerialLcdArgs } from "./serial-lcd.js";
