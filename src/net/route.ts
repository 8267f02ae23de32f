/** Which local address the kernel would use toward a host: what SDP must announce. */
import { createSocket } from "node:dgram";
import { lookup } from "node:dns/promises";

/**
 * Connects a UDP socket (nothing is sent: connect() on UDP only picks the route) and reads the
 * local address the kernel chose. Falls back to `fallback` when the host cannot be resolved.
 */
export async function localAddressToward(
  host: string,
  port: number,
  fallback = "127.0.0.1",
): Promise<string> {
  let address: string;
  try {
    address = (await lookup(host, { family: 4 })).address;
  } catch {
    return fallback;
  }
  const sock = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.connect(port, address, () => resolve());
    });
    return sock.address().address;
  } catch {
    return fallback;
  } finally {
    sock.close();
  }
}
