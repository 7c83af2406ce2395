// Converts the BPE ranks and special tokens of an encoding, as the npm package `tiktoken`
// ships them (encoders/<name>.json), into the compact file the tokenizer embeds.
//
//   node convert.mjs <node_modules/tiktoken> <encoding name> <out file>
//
// Output (little-endian): "WTOKRNK1", u32 rank count N, then for rank 0..N-1 a u8 byte length
// (0: no token has this rank) and the token's bytes; then u32 special count, and for each
// special token u32 id, u8 length and its UTF-8 text. The file is data only: the tokenizer
// (tokenize.cc) checks the magic and every length when it loads it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, name, out] = process.argv.slice(2);
if (!dir || !name || !out) {
  console.error("usage: convert.mjs <node_modules/tiktoken> <encoding> <out file>");
  process.exit(2);
}
const data = JSON.parse(readFileSync(join(dir, "encoders", `${name}.json`), "utf8"));

// bpe_ranks: lines of "<prefix> <first rank> <base64 token> <base64 token> ...", ranks counting
// up from the first rank.
const ranks = new Map();
let maxRank = -1;
for (const line of data.bpe_ranks.split("\n")) {
  if (!line) continue;
  const [, offsetText, ...tokens] = line.split(" ");
  const offset = Number.parseInt(offsetText, 10);
  tokens.forEach((token, i) => {
    const rank = offset + i;
    if (ranks.has(rank)) throw new Error(`rank ${rank} twice`);
    const bytes = Buffer.from(token, "base64");
    if (bytes.length === 0 || bytes.length > 255) throw new Error(`rank ${rank}: ${bytes.length} bytes`);
    ranks.set(rank, bytes);
    maxRank = Math.max(maxRank, rank);
  });
}

const parts = [Buffer.from("WTOKRNK1", "latin1")];
const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
parts.push(u32(maxRank + 1));
for (let rank = 0; rank <= maxRank; rank++) {
  const bytes = ranks.get(rank);
  parts.push(Buffer.from([bytes ? bytes.length : 0]));
  if (bytes) parts.push(bytes);
}
const specials = Object.entries(data.special_tokens);
parts.push(u32(specials.length));
for (const [text, id] of specials) {
  const bytes = Buffer.from(text, "utf8");
  parts.push(u32(id), Buffer.from([bytes.length]), bytes);
}
writeFileSync(out, Buffer.concat(parts));
console.log(`${name}: ${ranks.size} ranks (0..${maxRank}), ${specials.length} special tokens -> ${out}`);
