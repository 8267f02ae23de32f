/**
 * `cuffia doctor`'s findings and how they are printed: one line per check (`✔ sip: ...`), the
 * fix under each problem, a summary line; or the same as JSON (`--json`) for provisioning tools.
 */

/**
 * ok: works. warn: works but should be fixed (does not fail the run). fail: will not work.
 * skip: nothing to check (the section is absent, or the check cannot run here).
 */
export type FindingStatus = "ok" | "warn" | "fail" | "skip";

export interface Finding {
  readonly check: string;
  readonly status: FindingStatus;
  /** What was seen, in one sentence. */
  readonly detail: string;
  /** What to do about it; null when nothing is to be done. */
  readonly fix: string | null;
}

export function finding(
  check: string,
  status: FindingStatus,
  detail: string,
  fix: string | null = null,
): Finding {
  return { check, status, detail, fix };
}

const MARK: Record<FindingStatus, string> = { ok: "✔", warn: "!", fail: "✘", skip: "-" };

export interface DoctorReport {
  readonly config: string;
  readonly agent: string;
  readonly findings: readonly Finding[];
}

/** 0 when nothing failed (warnings do not fail), 1 otherwise. */
export function exitCode(findings: readonly Finding[]): 0 | 1 {
  return findings.some((f) => f.status === "fail") ? 1 : 0;
}

export function formatText(report: DoctorReport): string {
  const lines = [`cuffia doctor: ${report.config} (agent ${report.agent})`];
  for (const f of report.findings) {
    lines.push(`${MARK[f.status]} ${f.check}: ${f.detail}`);
    if (f.fix !== null && f.status !== "ok") lines.push(`  fix: ${f.fix}`);
  }
  const failed = report.findings.filter((f) => f.status === "fail").length;
  const warned = report.findings.filter((f) => f.status === "warn").length;
  lines.push(
    failed === 0 && warned === 0 ? "no problems found" : `${failed} problem(s), ${warned} warning(s)`,
  );
  return `${lines.join("\n")}\n`;
}

export function formatJson(report: DoctorReport): string {
  const body = {
    config: report.config,
    agent: report.agent,
    ok: exitCode(report.findings) === 0,
    checks: report.findings.map((f) => ({
      check: f.check,
      ok: f.status !== "fail",
      status: f.status,
      detail: f.detail,
      fix: f.fix,
    })),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}
