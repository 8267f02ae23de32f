/**
 * "A desk behind a home router", built by the test itself from Linux network namespaces and
 * removed again: three namespaces joined by veth pairs, none of it touching the machine's own
 * interfaces or routes (the root namespace gets nothing).
 *
 *   home   192.168.77.2/24  (the desk's kitchen-table LAN; default route via the router)
 *     | veth
 *   router 192.168.77.1/24 | 198.51.100.2/24  (ip_forward, nft masquerade out of its WAN side,
 *     | veth                                    forward: LAN->WAN and replies only)
 *   wan    198.51.100.1/24  (the "internet": the PBX side, STUN/TURN servers run here)
 *
 * The addresses are documentation ranges (RFC 5737 TEST-NET-2) and private LAN space, and they
 * exist only inside these namespaces, so parallel runs cannot collide. `nat: "symmetric"` maps
 * every new flow to a random port (`masquerade random`): a server-reflexive candidate learnt from
 * STUN is then useless to a peer, and only a TURN relay connects, as behind some carrier NATs.
 *
 * Needs root or CAP_NET_ADMIN (`netnsUnavailable()` says why not, for a clear skip). Processes run
 * in a namespace through `ip netns exec` (which execs: the pid is the program's own), started and
 * stopped by pid like every lab process; `teardown()` deletes the namespaces (and with them the
 * veths), also from an exit hook if the test process dies first.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { execFileAsync, repoRoot, type Spawned, spawnLogged } from "./proc.js";

export type NatKind = "port-restricted" | "symmetric";

export interface NetnsSide {
  /** Namespace name (for `ip netns exec`). */
  readonly ns: string;
  readonly address: string;
}

export interface HomeNat {
  readonly id: string;
  /** The internet side: servers (coturn, a PBX) listen on its address. */
  readonly wan: NetnsSide;
  /** The home router: `address` is its public (WAN) address, the one NATed flows come from. */
  readonly router: NetnsSide & { readonly lanAddress: string };
  /** The desk's LAN. */
  readonly home: NetnsSide;
  readonly nat: NatKind;
  readonly dir: string;
  /** Runs a command in a namespace and resolves with its output (rejects on a non-zero exit). */
  exec(
    ns: string,
    command: string,
    args: readonly string[],
    opts?: { timeoutMs?: number },
  ): Promise<{ stdout: string; stderr: string }>;
  /** Starts a long-running program in a namespace, output appended to `logFile`. */
  spawn(
    ns: string,
    command: string,
    args: readonly string[],
    logFile: string,
    opts?: Parameters<typeof spawnLogged>[3],
  ): Spawned;
  /**
   * Runs test/lab/netns-probe.mjs in a namespace (a STUN/TURN/UDP client: `binding HOST PORT`,
   * `allocate HOST PORT USER PASS`, `send HOST PORT TEXT`) and parses its JSON answer.
   */
  probe(ns: string, args: readonly string[], timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Deletes the namespaces (stop the processes running in them first). */
  teardown(): Promise<void>;
}

export const NETNS_PROBE = join(repoRoot(), "test", "lab", "netns-probe.mjs");

/** Why namespaces with NAT cannot be built here, or null when they can. */
export async function netnsUnavailable(): Promise<string | null> {
  const status = await readFile("/proc/self/status", "utf8").catch(() => "");
  const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
  const CAP_NET_ADMIN = 12n;
  if (((capEff >> CAP_NET_ADMIN) & 1n) === 0n) {
    return "network namespaces need root or CAP_NET_ADMIN, which this process does not have";
  }
  for (const command of ["ip", "nft"]) {
    try {
      await execFileAsync("sh", ["-c", `command -v ${command}`]);
    } catch {
      return `${command} is missing (iproute2 / nftables): run test/lab/install.sh`;
    }
  }
  const ns = `cuffia-probe-${randomBytes(3).toString("hex")}`;
  try {
    await execFileAsync("ip", ["netns", "add", ns]);
  } catch (error) {
    return `ip netns add fails here: ${(error as Error).message.split("\n")[0]}`;
  }
  try {
    await execFileAsync("ip", ["netns", "exec", ns, "nft", "add", "table", "ip", "nat"]);
  } catch (error) {
    return `nft inside a namespace fails here (no nf_tables?): ${(error as Error).message.split("\n")[0]}`;
  } finally {
    await execFileAsync("ip", ["netns", "del", ns]).catch(() => {});
  }
  return null;
}

const ip = (args: readonly string[]): Promise<unknown> => execFileAsync("ip", [...args]);

/** Builds home ⇄ router (NAT) ⇄ wan. Rejects (after cleaning up) when any step fails. */
export async function createHomeNat(opts: { nat?: NatKind } = {}): Promise<HomeNat> {
  const nat = opts.nat ?? "port-restricted";
  const id = randomBytes(3).toString("hex");
  const dir = await mkdtemp(join(tmpdir(), `cuffia-netns-${id}-`));
  const names = { home: `cuffia-${id}-home`, router: `cuffia-${id}-router`, wan: `cuffia-${id}-wan` };
  const created: string[] = [];
  const removeAll = async (): Promise<void> => {
    for (const ns of created.splice(0).reverse()) {
      await execFileAsync("ip", ["netns", "del", ns]).catch(() => {});
    }
  };
  const onExit = (): void => {
    for (const ns of created) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  };
  process.once("exit", onExit);
  const inNs = (ns: string, args: readonly string[]): Promise<unknown> =>
    execFileAsync("ip", ["netns", "exec", ns, ...args]);

  try {
    for (const ns of Object.values(names)) {
      await ip(["netns", "add", ns]);
      created.push(ns);
      await inNs(ns, ["ip", "link", "set", "lo", "up"]);
    }
    // Interface names are at most 15 characters: cf<id><side>.
    const link = {
      homeLan: `cf${id}h`,
      routerLan: `cf${id}rl`,
      routerWan: `cf${id}rw`,
      wan: `cf${id}w`,
    };
    await ip([
      "link",
      "add",
      link.homeLan,
      "netns",
      names.home,
      "type",
      "veth",
      "peer",
      "name",
      link.routerLan,
      "netns",
      names.router,
    ]);
    await ip([
      "link",
      "add",
      link.routerWan,
      "netns",
      names.router,
      "type",
      "veth",
      "peer",
      "name",
      link.wan,
      "netns",
      names.wan,
    ]);
    const address = async (ns: string, dev: string, cidr: string): Promise<void> => {
      await inNs(ns, ["ip", "addr", "add", cidr, "dev", dev]);
      await inNs(ns, ["ip", "link", "set", dev, "up"]);
    };
    await address(names.home, link.homeLan, "192.168.77.2/24");
    await address(names.router, link.routerLan, "192.168.77.1/24");
    await address(names.router, link.routerWan, "198.51.100.2/24");
    await address(names.wan, link.wan, "198.51.100.1/24");
    await inNs(names.home, ["ip", "route", "add", "default", "via", "192.168.77.1"]);
    // The wan side has no route to 192.168.77.0/24: the LAN is reachable only through the NAT.
    await inNs(names.router, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
    const rules = join(dir, "router.nft");
    await writeFile(
      rules,
      [
        "table ip nat {",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        `    oifname "${link.routerWan}" masquerade${nat === "symmetric" ? " random" : ""}`,
        "  }",
        "}",
        "table inet filter {",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct state established,related accept",
        `    iifname "${link.routerLan}" oifname "${link.routerWan}" accept`,
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    await inNs(names.router, ["nft", "-f", rules]);
  } catch (error) {
    await removeAll();
    process.removeListener("exit", onExit);
    throw new Error(`building the home NAT namespaces failed: ${(error as Error).message}`);
  }

  const exec: HomeNat["exec"] = async (ns, command, args, execOpts = {}) => {
    const { stdout, stderr } = await execFileAsync("ip", ["netns", "exec", ns, command, ...args], {
      timeout: execOpts.timeoutMs ?? 10_000,
    });
    return { stdout, stderr };
  };

  return {
    id,
    wan: { ns: names.wan, address: "198.51.100.1" },
    router: { ns: names.router, address: "198.51.100.2", lanAddress: "192.168.77.1" },
    home: { ns: names.home, address: "192.168.77.2" },
    nat,
    dir,
    exec,
    spawn(ns, command, args, logFile, spawnOpts = {}) {
      return spawnLogged("ip", ["netns", "exec", ns, command, ...args], logFile, spawnOpts);
    },
    async probe(ns, args, timeoutMs = 5_000) {
      const { stdout } = await exec(ns, process.execPath, [NETNS_PROBE, ...args], { timeoutMs });
      return JSON.parse(stdout) as Record<string, unknown>;
    },
    async teardown() {
      await removeAll();
      process.removeListener("exit", onExit);
    },
  };
}

/**
 * One namespace joined to this one by a veth pair, both ends on addresses the test made: a far
 * end (baresip) that can only reach this namespace, and that sees no address of the machine but
 * its own end of the pair. Built for ICE tests against a peer whose ICE offers every non-loopback
 * address it has (baresip 1.0): run inside, its only one is `address`, and the desk, given
 * `rtp.ice.host_addresses: [rootAddress]`, checks nothing else.
 *
 *   this namespace  198.18.N.1/30 (rootAddress, on rootDev)
 *     | veth
 *   ns              198.18.N.2/30 (address), no other route
 *
 * 198.18.0.0/15 is the benchmarking range (RFC 2544), never routed; N is drawn at random and checked
 * against the addresses already here, so parallel runs do not collide. `teardown()` deletes the
 * namespace (and with it both ends of the pair), also from an exit hook.
 */
export interface VethLink {
  readonly id: string;
  /** The namespace (for `ip netns exec`). */
  readonly ns: string;
  /** The namespace's end of the pair. */
  readonly address: string;
  /** This namespace's end of the pair, and its interface name (for a capture). */
  readonly rootAddress: string;
  readonly rootDev: string;
  /** The namespace's end's interface name. */
  readonly farDev: string;
  spawn: HomeNat["spawn"];
  teardown(): Promise<void>;
}

export async function createVethLink(): Promise<VethLink> {
  const id = randomBytes(3).toString("hex");
  const ns = `cuffia-${id}-far`;
  const rootDev = `cf${id}r`;
  const farDev = `cf${id}f`;
  const taken = String((await execFileAsync("ip", ["-4", "-o", "addr"])).stdout);
  let n = 0;
  do n = 1 + Math.floor(Math.random() * 254);
  while (taken.includes(` 198.18.${n}.`));
  const rootAddress = `198.18.${n}.1`;
  const address = `198.18.${n}.2`;
  let created = false;
  const onExit = (): void => {
    try {
      execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    } catch {
      // already gone
    }
  };
  process.once("exit", onExit);
  const inNs = (args: readonly string[]) => execFileAsync("ip", ["netns", "exec", ns, ...args]);
  try {
    await ip(["netns", "add", ns]);
    created = true;
    await inNs(["ip", "link", "set", "lo", "up"]);
    await ip(["link", "add", rootDev, "type", "veth", "peer", "name", farDev, "netns", ns]);
    await ip(["addr", "add", `${rootAddress}/30`, "dev", rootDev]);
    await ip(["link", "set", rootDev, "up"]);
    await inNs(["ip", "addr", "add", `${address}/30`, "dev", farDev]);
    await inNs(["ip", "link", "set", farDev, "up"]);
  } catch (error) {
    await ip(["link", "del", rootDev]).catch(() => {});
    if (created) await ip(["netns", "del", ns]).catch(() => {});
    process.removeListener("exit", onExit);
    throw new Error(`building the veth link failed: ${(error as Error).message}`);
  }
  return {
    id,
    ns,
    address,
    rootAddress,
    rootDev,
    farDev,
    spawn(space, command, args, logFile, spawnOpts = {}) {
      return spawnLogged("ip", ["netns", "exec", space, command, ...args], logFile, spawnOpts);
    },
    async teardown() {
      await ip(["netns", "del", ns]).catch(() => {});
      await ip(["link", "del", rootDev]).catch(() => {}); // gone with its peer, normally
      process.removeListener("exit", onExit);
    },
  };
}

/**
 * The IPv4 addresses of this namespace's interfaces other than loopback and other than test-made
 * veth ends (198.18.0.0/15): the machine's own (eth0...), which ICE in tests must never use.
 */
export function machineAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === "IPv4" && !a.internal && !a.address.startsWith("198.18."))
    .map((a) => (a as { address: string }).address);
}

/** Every address the datagrams came from or went to, sorted, once each. */
export function addressesSeen(datagrams: readonly { srcAddress: string; dstAddress: string }[]): string[] {
  return [...new Set(datagrams.flatMap((d) => [d.srcAddress, d.dstAddress]))].sort();
}

/**
 * Random packet loss on a veth link, from its namespace toward this one: `percent` % of the UDP
 * datagrams to ports `portMin`-`portMax` are dropped, each independently (nftables `numgen random`
 * on the far end's egress hook: the sender's sendto() succeeds, the datagram never arrives, as on
 * a lossy line). `tc netem` would do the same, but this machine's kernel has no netem (nor prio)
 * qdisc; nftables is already a lab requirement. Only the test's own namespace is touched; it goes
 * with `teardown()`. Resolves with a reader of how many datagrams were dropped so far.
 */
export async function addRandomLoss(
  link: VethLink,
  o: { readonly percent: number; readonly portMin: number; readonly portMax: number },
): Promise<() => Promise<number>> {
  if (!Number.isInteger(o.percent) || o.percent <= 0 || o.percent >= 100 || 100 % o.percent !== 0)
    throw new Error(`loss percent must divide 100: ${o.percent}`);
  const nft = (args: readonly string[]) => execFileAsync("ip", ["netns", "exec", link.ns, "nft", ...args]);
  await nft(["add", "table", "netdev", "cuffia_loss"]);
  await nft([
    ...["add", "chain", "netdev", "cuffia_loss", "egress"],
    `{ type filter hook egress device "${link.farDev}" priority 0; policy accept; }`,
  ]);
  await nft([
    ...["add", "rule", "netdev", "cuffia_loss", "egress", "udp", "dport", `${o.portMin}-${o.portMax}`],
    ...["numgen", "random", "mod", String(100 / o.percent), "0", "counter", "drop"],
  ]);
  return async () => {
    const { stdout } = await nft(["list", "chain", "netdev", "cuffia_loss", "egress"]);
    return Number(/counter packets (\d+)/.exec(String(stdout))?.[1] ?? Number.NaN);
  };
}
