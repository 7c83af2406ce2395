// Converts the CEL test data of the pinned npm package @bufbuild/cel-spec (cel-spec's conformance
// suite and cel-go's parsing and comprehension suites) into the JSON that
// tests/expr/conformance_test.cc reads. Plain Node, no dependencies: the package's data modules
// are plain objects (cel.expr.conformance.test.SimpleTest in proto3 JSON form), so neither
// @bufbuild/protobuf nor any other module is loaded.
//
//   node convert.mjs --package <dir of @bufbuild/cel-spec> --out <dir>
//
// Writes <out>/conformance/<file>.json (one case per line), <out>/parsing.json,
// <out>/comprehension.json and <out>/manifest.json (package version, upstream ref, counts).
// The format is described in tests/expr/README.md ("Converted format").
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function usage(msg) {
  process.stderr.write(`convert.mjs: ${msg}\nusage: node convert.mjs --package <dir> --out <dir>\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    if (key !== "--package" && key !== "--out") usage(`unknown argument ${key}`);
    if (i + 1 >= argv.length) usage(`${key} needs a value`);
    args[key.slice(2)] = argv[i + 1];
  }
  if (!args.package || !args.out) usage("--package and --out are required");
  return args;
}

// ---------------------------------------------------------------------------
// Feature tags ("needs"). The C++ test runs a case only when it supports every tag; the rest
// are reported as out of scope. Heuristics over the expression with string literals removed.

const RE_MSG_CONSTRUCT = /(?<![\w.])(?!in\b)[A-Za-z_]\w*(?:\.\w+)*\s*\{/;
const RE_PROTO_WORDS =
  /google\.protobuf\.|cel\.expr\.conformance|\bTestAllTypes\b|\bNestedTestAllTypes\b|\bTestRequired\w*|\bproto\.(?:getExt|hasExt)\b|\bProto2ExtensionScopedMessage\b/;
const RE_ENUM = /\bGlobalEnum\b|\bNestedEnum\b|_enum\b|\bEnum\b|\bnull_value\b|\bNullValue\b/;
const RE_OPTIONAL =
  /\boptional\.|\.\?|\[\?|\{\s*\?|,\s*\?|\.or(?:Value)?\(|\.hasValue\(|\boptional_type\b/;
const RE_BYTES_FN = /\bbytes\s*\(/;
const RE_UINT = /(?<![\w.])(?:0[xX][0-9a-fA-F]+|[0-9]+)[uU]\b|\buint\s*\(/;
const RE_TIMESTAMP = /\btimestamp\s*\(|\bTimestamp\b/;
const RE_DURATION = /\bduration\s*\(|\bDuration\b/;
const WKT_NEEDS = {
  "google.protobuf.Timestamp": "timestamp",
  "google.protobuf.Duration": "duration",
};

function skipString(expr, i, raw) {
  const q = expr[i];
  const triple = expr.startsWith(q.repeat(3), i);
  let j = i + (triple ? 3 : 1);
  while (j < expr.length) {
    if (!raw && expr[j] === "\\") {
      j += 2;
      continue;
    }
    if (triple ? expr.startsWith(q.repeat(3), j) : expr[j] === q) return j + (triple ? 3 : 1);
    j += 1;
  }
  return expr.length;
}

// Replaces string/bytes literals by "" and backquoted names by `_`, so that the heuristics only
// look at code. Also says whether a bytes literal or a backquoted name was seen.
function stripLiterals(expr) {
  let out = "";
  let sawBytes = false;
  let sawBackquote = false;
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (/[\p{L}_]/u.test(c)) {
      let j = i;
      while (j < expr.length && /[\p{L}\p{N}_]/u.test(expr[j])) j += 1;
      const word = expr.slice(i, j);
      const lower = word.toLowerCase();
      if (["r", "b", "rb", "br"].includes(lower) && (expr[j] === "'" || expr[j] === '"')) {
        if (lower.includes("b")) sawBytes = true;
        i = skipString(expr, j, lower.includes("r"));
        out += '""';
        continue;
      }
      out += word;
      i = j;
      continue;
    }
    if (c === "'" || c === '"') {
      i = skipString(expr, i, false);
      out += '""';
      continue;
    }
    if (c === "`") {
      const j = expr.indexOf("`", i + 1);
      i = j < 0 ? expr.length : j + 1;
      out += "_";
      sawBackquote = true;
      continue;
    }
    if (/[0-9]/.test(c)) {
      const m = /^(?:0[xX][0-9a-fA-F]+[uU]?|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[uU]?)/.exec(
        expr.slice(i),
      );
      out += m[0];
      i += m[0].length;
      continue;
    }
    out += c;
    i += 1;
  }
  return { code: out, sawBytes, sawBackquote };
}

function exprNeeds(expr, needs) {
  const { code, sawBytes, sawBackquote } = stripLiterals(expr);
  if (RE_MSG_CONSTRUCT.test(code) || RE_PROTO_WORDS.test(code)) needs.add("proto_message");
  if (RE_ENUM.test(code)) needs.add("enum");
  if (RE_OPTIONAL.test(code)) needs.add("optional");
  if (sawBytes || RE_BYTES_FN.test(code)) needs.add("bytes");
  if (RE_UINT.test(code)) needs.add("uint");
  if (RE_TIMESTAMP.test(code)) needs.add("timestamp");
  if (RE_DURATION.test(code)) needs.add("duration");
  if (sawBackquote) needs.add("escaped_ident");
  return code;
}

// ---------------------------------------------------------------------------
// cel.expr.Value (proto3 JSON) -> tagged JSON.

function valueJson(v, needs) {
  if (v === undefined || v === null || typeof v !== "object") throw new Error("not a Value");
  const keys = Object.keys(v);
  if (keys.length !== 1) throw new Error(`Value with ${keys.length} kinds: ${JSON.stringify(v)}`);
  const k = keys[0];
  const x = v[k];
  switch (k) {
    case "nullValue":
      return { null: null };
    case "boolValue":
      return { bool: x };
    case "int64Value":
      return { int: String(x) };
    case "uint64Value":
      needs.add("uint");
      return { uint: String(x) };
    case "doubleValue":
      return { double: x }; // a number, or "NaN", "Infinity", "-Infinity"
    case "stringValue":
      return { string: x };
    case "bytesValue":
      needs.add("bytes");
      return { bytes_b64: x };
    case "typeValue":
      return { type: x };
    case "enumValue":
      needs.add("enum");
      return { enum: { type: x.type ?? "", value: x.value ?? 0 } };
    case "listValue":
      return { list: (x.values ?? []).map((e) => valueJson(e, needs)) };
    case "mapValue":
      return {
        map: (x.entries ?? []).map((e) => [valueJson(e.key, needs), valueJson(e.value, needs)]),
      };
    case "objectValue": {
      needs.add("proto_message");
      const url = x["@type"] ?? "";
      const name = url.slice(url.lastIndexOf("/") + 1);
      if (WKT_NEEDS[name]) needs.add(WKT_NEEDS[name]);
      return { unsupported: JSON.stringify(x), type_url: url };
    }
    default:
      throw new Error(`unknown Value kind ${k}`);
  }
}

function errorMessages(errorSet) {
  return (errorSet?.errors ?? []).map((s) => s.message ?? null);
}

function exprValueJson(ev, needs) {
  if (ev.value !== undefined) return valueJson(ev.value, needs);
  if (ev.error !== undefined) {
    needs.add("error_binding");
    return { error_set: errorMessages(ev.error) };
  }
  if (ev.unknown !== undefined) {
    needs.add("unknown");
    return { unknown: (ev.unknown.exprs ?? []).map(String) };
  }
  throw new Error(`binding without a kind: ${JSON.stringify(ev)}`);
}

// cel.expr.Decl / cel.expr.Type: proto3 JSON names (camelCase) back to the proto field names the
// reader uses (list_type, elem_type, ...); values are kept.
function snakeKeys(j) {
  if (Array.isArray(j)) return j.map(snakeKeys);
  if (j === null || typeof j !== "object") return j;
  const out = {};
  for (const [k, v] of Object.entries(j)) {
    out[k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())] = snakeKeys(v);
  }
  return out;
}

function typeNeeds(j, needs) {
  if (Array.isArray(j)) {
    for (const x of j) typeNeeds(x, needs);
    return;
  }
  if (j === null || typeof j !== "object") return;
  for (const [k, v] of Object.entries(j)) {
    if (k === "message_type") {
      needs.add("proto_message");
      if (WKT_NEEDS[v]) needs.add(WKT_NEEDS[v]);
    } else if ((k === "primitive" || k === "wrapper") && v === "UINT64") {
      needs.add("uint");
    } else if ((k === "primitive" || k === "wrapper") && v === "BYTES") {
      needs.add("bytes");
    } else if (k === "wrapper") {
      needs.add("proto_message");
    } else if (k === "well_known") {
      if (v === "TIMESTAMP") needs.add("timestamp");
      else if (v === "DURATION") needs.add("duration");
      else needs.add("proto_message");
    } else if (k === "abstract_type" && v?.name === "optional_type") {
      needs.add("optional");
    }
    typeNeeds(v, needs);
  }
}

const TEST_FIELDS = new Set([
  "name", "description", "expr", "disableMacros", "disableCheck", "checkOnly", "typeEnv",
  "container", "locale", "bindings", "value", "typedResult", "evalError", "anyEvalErrors",
  "unknown", "anyUnknowns",
]);

function convertConformanceTest(t, file, section) {
  const o = t.original;
  for (const k of Object.keys(o)) {
    if (!TEST_FIELDS.has(k)) throw new Error(`${file}/${section}: unknown SimpleTest field ${k}`);
  }
  const needs = new Set();
  const c = { file, section, name: o.name ?? "" };
  if (o.description) c.description = o.description;
  c.expr = o.expr ?? "";
  c.container = o.container ?? "";
  c.disable_check = o.disableCheck === true;
  c.disable_macros = o.disableMacros === true;
  c.check_only = o.checkOnly === true;
  if (o.locale) {
    c.locale = o.locale;
    needs.add("locale");
  }
  c.type_env = snakeKeys(o.typeEnv ?? []);
  c.bindings = {};
  for (const [k, v] of Object.entries(o.bindings ?? {})) c.bindings[k] = exprValueJson(v, needs);

  const matchers = ["value", "typedResult", "evalError", "anyEvalErrors", "unknown", "anyUnknowns"]
    .filter((m) => o[m] !== undefined);
  if (matchers.length > 1) throw new Error(`${file}/${section}/${c.name}: several matchers`);
  const expect = {};
  switch (matchers[0]) {
    case undefined:
      expect.value = { bool: true };
      break;
    case "value":
      expect.value = valueJson(o.value, needs);
      break;
    case "typedResult":
      needs.add("typed_result");
      if (o.typedResult.result !== undefined) expect.value = valueJson(o.typedResult.result, needs);
      if (o.typedResult.deducedType !== undefined) {
        expect.deduced_type = snakeKeys(o.typedResult.deducedType);
        typeNeeds(expect.deduced_type, needs);
      }
      break;
    case "evalError": {
      const msgs = errorMessages(o.evalError);
      expect.error = msgs.length > 0 ? msgs[0] : null;
      if (msgs.length > 1) expect.errors = msgs;
      break;
    }
    case "anyEvalErrors":
      expect.error = null;
      expect.any_of_errors = (o.anyEvalErrors.errors ?? []).map(errorMessages);
      break;
    case "unknown":
      needs.add("unknown");
      expect.unknown = (o.unknown.exprs ?? []).map(String);
      break;
    case "anyUnknowns":
      needs.add("unknown");
      expect.any_of_unknowns = (o.anyUnknowns.unknowns ?? []).map((u) =>
        (u.exprs ?? []).map(String),
      );
      break;
  }
  c.expect = expect;
  if (c.type_env.length > 0) {
    needs.add("type_env");
    typeNeeds(c.type_env, needs);
  }
  if (c.check_only) needs.add("check_only");
  if (c.disable_macros) needs.add("disable_macros");
  if (c.container) needs.add("container");
  exprNeeds(c.expr, needs);
  if (file === "optionals") needs.add("optional");
  c.needs = [...needs].sort();
  return c;
}

// ---------------------------------------------------------------------------
// Parsing suites (cel-go): an expression and the AST cel-go's parser printed for it with the
// standard macros only (absent when cel-go's parser rejected it).

const EXT_MACROS = new Map([
  // name -> argument counts of the two-variable forms (comprehension extension)
  ["all", [3]],
  ["exists", [3]],
  ["existsOne", [3]],
  ["exists_one", [3]],
  ["transformList", [3, 4]],
  ["transformMap", [3, 4]],
]);

// Top-level arguments of the call whose "(" is at code[open].
function callArgs(code, open) {
  const args = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < code.length; i += 1) {
    const c = code[i];
    if (c === "(" || c === "[" || c === "{") depth += 1;
    else if (c === ")" || c === "]" || c === "}") {
      depth -= 1;
      if (depth === 0) {
        if (code.slice(start, i).trim() !== "" || args.length > 0) args.push(code.slice(start, i));
        return args;
      }
    } else if (c === "," && depth === 1) {
      args.push(code.slice(start, i));
      start = i + 1;
    }
  }
  return args;
}

// A two-variable comprehension macro whose variables are not two distinct plain names (or
// reuse the accumulator's name) is a parse error with the comprehension extension (cel-go's
// ext/comprehensions_test.go expects exactly that), but the reference parser had the extension
// off and printed it as a plain call: such a case says nothing about a parser with the
// extension on.
function extMacroArgsNeed(code, needs) {
  const re = /\.\s*([A-Za-z_]\w*)\s*\(/g;
  let m;
  while ((m = re.exec(code)) !== null) {
    const counts = EXT_MACROS.get(m[1]);
    if (!counts) continue;
    const args = callArgs(code, m.index + m[0].length - 1);
    if (!counts.includes(args.length)) continue;
    const v1 = args[0].trim();
    const v2 = args[1].trim();
    const plain = (v) => /^[A-Za-z_]\w*$/.test(v) && v !== "__result__";
    if (!plain(v1) || !plain(v2) || v1 === v2) needs.add("ext_macro_args");
  }
}

function convertParsingSuite(key, suite) {
  const out = [];
  (suite.tests ?? []).forEach((t, index) => {
    const needs = new Set();
    const expr = t.original.expr;
    const code = exprNeeds(expr, needs);
    extMacroArgsNeed(code, needs);
    // Only what a parser sees matters here: literal types and enum-like names do not.
    for (const tag of ["uint", "bytes", "timestamp", "duration", "enum"]) needs.delete(tag);
    // cel-go's parser tests run with a recursion limit of 32; the outcome of these depends on
    // that configured limit, not on the grammar.
    if (t.ast === undefined && /recursion (?:limit|depth) exceeded/.test(t.error ?? "")) {
      needs.add("parse_limit");
    }
    out.push({
      id: `${key}/${index + 1}`,
      expr,
      ast: t.ast ?? null,
      reference_error: t.ast === undefined ? (t.error ?? "").split("\n")[0] : null,
      needs: [...needs].sort(),
    });
  });
  if ((suite.suites ?? []).length > 0) throw new Error(`${suite.name}: nested suites`);
  return out;
}

// ---------------------------------------------------------------------------

function dumpCases(cases) {
  const line = (c) =>
    JSON.stringify(c, (k, v) => (typeof v === "number" && Object.is(v, -0) ? "\u0000-0" : v))
      .replace(/"\\u0000-0"/g, "-0.0");
  return cases.length === 0 ? "[]\n" : "[\n" + cases.map(line).join(",\n") + "\n]\n";
}

function writeFile(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + ".tmp";
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function load(pkgDir, name) {
  const file = path.join(pkgDir, "dist", "esm", "testdata", `${name}.js`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing`);
  return (await import(pathToFileURL(file).href)).tests;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const pkgDir = path.resolve(args.package);
  const out = path.resolve(args.out);
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
  const readme = fs.readFileSync(path.join(pkgDir, "README.md"), "utf8");
  const ref = /<!-- upstreamCelSpecRef -->([^<]+)<!-- upstreamCelSpecRef -->/.exec(readme);

  fs.rmSync(out, { recursive: true, force: true });
  const counts = { conformance: {}, parsing: 0, comprehension: 0 };

  const conformance = await load(pkgDir, "conformance");
  for (const file of conformance.suites ?? []) {
    if ((file.tests ?? []).length > 0) throw new Error(`${file.name}: tests outside a section`);
    const cases = [];
    const seen = new Map();
    for (const section of file.suites ?? []) {
      if ((section.suites ?? []).length > 0) throw new Error(`${file.name}: nested sections`);
      for (const t of section.tests ?? []) {
        const c = convertConformanceTest(t, file.name, section.name);
        // Names repeat in a few sections; the n-th repeat gets "#n" so that ids stay unique.
        const base = `conformance/${c.file}/${c.section}/${c.name}`;
        const n = (seen.get(base) ?? 0) + 1;
        seen.set(base, n);
        cases.push({ id: n === 1 ? base : `${base}#${n}`, ...c });
      }
    }
    writeFile(path.join(out, "conformance", `${file.name}.json`), dumpCases(cases));
    counts.conformance[file.name] = cases.length;
  }
  for (const name of ["parsing", "comprehension"]) {
    const cases = convertParsingSuite(name, await load(pkgDir, name));
    writeFile(path.join(out, `${name}.json`), dumpCases(cases));
    counts[name] = cases.length;
  }
  const manifest = {
    package: pkg.name,
    version: pkg.version,
    cel_spec: ref ? ref[1] : null,
    counts,
  };
  // Written last: the test treats a directory without it as a failed conversion.
  writeFile(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
  const total = Object.values(counts.conformance).reduce((a, b) => a + b, 0);
  process.stdout.write(
    `converted ${pkg.name}@${pkg.version} (cel-spec ${manifest.cel_spec}): conformance ${total} ` +
      `cases in ${Object.keys(counts.conformance).length} files, parsing ${counts.parsing}, ` +
      `comprehension ${counts.comprehension} -> ${out}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`convert.mjs: ${e.stack ?? e}\n`);
  process.exit(1);
});
