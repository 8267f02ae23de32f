/**
 * The byte pipe to a display: a serialport 13 port, or an injected stream for the terminal
 * driver. The SerialPort object never leaves this file (STYLE: library objects stay in their folder).
 */
import { existsSync } from "node:fs";
import { SerialPort } from "serialport";

/** How often the device node is checked while open (§ 10: watch the stable path). */
const PATH_POLL_MS = 1000;

export interface LcdPort {
  /** Resolves once the bytes are handed to the OS; rejects if the port is gone. */
  write(bytes: Buffer): Promise<void>;
  onData(listener: (bytes: Buffer) => void): void;
  /** Called once when the port closes on its own; `disconnected` = unplugged (serialport's flag). */
  onClose(listener: (info: { disconnected: boolean; message: string | null }) => void): void;
  close(): Promise<void>;
}

export type OpenPort = (options: { path: string; baudRate: number }) => Promise<LcdPort>;

/** The real opener: always Buffers (a string would go out as UTF-8, § 10), one port per open. */
export const openSerialPort: OpenPort = (options) =>
  new Promise((resolve, reject) => {
    const port = new SerialPort({ path: options.path, baudRate: options.baudRate, autoOpen: false });
    port.open((err) => {
      if (err) {
        reject(err);
        return;
      }
      const closeListeners: Array<(info: { disconnected: boolean; message: string | null }) => void> = [];
      let closed = false;
      // A vanished node (USB unplug, the lab's socat gone) is noticed even when nothing is
      // written; a pty only fails on the next write, a USB tty on the next read.
      const poll = setInterval(() => {
        if (!existsSync(options.path)) {
          fireClose({ name: "gone", message: `${options.path} is gone`, disconnected: true });
          if (port.isOpen) port.close(() => undefined);
        }
      }, PATH_POLL_MS);
      poll.unref();
      const fireClose = (e: (Error & { disconnected?: boolean }) | null | undefined) => {
        clearInterval(poll);
        if (closed) return;
        closed = true;
        for (const l of closeListeners)
          l({ disconnected: e?.disconnected === true, message: e?.message ?? null });
      };
      port.on("close", (e?: Error & { disconnected?: boolean }) => fireClose(e));
      // A failed read (EIO on a vanished tty) arrives as "error" on some paths; treat it as a close.
      port.on("error", (e: Error & { disconnected?: boolean }) => {
        fireClose({ ...e, message: e.message, disconnected: true });
        if (port.isOpen) port.close(() => undefined);
      });
      port.on("end", () => fireClose({ name: "end", message: "end of stream", disconnected: true }));
      resolve({
        write: (bytes) =>
          new Promise<void>((res, rej) => {
            if (closed || !port.isOpen) {
              // Writes on a closed SerialPort wait for its next open (§ 10): refuse instead.
              rej(new Error("port closed"));
              return;
            }
            port.write(bytes, (e) => (e ? rej(e) : res()));
          }),
        onData: (l) => {
          port.on("data", l);
        },
        onClose: (l) => {
          closeListeners.push(l);
        },
        close: () =>
          new Promise<void>((res) => {
            clearInterval(poll);
            closed = true;
            if (!port.isOpen) res();
            else port.close(() => res());
          }),
      });
    });
  });

/** The terminal driver's "port": an injected stream (e.g. the CLI's stdout), never closed by us. */
export function streamPort(stream: { write(chunk: Buffer): unknown }): LcdPort {
  return {
    write: async (bytes) => {
      stream.write(bytes);
    },
    onData: () => undefined,
    onClose: () => undefined,
    close: async () => undefined,
  };
}
