// Reference test data for the tokenizer: a corpus generated from a seed, encoded by the
// reference tokenizer `tiktoken` (the WASM build of OpenAI's Rust tokenizer; pinned in
// package-lock.json). Plain Node, no other dependency.
//
//   node generate.mjs --tiktoken <node_modules/tiktoken> --seed N --count N --out FILE
//
// Writes one line per case: `encoding<TAB>allow_special (0|1)<TAB>text as hex<TAB>ids`, ids
// comma-separated. `count` cases for each encoding. Texts with invalid UTF-8 are expected to
// encode as Warden documents it (docs/tokenize.md): each invalid byte its own single-byte token,
// the valid runs between them encoded as separate texts; the reference encodes those runs.
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const args = {};
for (let k = 2; k < process.argv.length; k += 2) args[process.argv[k].replace(/^--/, "")] = process.argv[k + 1];
if (!args.tiktoken || !args.out) {
  console.error("usage: generate.mjs --tiktoken <dir> [--seed N] [--count N] --out FILE");
  process.exit(2);
}
const seed = Number(args.seed ?? 1);
const count = Number(args.count ?? 1500);
const { get_encoding } = createRequire(import.meta.url)(join(resolve(args.tiktoken), "tiktoken.cjs"));

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
const repeat = (f, n) => Array.from({ length: n }, f).join("");

// ---- generators, one per kind of text ----
const WORDS = ["the", "of", "and", "token", "policy", "budget", "agent", "window", "Warden",
  "reserve", "settle", "request", "model", "stream", "limit", "hello", "world", "naïve", "café",
  "über", "Straße", "résumé", "coöperate", "don", "it", "they", "we", "I", "you", "JSON", "HTTP",
  "OpenAI", "iPhone", "McDonald", "XMLHttpRequest", "camelCase", "snake_case", "ALLCAPS", "Ǆemal",
  "ǅungla", "Ωmega", "Привет", "мир", "Γειά", "σου", "ʰello", "ﬁne"];
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M",
  "'LL", "'lL", "'D", "'ſ", "'x", "’s", "'"];
const PUNCT = [".", ",", "!", "?", ";", ":", "...", "—", "–", "(", ")", "\"", "'", "«", "»", "¿",
  "¡", "/", "//", "@", "#", "$", "%", "&", "*", "+", "=", "<", ">", "|", "~", "`", "^", "€", "£"];
const SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "  \n  ", "\u00a0", "\u3000",
  "\u2028", "\u2009", "\ufeff", "\u200b", "\v", "\f", "\r", " \t \n\n\t "];
const CJK = ["你好", "世界", "中文分词", "日本語", "ひらがな", "カタカナ", "한국어", "안녕하세요",
  "。", "、", "「", "」", "！", "？", "　", "漢字かな交じり文"];
const EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇯🇵", "1️⃣", "❤️", "🧑‍💻",
  "👩🏾‍🚀", "✨", "🔥", "🤖", "☕", "\u200d", "\ufe0f"];
const MARKS = ["e\u0301", "a\u0308", "n\u0303", "\u0301", "\u0301\u0302", "नमस्ते", "हिन्दी",
  "क्षत्रिय", "مَرْحَبًا", "السلام", "שָׁלוֹם", "ภาษาไทย", "ข้าว", "Z\u0351\u036b\u0343", "\u20dd",
  "ௐ", "ಕನ್ನಡ"];
const DIGITS = () => pick([repeat(() => String(int(10)), 1 + int(40)), "٣٤٥", "１２３", "²³",
  "ⅫⅣ", "0.5", "3.14159", "1,000,000", "2024-01-01", "v1.2.3", "0x1F", "1e-9"]);
const CODE = ["int main() {\n", "    return 0;\n}\n", "if (x == y) {", "\t\tfoo(bar);\n",
  "const x = [1, 2, 3];", "def f(a, b):\n    return a + b\n", "// comment\n", "/* block */",
  "std::vector<int> v;", "#include <stdio.h>\n", "a->b", "x += 1;", "</div>", "<div class=\"c\">",
  "https://example.com/a/b?c=d&e=f", "/usr/local/bin/", "C:\\Windows\\", "SELECT * FROM t;",
  "\"key\": \"value\",", "{{ }}", "=> ", "!==", "&&", "||", "::", "@Override", "$HOME", "λx.x"];

function prose() {
  let s = "";
  const n = 1 + int(25);
  for (let k = 0; k < n; k++) {
    let w = pick(WORDS);
    if (chance(0.2)) w = w[0].toUpperCase() + w.slice(1);
    if (chance(0.1)) w = w.toUpperCase();
    s += w;
    if (chance(0.2)) s += pick(CONTRACTIONS);
    if (chance(0.25)) s += pick(PUNCT);
    s += chance(0.85) ? " " : pick(SPACES);
  }
  return s;
}
const code = () => repeat(() => pick(CODE) + (chance(0.3) ? pick(SPACES) : ""), 1 + int(10));
const cjk = () => repeat(() => pick(CJK) + (chance(0.2) ? pick(WORDS) : ""), 1 + int(10));
const emoji = () => repeat(() => pick(EMOJI) + (chance(0.3) ? " " : "") + (chance(0.2) ? pick(WORDS) : ""), 1 + int(10));
const marks = () => repeat(() => pick(MARKS) + (chance(0.4) ? pick(SPACES) : ""), 1 + int(8));
const digits = () => repeat(() => DIGITS() + (chance(0.5) ? pick(PUNCT) : "") + (chance(0.3) ? pick(WORDS) : ""), 1 + int(6));
const whitespace = () => repeat(() => pick(SPACES) + (chance(0.5) ? pick(WORDS) : "") + (chance(0.2) ? pick(PUNCT) : ""), 1 + int(10))
  + (chance(0.5) ? repeat(() => pick([" ", "\n", "\t", "\r\n"]), int(8)) : "");
const special = () => repeat(() => pick(["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>",
  "<|fim_suffix|>", "<|endofprompt|>", "<|endoftext", "<|", "|>", "<<|endoftext|>>"]) + (chance(0.5) ? prose() : ""), 1 + int(4));
// Random code points from scripts assigned long ago (so every Unicode version agrees on them).
const BLOCKS = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x600, 0x6ff],
  [0x900, 0x97f], [0x2000, 0x206f], [0x3040, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3],
  [0x1f600, 0x1f64f]];
const randomText = () => repeat(() => { const [a, b] = pick(BLOCKS); return String.fromCodePoint(a + int(b - a + 1)); }, 1 + int(60));
const mixed = () => repeat(() => pick([prose, code, cjk, emoji, marks, digits, whitespace])(), 2 + int(3));
const long = () => pick([() => repeat(() => String(int(10)), 500 + int(1000)), () => " ".repeat(200 + int(2000)) + pick(["", "x", "\n"]),
  () => "a".repeat(100 + int(400)), () => repeat(() => pick(["ab", "xy", "Qz"]), 100 + int(200)), () => "=".repeat(300),
  () => repeat(() => pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"), 400)])();
const KINDS = [prose, prose, code, cjk, emoji, marks, digits, whitespace, special, randomText, mixed, mixed, long];

// Strict UTF-8 validation, the same rule as tokenize/unicode.cc: length of the valid sequence
// at bytes[i], 0 if invalid.
function sequenceLength(b, i) {
  const b0 = b[i];
  if (b0 < 0x80) return 1;
  let n, cp, min;
  if ((b0 & 0xe0) === 0xc0) [n, cp, min] = [2, b0 & 0x1f, 0x80];
  else if ((b0 & 0xf0) === 0xe0) [n, cp, min] = [3, b0 & 0x0f, 0x800];
  else if ((b0 & 0xf8) === 0xf0) [n, cp, min] = [4, b0 & 0x07, 0x10000];
  else return 0;
  if (i + n > b.length) return 0;
  for (let k = 1; k < n; k++) {
    if ((b[i + k] & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (b[i + k] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

// Inserts invalid bytes (stray continuation bytes, truncated sequences, 0xff) into the UTF-8.
function corrupt(bytes) {
  const out = [...bytes];
  const n = 1 + int(4);
  for (let k = 0; k < n; k++) {
    const at = int(out.length + 1);
    out.splice(at, 0, ...pick([[0xff], [0x80], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xfe]]));
  }
  return Uint8Array.from(out);
}

// ignoreBOM: a leading U+FEFF is text to encode, not a byte order mark to drop.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function expected(enc, bytes, allowSpecial) {
  const ids = [];
  const encodeRun = (run) => {
    if (run.length === 0) return;
    const text = decoder.decode(run);
    ids.push(...(allowSpecial ? enc.encode(text, "all") : enc.encode_ordinary(text)));
  };
  let start = 0;
  for (let i = 0; i < bytes.length;) {
    const n = sequenceLength(bytes, i);
    if (n > 0) { i += n; continue; }
    encodeRun(bytes.subarray(start, i));
    ids.push(enc.encode_single_token(bytes.subarray(i, i + 1)));
    i += 1;
    start = i;
  }
  encodeRun(bytes.subarray(start));
  return ids;
}

const lines = [];
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = get_encoding(name);
  for (let c = 0; c < count; c++) {
    const kind = pick(KINDS);
    let bytes = new TextEncoder().encode(kind());
    if (chance(0.08)) bytes = corrupt(bytes);
    const allowSpecial = kind === special ? chance(0.5) : chance(0.05);
    const ids = expected(enc, bytes, allowSpecial);
    lines.push(`${name}\t${allowSpecial ? 1 : 0}\t${Buffer.from(bytes).toString("hex")}\t${ids.join(",")}`);
  }
  // Texts longer than the scanner's window (16,384 code points in tokenize/pretokenize.cc), with
  // pieces across its end: a whitespace run whose last newline lies past it, letter and digit
  // runs longer than it, a contraction right at it.
  const HUGE = [repeat(mixed, 400), " ".repeat(16380) + "\n" + " ".repeat(10) + "x",
    "\n" + " ".repeat(17000), "a".repeat(17000) + "'ll", "7".repeat(50001),
    "x ".repeat(8191) + "'s'S" + "y".repeat(5), "é".repeat(16383) + "'re", "你好 ".repeat(6000) + " \n"];
  for (const text of HUGE) {
    const bytes = new TextEncoder().encode(text);
    lines.push(`${name}\t0\t${Buffer.from(bytes).toString("hex")}\t${expected(enc, bytes, false).join(",")}`);
  }
  enc.free();
}
writeFileSync(args.out, lines.join("\n") + "\n");
console.log(`wrote ${lines.length} cases to ${args.out}`);
