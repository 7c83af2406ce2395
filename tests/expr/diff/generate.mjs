// Differential test data: random well-typed CEL expressions, evaluated by the reference
// implementation @bufbuild/cel (pinned in package-lock.json). Plain Node, no other dependency.
//
//   node generate.mjs --cel <node_modules/@bufbuild/cel> --seed N --count N --out FILE
//
// Writes one line per expression: `expr<TAB>result`, where result is the value in the canonical
// text form that diff_test.cc renders Warden's value in (CEL literal syntax, see README.md), or
// `error`. The expressions stay inside the subset of CEL that Warden supports: no messages, no
// optional syntax, the standard functions plus the strings extension.
import { pathToFileURL } from "node:url";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const args = {};
for (let k = 2; k < process.argv.length; k += 2) args[process.argv[k].replace(/^--/, "")] = process.argv[k + 1];
const celDir = args.cel;
const seed = Number(args.seed ?? 1);
const count = Number(args.count ?? 3000);
if (!celDir || !args.out) {
  console.error("usage: generate.mjs --cel <dir> [--seed N] [--count N] --out FILE");
  process.exit(2);
}
const cel = await import(pathToFileURL(join(celDir, "dist/esm/index.js")).href);
const { strings } = await import(pathToFileURL(join(celDir, "dist/esm/ext/index.js")).href);

// ---- seeded PRNG (mulberry32) ----
let state = seed >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (n) => Math.floor(rand() * n);
const pick = (xs) => xs[int(xs.length)];
const chance = (p) => rand() < p;

// ---- literals, edges included ----
const INTS = ["0", "1", "-1", "2", "3", "7", "-7", "10", "100", "255", "1000000007", "-1000000007",
  "4294967296", "2147483647", "-2147483648", "4611686018427387904", "-4611686018427387904",
  "9223372036854775807", "-9223372036854775808", "9223372036854775806", "-9223372036854775807",
  "0x7fffffffffffffff", "0xff", "3037000500", "-3037000500"];
const UINTS = ["0u", "1u", "2u", "3u", "7u", "10u", "255u", "4294967295u", "4294967296u",
  "9223372036854775807u", "9223372036854775808u", "18446744073709551615u", "18446744073709551614u",
  "0xffffffffffffffffu", "0x10u", "4294967296u"];
const DOUBLES = ["0.0", "-0.0", "1.0", "-1.0", "0.5", "1.5", "-2.5", "0.1", "0.2", "3.0", "1e10",
  "1e300", "-1e300", "1e308", "1.7976931348623157e308", "2.2250738585072014e-308", "5e-324",
  "1e-7", "123456789.123", "9223372036854775807.0", "9223372036854775808.0",
  "-9223372036854775809.0", "18446744073709551615.0", "18446744073709551616.0", "1e19", "-1e19",
  "4.5", "2.5", "-0.5", "double('NaN')", "double('Infinity')", "double('-Infinity')",
  "0.30000000000000004", "1e21", "1e-5", "123e-2"];
const STRINGS = ["''", "'a'", "'abc'", "'ABC'", "'Hello, World'", "'h\\u00e9llo'", "'\\u65e5\\u672c\\u8a9e'",
  "'\\U0001F600'", "'a\\U0001F600b'", "'\\uffff'", "'\\uff61'", "'\\u00df'", "' pad '", "'a,b,,c'",
  "'\\x00'", "'tab\\tnl\\n'", "'\\\\'", "'\"'", "\"it's\"", "'\\u0130'", "'\\U00010437'",
  "'\\ud7ff'", "'\\ue000'", "'12'", "'-12'", "'3.5'", "'1e3'", "'18446744073709551615'",
  "'9223372036854775808'", "'true'", "'aaa'", "'ab'", "'ba'", "'\\u00e9'", "'e\\u0301'"];
const BYTES = ["b''", "b'a'", "b'abc'", "b'\\xff'", "b'\\x00\\x01'", "b'\\xc3\\xa9'", "b'\\xf0\\x9f\\x98\\x80'",
  "b'\\xe0\\x80'", "b'ABC'", "b'\\x80'", "b'zz'"];
const TIMES = ["1970-01-01T00:00:00Z", "2020-01-01T00:00:00Z", "2024-02-29T12:34:56.789Z",
  "2021-03-14T01:59:59-08:00", "2021-11-07T01:30:00-05:00", "2000-12-31T23:59:59.999999999+05:30",
  "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.5Z",
  "2038-01-19T03:14:08Z", "2100-06-30T10:00:00+14:00", "1900-03-01T00:00:00-00:30",
  "2023-10-29T00:59:59.000001Z", "2024-01-01T00:00:00.123456Z"];
const DURATIONS = ["0s", "1s", "-1s", "1.5s", "-1.5s", "1ns", "-1ns", "1us", "1ms", "1h", "1h30m",
  "-2h45m10.5s", "86400s", "315576000000s", "-315576000000s", "2562047h", "0.000000001s",
  "100ms", "59m59s", "3600.999999999s"];
const ZONES = ["'UTC'", "'America/New_York'", "'Europe/Berlin'", "'Asia/Kolkata'", "'Asia/Kathmandu'",
  "'Australia/Lord_Howe'", "'Pacific/Chatham'", "'America/St_Johns'", "'+05:30'", "'-08:00'",
  "'+00:00'", "'Europe/London'", "'America/Los_Angeles'", "'Asia/Tokyo'", "'Pacific/Kiritimati'"];
const ACCESSORS = ["getFullYear", "getMonth", "getDayOfMonth", "getDate", "getDayOfWeek",
  "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds"];
const DUR_ACCESSORS = ["getHours", "getMinutes", "getSeconds", "getMilliseconds"];
const KEYS = ["'a'", "'b'", "'c'", "'\\u00e9'", "'key'", "''"];
const REGEXES = ["'a'", "'^a'", "'c$'", "'[a-z]+'", "'^.$'", "'\\\\d'", "'(?i)abc'", "'l+'", "'^$'", "'.'"];

const CMP = ["==", "!=", "<", "<=", ">", ">="];
const ORDERED = ["int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration"];
const TYPES = ["int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration",
  "list_int", "list_string", "map_string_int"];

const p = (s) => `(${s})`;

function leaf(type) {
  switch (type) {
    case "int": return chance(0.3) ? String(int(21) - 10) : pick(INTS);
    case "uint": return chance(0.3) ? `${int(20)}u` : pick(UINTS);
    case "double": return pick(DOUBLES);
    case "string": return pick(STRINGS);
    case "bytes": return pick(BYTES);
    case "bool": return pick(["true", "false"]);
    case "timestamp": return `timestamp('${pick(TIMES)}')`;
    case "duration": return `duration('${pick(DURATIONS)}')`;
    case "list_int": return `[${Array.from({ length: int(4) }, () => leaf("int")).join(", ")}]`;
    case "list_string": return `[${Array.from({ length: int(4) }, () => leaf("string")).join(", ")}]`;
    case "map_string_int":
      return `{${Array.from({ length: int(3) }, () => `${pick(KEYS)}: ${leaf("int")}`).join(", ")}}`;
  }
  throw new Error(type);
}

// An expression of `type`; depth bounds the nesting.
function gen(type, depth) {
  if (depth <= 0 || chance(0.25)) return leaf(type);
  const g = (t) => gen(t, depth - 1);
  const choices = RULES[type];
  return pick(choices)(g);
}

const RULES = {
  int: [
    (g) => `${p(g("int"))} ${pick(["+", "-", "*", "/", "%"])} ${p(g("int"))}`,
    (g) => `-${p(g("int"))}`,
    (g) => `int(${g("uint")})`,
    (g) => `int(${g("double")})`,
    (g) => `int(${pick(STRINGS)})`,
    (g) => `int(${g("timestamp")})`,
    (g) => `size(${g(pick(["string", "bytes", "list_int", "list_string", "map_string_int"]))})`,
    (g) => `${p(g("timestamp"))}.${pick(ACCESSORS)}()`,
    (g) => `${p(g("timestamp"))}.${pick(ACCESSORS)}(${pick(ZONES)})`,
    (g) => `${p(g("duration"))}.${pick(DUR_ACCESSORS)}()`,
    (g) => `${p(g("list_int"))}[${int(4)}]`,
    (g) => `${p(g("map_string_int"))}[${pick(KEYS)}]`,
    (g) => `${p(g("string"))}.indexOf(${g("string")})`,
    (g) => `${p(g("string"))}.lastIndexOf(${g("string")})`,
    (g) => `${p(g("bool"))} ? ${p(g("int"))} : ${p(g("int"))}`,
  ],
  uint: [
    (g) => `${p(g("uint"))} ${pick(["+", "-", "*", "/", "%"])} ${p(g("uint"))}`,
    (g) => `uint(${g("int")})`,
    (g) => `uint(${g("double")})`,
    (g) => `uint(${pick(STRINGS)})`,
    (g) => `${p(g("bool"))} ? ${p(g("uint"))} : ${p(g("uint"))}`,
  ],
  double: [
    (g) => `${p(g("double"))} ${pick(["+", "-", "*", "/"])} ${p(g("double"))}`,
    (g) => `-${p(g("double"))}`,
    (g) => `double(${g("int")})`,
    (g) => `double(${g("uint")})`,
    (g) => `double(${pick(STRINGS)})`,
  ],
  string: [
    (g) => `${p(g("string"))} + ${p(g("string"))}`,
    (g) => `string(${g(pick(["int", "uint", "double", "bytes", "bool", "timestamp", "duration"]))})`,
    (g) => `${p(g("string"))}.substring(${int(5) - 1})`,
    (g) => `${p(g("string"))}.substring(${int(4)}, ${int(6) - 1})`,
    (g) => `${p(g("string"))}.charAt(${int(6) - 1})`,
    (g) => `${p(g("string"))}.${pick(["lowerAscii", "upperAscii", "trim"])}()`,
    (g) => `${p(g("string"))}.replace(${pick(STRINGS)}, ${pick(STRINGS)})`,
    (g) => `${p(g("list_string"))}.join(${pick(["", "','", "'\\u00e9'"])})`.replace("join()", "join()"),
    (g) => `${p(g("bool"))} ? ${p(g("string"))} : ${p(g("string"))}`,
  ],
  bytes: [
    (g) => `${p(g("bytes"))} + ${p(g("bytes"))}`,
    (g) => `bytes(${g("string")})`,
  ],
  bool: [
    (g) => { const t = pick(ORDERED); return `${p(g(t))} ${pick(CMP)} ${p(g(t))}`; },
    (g) => { const t = pick(["list_int", "list_string", "map_string_int"]); return `${p(g(t))} ${pick(["==", "!="])} ${p(g(t))}`; },
    (g) => `${p(g("bool"))} ${pick(["&&", "||"])} ${p(g("bool"))}`,
    (g) => `!${p(g("bool"))}`,
    (g) => `${p(g("string"))}.${pick(["contains", "startsWith", "endsWith"])}(${g("string")})`,
    (g) => `${p(g("string"))}.matches(${pick(REGEXES)})`,
    (g) => `${g("int")} in ${p(g("list_int"))}`,
    (g) => `${g("string")} in ${p(g("list_string"))}`,
    (g) => `${pick(KEYS)} in ${p(g("map_string_int"))}`,
    (g) => `${p(g("list_int"))}.${pick(["all", "exists", "exists_one"])}(x, ${pick(["x > 0", "x % 2 == 0", "x == 1", "100 / x > 1", "x * x > 10"])})`,
    (g) => `${p(g("map_string_int"))}.${pick(["all", "exists"])}(k, ${pick(["k > 'a'", "k.size() == 1", "k == ''"])})`,
    (g) => `has(${p(g("map_string_int"))}.${pick(["a", "b", "key"])})`,
    (g) => `bool(${pick(["'true'", "'false'", "'TRUE'", "'f'", "'1'", "'yes'", "'False'", "'t'"])})`,
    (g) => `${g("int")} == ${p(g(pick(["uint", "double"])))}`.replace(/^(.*) == (.*)$/, "dyn($1) == $2"),
    (g) => `dyn(${p(g(pick(["int", "uint", "double"])))}) ${pick(["<", ">", "<=", ">="])} ${p(g(pick(["int", "uint", "double"])))}`,
  ],
  timestamp: [
    (g) => `${p(g("timestamp"))} ${pick(["+", "-"])} ${p(g("duration"))}`,
    (g) => `${p(g("duration"))} + ${p(g("timestamp"))}`,
    (g) => `${p(g("timestamp"))} ${pick(["+", "-"])} ${p(g("duration"))}`,
    (g) => chance(0.2) ? `timestamp(${pick(["0", "1", "-1", "253402300799", "-62135596800", "253402300800", "-62135596801", "1700000000"])})` : leaf("timestamp"),
  ],
  duration: [
    (g) => `${p(g("duration"))} ${pick(["+", "-"])} ${p(g("duration"))}`,
    (g) => `${p(g("timestamp"))} - ${p(g("timestamp"))}`,
    (g) => `duration(${pick(["'1s'", "'-0.5s'", "'1.000000001s'", "'1m1s'", "'2h'", "'1d'", "'1.5h'", "'-1.5m'", "'.5s'", "'1e3s'"])})`,
  ],
  list_int: [
    (g) => `${p(g("list_int"))} + ${p(g("list_int"))}`,
    (g) => `${p(g("list_int"))}.map(x, ${pick(["x * 2", "x + 1", "-x", "x / 2", "x * x", "x % 3"])})`,
    (g) => `${p(g("list_int"))}.filter(x, ${pick(["x > 0", "x % 2 == 0", "x != 1"])})`,
    (g) => `${p(g("list_int"))}.map(x, ${pick(["x > 0", "x < 5"])}, ${pick(["x * 3", "x - 1"])})`,
    (g) => `[${g("int")}, ${g("int")}]`,
    (g) => `${p(g("list_string"))}.map(s, size(s))`,
  ],
  list_string: [
    (g) => `${p(g("list_string"))} + ${p(g("list_string"))}`,
    (g) => `${p(g("string"))}.split(${pick(["','", "''", "'a'", "'\\u00e9'"])})`,
    (g) => `${p(g("list_int"))}.map(x, string(x))`,
    (g) => `${p(g("map_string_int"))}.filter(k, ${pick(["k != 'a'", "size(k) > 0"])})`,
    (g) => `[${g("string")}, ${g("string")}]`,
  ],
  map_string_int: [
    (g) => `{${pick(KEYS)}: ${g("int")}, ${pick(KEYS)}: ${g("int")}}`,
    (g) => `{${g("string")}: ${g("int")}}`,
  ],
};

// ---- canonical text form (diff_test.cc renders Warden's values the same way) ----
function quoteString(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c < 0x80) out += "\\x" + c.toString(16).padStart(2, "0");
    else if (c <= 0xffff) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += "\\U" + c.toString(16).padStart(8, "0");
  }
  return out + '"';
}
function quoteBytes(b) {
  let out = 'b"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += "\\x" + c.toString(16).padStart(2, "0");
  }
  return out + '"';
}
function formatDouble(d) {
  if (Number.isNaN(d)) return 'double("NaN")';
  if (d === Infinity) return 'double("Infinity")';
  if (d === -Infinity) return 'double("-Infinity")';
  if (Object.is(d, -0)) return "-0e0";
  const [m, e] = d.toExponential().split("e");
  return `${m}e${Number(e)}`;
}
function frac(nanos) {
  if (nanos === 0) return "";
  const n = String(nanos).padStart(9, "0");
  if (nanos % 1000000 === 0) return "." + n.slice(0, 3);
  if (nanos % 1000 === 0) return "." + n.slice(0, 6);
  return "." + n;
}
function render(v) {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean": return String(v);
    case "bigint": return v.toString();
    case "number": return formatDouble(v);
    case "string": return quoteString(v);
  }
  if (v instanceof Uint8Array) return quoteBytes(v);
  if (cel.isCelUint(v)) return `${v.value}u`;
  if (cel.isCelList(v)) return `[${[...v].map(render).join(", ")}]`;
  if (cel.isCelMap(v)) {
    const entries = [...v.entries()].map(([k, x]) => [render(typeof k === "number" ? k : k), render(x)]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return `{${entries.map(([k, x]) => `${k}: ${x}`).join(", ")}}`;
  }
  if (cel.isCelType(v)) return `type(${v.name})`;
  const msg = v.message;
  if (msg && msg.$typeName === "google.protobuf.Timestamp") {
    const s = BigInt(msg.seconds);
    const iso = new Date(Number(s) * 1000).toISOString();
    return `timestamp("${iso.slice(0, 19)}${frac(msg.nanos)}Z")`;
  }
  if (msg && msg.$typeName === "google.protobuf.Duration") {
    let s = BigInt(msg.seconds), n = msg.nanos;
    const neg = s < 0n || n < 0;
    if (neg) { s = -s; n = -n; }
    let f = n ? "." + String(n).padStart(9, "0").replace(/0+$/, "") : "";
    return `duration("${neg ? "-" : ""}${s}${f}s")`;
  }
  return "unrenderable";
}

function evaluate(expr) {
  let r;
  try {
    r = cel.run(expr, {}, { funcs: strings });
  } catch (e) {
    return "error";
  }
  if (cel.isCelError(r)) return "error";
  try {
    return render(r);
  } catch (e) {
    return "error";
  }
}

const lines = [];
const seen = new Set();
let attempts = 0;
while (lines.length < count && attempts < count * 20) {
  attempts++;
  const type = pick(TYPES);
  const expr = gen(type, 1 + int(4));
  if (expr.length > 2000 || seen.has(expr)) continue;
  seen.add(expr);
  lines.push(`${expr}\t${evaluate(expr)}`);
}
writeFileSync(args.out, lines.join("\n") + "\n");
console.log(`generate.mjs: ${lines.length} expressions (seed ${seed}) -> ${args.out}`);
