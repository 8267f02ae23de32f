/**
 * The README's configuration reference, rendered from the same schema the daemon validates with
 * (`cuffia schema --markdown`); a test keeps the README's copy identical.
 */
import { jsonSchema } from "./schema.js";

type Json = {
  type?: string;
  properties?: Record<string, Json>;
  required?: string[];
  anyOf?: Json[];
  oneOf?: Json[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  items?: Json;
  additionalProperties?: Json | boolean;
  minimum?: number;
  maximum?: number;
  pattern?: string;
};

function typeOf(s: Json): string {
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(", ");
  const branches = s.anyOf ?? s.oneOf;
  if (branches) return branches.map(typeOf).join(" or ");
  switch (s.type) {
    case "object": {
      if (s.properties) {
        const keys = Object.keys(s.properties).map((k) => {
          const v = s.properties?.[k];
          return v?.const !== undefined ? `${k}: ${String(v.const)}` : k;
        });
        return `{ ${keys.join(", ")} }`;
      }
      if (s.additionalProperties && typeof s.additionalProperties === "object")
        return `map of name → ${typeOf(s.additionalProperties)}`;
      return "mapping";
    }
    case "array":
      return `list of ${s.items ? typeOf(s.items) : "values"}`;
    case "integer":
    case "number": {
      const range =
        s.minimum !== undefined && s.maximum !== undefined
          ? ` ${s.minimum}–${s.maximum}`
          : s.minimum !== undefined
            ? ` ≥ ${s.minimum}`
            : "";
      return `${s.type}${range}`;
    }
    default:
      return s.type ?? "any";
  }
}

function defaultOf(s: Json): string {
  if (s.default === undefined) return "";
  const d = s.default;
  if (typeof d === "object" && d !== null && !Array.isArray(d) && Object.keys(d).length === 0) return "";
  return `\`${typeof d === "string" ? d : JSON.stringify(d)}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function configReference(): string {
  const root = jsonSchema() as Json;
  const rows: string[] = ["| key | type | default | meaning |", "|---|---|---|---|"];
  const walk = (node: Json, path: string, required: boolean): void => {
    const isSection = node.type === "object" && node.properties !== undefined && !node.anyOf && !node.oneOf;
    const req = required && node.default === undefined ? " (required)" : "";
    if (isSection) {
      if (path) rows.push(`| **${path}** | section |  | ${cell(node.description ?? "")} |`);
      for (const [k, v] of Object.entries(node.properties ?? {}))
        walk(v, path ? `${path}.${k}` : k, node.required?.includes(k) ?? false);
      return;
    }
    rows.push(
      `| \`${path}\`${req} | ${cell(typeOf(node))} | ${cell(defaultOf(node))} | ${cell(node.description ?? "")} |`,
    );
  };
  walk(root, "", true);
  return `${rows.join("\n")}\n`;
}
