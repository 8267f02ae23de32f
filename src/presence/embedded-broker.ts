/**
 * `mqtt.url: embedded`: an aedes broker in this process, for a single box or a demo without a
 * Mosquitto. Loopback only: it has no authentication configured.
 */
import { createServer, type Socket } from "node:net";
import { Aedes } from "aedes";
import type { Logger } from "../log/logger.js";

export interface EmbeddedBroker {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startEmbeddedBroker(port: number, log: Logger): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  broker.on("clientError", (client, err) =>
    log.debug({ client: client.id, err: err.message }, "embedded broker: client error"),
  );
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  log.info({ port: bound }, "embedded MQTT broker listening on 127.0.0.1");
  return {
    port: bound,
    url: `mqtt://127.0.0.1:${bound}`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}
