import { describe, expect, it } from "vitest";
import { SourceFilter } from "../../src/media/source-filter.js";

/** `n` consecutive packets (same SSRC, sequence +1) from one source; the verdicts. */
function burst(f: SourceFilter, address: string, port: number, n: number, at: number, ssrc = 1, seq0 = 0) {
  const v: string[] = [];
  for (let i = 0; i < n; i++) v.push(f.check(address, port, ssrc, (seq0 + i) & 0xffff, at + i * 20));
  return v;
}

describe("SourceFilter (symmetric RTP latching that cannot be hijacked)", () => {
  it("rejects everything before a remote description", () => {
    expect(new SourceFilter().check("127.0.0.1", 4000, 1, 0, 0)).toBe("reject");
  });

  it("latches to the SDP address at its first packet and rejects a third party afterwards", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(f.check("192.0.2.1", 4000, 1, 0, 0)).toBe("accept");
    expect(f.latched).toEqual({ address: "192.0.2.1", port: 4000 });
    expect(burst(f, "192.0.2.1", 4002, 10, 20)).toEqual(Array(10).fill("reject"));
    expect(burst(f, "198.51.100.9", 4000, 10, 20)).toEqual(Array(10).fill("reject"));
    expect(f.latched).toEqual({ address: "192.0.2.1", port: 4000 });
  });

  it("NAT: learns a source on the SDP's IP (another port) after 3 consecutive packets", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(burst(f, "192.0.2.1", 61000, 3, 0)).toEqual(["reject", "reject", "accept"]);
    expect(f.latched).toEqual({ address: "192.0.2.1", port: 61000 });
    expect(f.check("192.0.2.1", 61000, 1, 3, 60)).toBe("accept");
  });

  it("a latched far end sending only comfort noise is not silent: no stranger takes over", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "10.0.0.5", port: 4000 }); // private: any source may be learnt
    expect(burst(f, "10.0.0.5", 4000, 1, 0)).toEqual(["accept"]);
    for (let t = 200; t <= 3000; t += 200) f.touch("10.0.0.5", 4000, t); // PT 13 every 200 ms
    expect(burst(f, "203.0.113.7", 30000, 5, 3000)).toEqual(Array(5).fill("reject"));
    expect(f.latched).toEqual({ address: "10.0.0.5", port: 4000 });
    // a stranger's packets touch nothing; once the far end is really silent for 1 s, it may move
    f.touch("203.0.113.7", 30000, 3100);
    expect(burst(f, "203.0.113.7", 30000, 3, 4100)).toEqual(["reject", "reject", "accept"]);
  });

  it("NAT: learns any source for a private SDP address, but never a stranger for a public one", () => {
    const nat = new SourceFilter();
    nat.setExpected({ address: "10.0.0.5", port: 4000 });
    expect(burst(nat, "203.0.113.7", 30000, 3, 0)).toEqual(["reject", "reject", "accept"]);
    const pub = new SourceFilter();
    pub.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(burst(pub, "203.0.113.7", 30000, 50, 0)).toEqual(Array(50).fill("reject"));
    expect(pub.latched).toBeNull();
  });

  it("one stray packet, or packets of changing SSRC, sources or sequence, never latch", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "10.0.0.5", port: 4000 });
    for (let i = 0; i < 30; i++) {
      expect(f.check("203.0.113.7", 30000 + (i % 2), 1, i, i * 20)).toBe("reject"); // two ports
      expect(f.check("203.0.113.8", 30000, i, i, i * 20)).toBe("reject"); // a new SSRC each time
    }
    expect(f.latched).toBeNull();
    const g = new SourceFilter();
    g.setExpected({ address: "10.0.0.5", port: 4000 });
    expect(g.check("203.0.113.7", 30000, 1, 10, 0)).toBe("reject");
    expect(g.check("203.0.113.7", 30000, 1, 10, 20)).toBe("reject"); // same sequence: a replay
    expect(g.check("203.0.113.7", 30000, 1, 5000, 40)).toBe("reject"); // a jump
    expect(g.latched).toBeNull();
  });

  it("the SDP's source is preferred: it takes the stream back from a learnt one at once", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "10.0.0.5", port: 4000 });
    burst(f, "203.0.113.7", 30000, 3, 0);
    expect(f.latched?.port).toBe(30000);
    expect(f.check("10.0.0.5", 4000, 9, 0, 100)).toBe("accept");
    expect(f.latched).toEqual({ address: "10.0.0.5", port: 4000 });
    expect(f.check("203.0.113.7", 30000, 1, 4, 120)).toBe("reject");
  });

  it("once the SDP's source has spoken, no other is learnt while it talks", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "10.0.0.5", port: 4000 });
    f.check("10.0.0.5", 4000, 9, 0, 0);
    for (let i = 1; i < 50; i++) {
      expect(f.check("10.0.0.5", 4000, 9, i, i * 20)).toBe("accept");
      expect(f.check("203.0.113.7", 30000, 1, i, i * 20 + 5)).toBe("reject");
    }
    expect(f.latched).toEqual({ address: "10.0.0.5", port: 4000 });
  });

  it("re-latches after the latched source has been silent for 1 s, and only then", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    burst(f, "192.0.2.1", 4000, 10, 0, 9); // last packet at 180 ms
    expect(burst(f, "192.0.2.1", 61000, 10, 300)).toEqual(Array(10).fill("reject")); // 0.1-0.5 s silent
    expect(f.isLearning(1100)).toBe(false);
    expect(f.isLearning(1180)).toBe(true);
    expect(burst(f, "192.0.2.1", 61000, 3, 1200, 1, 500)).toEqual(["reject", "reject", "accept"]);
    expect(f.latched).toEqual({ address: "192.0.2.1", port: 61000 });
    expect(f.isLearning(1300)).toBe(false);
    // A stranger never takes over a public SDP address's stream, silent or not.
    expect(burst(f, "198.51.100.9", 4000, 10, 5000)).toEqual(Array(10).fill("reject"));
  });

  it("a re-INVITE moving the stream unlatches; the same address keeps the latch", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    f.check("192.0.2.1", 4000, 1, 0, 0);
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(f.latched).not.toBeNull();
    f.setExpected({ address: "192.0.2.2", port: 5000 });
    expect(f.latched).toBeNull();
    expect(f.check("192.0.2.2", 5000, 1, 1, 20)).toBe("accept");
  });

  it("RTCP only from the latched address, on its port + 1 or the SDP's a=rtcp port", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 }, 4100);
    expect(f.checkControl("192.0.2.1", 4001)).toBe("accept"); // before latching: the SDP's source
    expect(f.checkControl("192.0.2.1", 4100)).toBe("accept");
    expect(f.checkControl("192.0.2.1", 5555)).toBe("reject");
    expect(f.checkControl("198.51.100.9", 4001)).toBe("reject");
    burst(f, "192.0.2.1", 61000, 3, 0);
    expect(f.checkControl("192.0.2.1", 61001)).toBe("accept");
    expect(f.checkControl("192.0.2.1", 4100)).toBe("accept");
    expect(f.checkControl("192.0.2.1", 61003)).toBe("reject");
  });
});
