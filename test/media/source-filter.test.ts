import { describe, expect, it } from "vitest";
import { SourceFilter } from "../../src/media/source-filter.js";

describe("SourceFilter (symmetric RTP latching)", () => {
  it("rejects everything before a remote description", () => {
    expect(new SourceFilter().check("127.0.0.1", 4000)).toBe("reject");
  });

  it("latches to the SDP address and rejects a third party afterwards", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(f.check("192.0.2.1", 4000)).toBe("accept");
    expect(f.check("192.0.2.1", 4002)).toBe("reject");
    expect(f.check("198.51.100.9", 4000)).toBe("reject");
  });

  it("learns a NAT'd peer (same IP, other port) within the first packets", () => {
    const f = new SourceFilter(3);
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(f.check("192.0.2.1", 61000)).toBe("accept");
    expect(f.latched).toEqual({ address: "192.0.2.1", port: 61000 });
    expect(f.check("192.0.2.1", 4000)).toBe("reject");
  });

  it("learns a public source for a private SDP address, but not a stranger for a public one", () => {
    const nat = new SourceFilter();
    nat.setExpected({ address: "10.0.0.5", port: 4000 });
    expect(nat.check("203.0.113.7", 30000)).toBe("accept");
    const pub = new SourceFilter();
    pub.setExpected({ address: "192.0.2.1", port: 4000 });
    expect(pub.check("203.0.113.7", 30000)).toBe("reject");
  });

  it("stops learning after the window", () => {
    const f = new SourceFilter(2);
    f.setExpected({ address: "10.0.0.5", port: 4000 });
    f.check("8.8.8.8", 1); // not NAT-like? private SDP: learnt
    const g = new SourceFilter(2);
    g.setExpected({ address: "192.0.2.1", port: 4000 });
    g.check("203.0.113.1", 1);
    g.check("203.0.113.1", 1);
    expect(g.check("192.0.2.1", 5555)).toBe("reject"); // third packet: window closed
    expect(g.check("192.0.2.1", 4000)).toBe("accept"); // the SDP address itself always latches
  });

  it("a re-INVITE moving the stream unlatches", () => {
    const f = new SourceFilter();
    f.setExpected({ address: "192.0.2.1", port: 4000 });
    f.check("192.0.2.1", 4000);
    f.setExpected({ address: "192.0.2.2", port: 5000 });
    expect(f.check("192.0.2.2", 5000)).toBe("accept");
  });
});
