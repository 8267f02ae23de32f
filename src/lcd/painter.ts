/**
 * Screen lines → wire chunks for one display (pure apart from its backing store): encode each
 * cell through the charset, diff against what the panel shows, encode the runs.
 */
import type { Charset } from "./charset.js";
import { FrameBuffer } from "./framebuffer.js";
import type { LcdBacklight } from "./options.js";
import type { Chunk, Protocol } from "./protocols/index.js";

export class Painter {
  readonly #fb = new FrameBuffer();

  constructor(
    readonly protocol: Protocol,
    readonly charset: Charset,
    readonly geometry: { readonly cols: number; readonly rows: number },
    readonly setup: { readonly backlight?: LcdBacklight; readonly contrast?: number } = {},
  ) {}

  /** Init sequence (clear, glyphs, configured backlight/contrast); the next paint is full. */
  init(): Chunk[] {
    this.#fb.invalidate();
    return this.protocol.init({ ...this.setup, glyphs: this.charset.glyphs });
  }

  /** Repaint everything on the next paint without a hardware clear (§ 7 periodic refresh). */
  invalidate(): void {
    this.#fb.invalidate();
  }

  /** Cells → ROM codes, exactly rows × cols. */
  encode(lines: readonly string[]): number[][] {
    const { cols, rows } = this.geometry;
    const space = this.charset.encode(" ");
    return Array.from({ length: rows }, (_, r) => {
      const codes = this.charset.encodeRow(lines[r] ?? "").slice(0, cols);
      while (codes.length < cols) codes.push(space);
      return codes;
    });
  }

  /** Chunks that bring the panel from what it shows to `lines`; commits the new backing store. */
  paint(lines: readonly string[]): Chunk[] {
    const next = this.encode(lines);
    const runs = this.#fb.diff(next, this.protocol.gotoCost);
    this.#fb.commit(next);
    return runs.flatMap((r) => this.protocol.write(r.col, r.row, r.bytes));
  }
}
