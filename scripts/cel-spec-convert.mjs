#!/usr/bin/env node
// Converts the CEL conformance data (cel-spec `tests/simple/testdata`, as shipped in the npm
// package @bufbuild/cel-spec) into the typed JSON files under tests/fixtures/cel-spec/ that
// tests/cel_conformance.rs runs. Only needed to refresh the fixtures, never at test time.
//
//   cd "$(mktemp -d)" && npm pack @bufbuild/cel-spec@0.6.1 && tar xzf bufbuild-cel-spec-0.6.1.tgz
//   node scripts/cel-spec-convert.mjs "$PWD/package" tests/fixtures/cel-spec
//
// Output, one file per section (`<section>.json`):
//   { section, source: {package, version, cel_spec_ref, file}, cases: [Case] }
//   Case = { name: "<group>/<test>", expr, disable_check, disable_macros, container?,
//            description?, declarations: [ident], bindings: {name: Typed},
//            expected: {value: Typed} | {error: "message"}, skip?: "why" }
//   Typed = {int: "<i64 decimal>"} | {uint: "<u64 decimal>"} | {double: "<shortest decimal>"|"NaN"|"Infinity"|"-Infinity"}
//         | {string: s} | {bytes: "<base64>"} | {bool: b} | {null: null} | {list: [Typed]}
//         | {map: [{key: Typed, value: Typed}]} | {type: "name"} | {timestamp: "RFC 3339"}
//         | {duration: "<seconds>s"} | {message: {type, value}}   (proto messages: not representable)
//   ({optional: Typed|null} is read by the test too, but upstream results never hold one.)
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// The sections celgate runs: the core language and the extensions celgate enables. Left out on
// purpose: proto2, proto3, proto2_ext, enums, dynamic, wrappers (protobuf messages, which
// Kubernetes CEL does not have), type_deductions (checker only), block_ext, bindings_ext,
// network_ext, unknowns (features celgate does not offer).
const SECTIONS = [
  "basic", "comparisons", "logic", "macros", "macros2", "string", "string_ext", "lists",
  "fields", "optionals", "conversions", "integer_math", "fp_math", "math_ext", "encoders_ext",
  "parse", "namespace", "plumbing", "timestamps",
];

const [pkgDir, outDir] = process.argv.slice(2);
if (!pkgDir || !outDir) {
  console.error("usage: node scripts/cel-spec-convert.mjs <@bufbuild/cel-spec package dir> <out dir>");
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const require = createRequire(import.meta.url);
const data = require(join(pkgDir, "dist/cjs/testdata/conformance.js")).tests;

class Unsupported extends Error {}

/** The shortest text that reads back as the same double; `-0` kept. */
function doubleText(d) {
  if (typeof d !== "number") return String(d);
  return Object.is(d, -0) ? "-0" : String(d);
}

/** One `cel.expr.Value` in proto3 JSON form to the typed fixture form. */
function typed(v) {
  if (v === undefined || v === null) throw new Unsupported("missing value");
  if ("int64Value" in v) return { int: String(v.int64Value) };
  if ("uint64Value" in v) return { uint: String(v.uint64Value) };
  // Doubles as text: JSON number parsers need not round-trip (serde_json's default does not).
  if ("doubleValue" in v) return { double: doubleText(v.doubleValue) };
  if ("stringValue" in v) return { string: v.stringValue };
  if ("bytesValue" in v) return { bytes: v.bytesValue };
  if ("boolValue" in v) return { bool: v.boolValue };
  if ("nullValue" in v) return { null: null };
  if ("typeValue" in v) return { type: v.typeValue };
  if ("listValue" in v) return { list: (v.listValue.values ?? []).map(typed) };
  if ("mapValue" in v) {
    return { map: (v.mapValue.entries ?? []).map((e) => ({ key: typed(e.key), value: typed(e.value) })) };
  }
  if ("objectValue" in v) {
    const any = v.objectValue;
    const type = String(any["@type"] ?? "").replace(/^type\.googleapis\.com\//, "");
    if (type === "google.protobuf.Timestamp") return { timestamp: any.value };
    if (type === "google.protobuf.Duration") return { duration: any.value };
    const { ["@type"]: _, ...rest } = any;
    return { message: { type, value: rest } };
  }
  throw new Unsupported(`value kind ${Object.keys(v).join(",")}`);
}

function convertCase(group, t, seen) {
  let name = `${group}/${t.name ?? t.expr.replace(/\s+/g, " ").trim()}`;
  if (seen.has(name)) {
    let n = 2;
    while (seen.has(`${name}#${n}`)) n += 1;
    name = `${name}#${n}`;
  }
  seen.add(name);
  const out = {
    name,
    expr: t.expr,
    disable_check: Boolean(t.disableCheck),
    disable_macros: Boolean(t.disableMacros),
  };
  if (t.container) out.container = t.container;
  if (t.description) out.description = t.description;
  out.declarations = (t.typeEnv ?? []).filter((d) => d.ident).map((d) => d.name);
  out.bindings = {};
  try {
    for (const [k, b] of Object.entries(t.bindings ?? {})) {
      if (!b.value) throw new Unsupported(`binding ${k} is not a plain value`);
      out.bindings[k] = typed(b.value);
    }
    if (t.checkOnly) throw new Unsupported("check-only case: nothing to evaluate");
    if (t.evalError) {
      out.expected = { error: (t.evalError.errors ?? []).map((e) => e.message).join("; ") };
    } else if (t.typedResult) {
      out.expected = { value: typed(t.typedResult.result) };
    } else if (t.value) {
      out.expected = { value: typed(t.value) };
    } else if (t.unknown || t.anyUnknowns || t.anyEvalErrors) {
      throw new Unsupported("expects unknowns or one of several errors");
    } else {
      // SimpleTest: with no result matcher set, the expected result is `true`.
      out.expected = { value: { bool: true } };
    }
  } catch (e) {
    if (!(e instanceof Unsupported)) throw e;
    out.skip = e.message;
  }
  return out;
}

mkdirSync(outDir, { recursive: true });
const bySection = new Map(data.suites.map((s) => [s.name, s]));
for (const section of SECTIONS) {
  const suite = bySection.get(section);
  if (!suite) throw new Error(`section ${section} is not in the package`);
  const seen = new Set();
  const cases = [];
  for (const group of suite.suites ?? []) {
    for (const t of group.tests ?? []) cases.push(convertCase(group.name, t.original, seen));
  }
  const doc = {
    section,
    source: {
      package: `${pkg.name}@${pkg.version}`,
      cel_spec_ref: pkg.upstreamCelSpecRef,
      file: `tests/simple/testdata/${section}.textproto`,
      license: "Apache-2.0",
    },
    cases,
  };
  writeFileSync(join(outDir, `${section}.json`), `${JSON.stringify(doc, null, 1)}\n`);
  console.log(`${section}: ${cases.length} cases (${cases.filter((c) => c.skip).length} skipped)`);
}
