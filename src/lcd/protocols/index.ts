import type { Charset } from "../charset.js";
import type { LcdOptions } from "../options.js";
import { crystalfontz } from "./crystalfontz.js";
import { hd44780Serial } from "./hd44780-serial.js";
import { matrixOrbital } from "./matrix-orbital.js";
import type { Protocol } from "./protocol.js";
import { sparkfunSerlcd } from "./sparkfun-serlcd.js";
import { terminal } from "./terminal.js";

export type { Chunk, InitOptions, Protocol } from "./protocol.js";

export function createProtocol(options: LcdOptions, charset: Charset): Protocol {
  switch (options.driver) {
    case "matrix-orbital":
      return matrixOrbital();
    case "sparkfun-serlcd":
      return sparkfunSerlcd();
    case "crystalfontz":
      // CFA-533/633 (A00 ROM) take contrast 0–50; 631/635 (their own ROM) 0–255.
      return crystalfontz({ contrastMax: options.charset === "crystalfontz" ? 255 : 50 });
    case "hd44780-serial":
      return hd44780Serial(options.cols);
    case "terminal":
      return terminal(options.cols, options.rows, charset, options.terminalOrigin);
  }
}
