//! Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): cut text into words by the model's
//! pre-tokenizer regexes, map each byte of a word to a printable char (`bytes_to_unicode`),
//! then merge; and the merge loop itself, which SentencePiece vocabularies share.

use fancy_regex::Regex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// GPT-2's pre-tokenizer pattern, identical in HF's ByteLevel and tiktoken's r50k_base.
pub const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Each digit on its own (HF's `Digits { individual_digits: true }`).
pub(super) const DIGITS_PATTERN: &str = r"\p{N}";
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer a GGUF file's `tokenizer.ggml.pre` names, as regexes applied in turn
/// (llama.cpp's llama-vocab.cpp).
pub fn gguf_pre_patterns(pre: &str) -> Option<Vec<&'static str>> {
    Some(match pre {
        "gpt-2" | "gpt2" | "default" | "olmo" | "mpt" => vec![GPT2_PATTERN],
        "smollm" | "starcoder" | "refact" | "codeshell" => vec![DIGITS_PATTERN, GPT2_PATTERN],
        "llama-bpe" | "llama3" | "dbrx" | "smaug-bpe" => vec![LLAMA3_PATTERN],
        "qwen2" | "stablelm2" => vec![QWEN2_PATTERN],
        _ => return None,
    })
}

/// GPT-2's reversible map from bytes to printable unicode chars, so BPE never sees
/// whitespace or control characters.
pub(super) fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    table
}

/// A byte-level vocabulary's own steps.
pub(super) struct ByteLevel {
    /// pair -> (rank, merged id)
    pub merges: HashMap<(u32, u32), (u32, u32)>,
    pub byte_to_char: [char; 256],
    pub add_prefix_space: bool,
    pub ignore_merges: bool,
    pub stages: Vec<Regex>,
}

impl ByteLevel {
    /// The token string of raw bytes (each byte as its printable char).
    pub fn spell(&self, bytes: &[u8]) -> String {
        bytes.iter().map(|&b| self.byte_to_char[b as usize]).collect()
    }

    /// Cuts `seg` into words (HF prefixes a space unless the segment starts with one; that
    /// space belongs to no byte of the text, which `shift` records) and returns each word's
    /// byte range in the possibly prefixed string.
    pub fn words<'a>(&self, seg: &'a str) -> (std::borrow::Cow<'a, str>, usize, Vec<(usize, usize)>) {
        let (s, shift): (std::borrow::Cow<str>, usize) =
            if self.add_prefix_space && !seg.starts_with(' ') { (format!(" {seg}").into(), 1) } else { (seg.into(), 0) };
        let mut words = vec![(0, s.len())];
        for re in &self.stages {
            words = words.into_iter().flat_map(|(a, b)| split_isolated(re, &s, a, b)).collect();
        }
        (s, shift, words)
    }

    /// The ids of one word.
    pub fn bpe(&self, vocab: &HashMap<String, u32>, word: &[u8]) -> Vec<u32> {
        if self.ignore_merges {
            if let Some(&id) = vocab.get(&self.spell(word)) {
                return vec![id];
            }
        }
        let mut buf = [0u8; 4];
        let ids: Vec<u32> = word.iter().filter_map(|&b| vocab.get(self.byte_to_char[b as usize].encode_utf8(&mut buf) as &str).copied()).collect();
        merge(ids, |a, b| self.merges.get(&(a, b)).copied()).into_iter().map(|(id, _)| id).collect()
    }
}

/// Applies merges to a word's symbols: always the pair `pair` ranks first (lowest key),
/// leftmost first among equals, as HF `tokenizers` does; `pair(a, b)` gives the key and the
/// merged id of symbols a, b, if they merge. Returns each resulting token with the index of
/// its first symbol. A heap of candidate pairs over a linked list of symbols keeps a long
/// word (a pasted run of text without spaces) at O(n log n) instead of rescanning it per
/// merge.
pub(super) fn merge<K: Ord + Copy>(mut ids: Vec<u32>, pair: impl Fn(u32, u32) -> Option<(K, u32)>) -> Vec<(u32, usize)> {
    let n = ids.len();
    // Linked list over `ids`: a merged-away symbol is marked dead and skipped.
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<Reverse<(K, usize, u32)>>, ids: &[u32], i: usize, j: usize| {
        if let Some((key, merged)) = pair(ids[i], ids[j]) {
            heap.push(Reverse((key, i, merged)));
        }
    };
    for i in 1..n {
        push(&mut heap, &ids, i - 1, i);
    }
    while let Some(Reverse((key, i, merged))) = heap.pop() {
        let j = next[i];
        // Skip entries made stale by an earlier merge at or next to this position.
        if !alive[i] || j >= n || pair(ids[i], ids[j]) != Some((key, merged)) {
            continue;
        }
        ids[i] = merged;
        alive[j] = false;
        next[i] = next[j];
        if next[i] < n {
            prev[next[i]] = i;
            push(&mut heap, &ids, i, next[i]);
        }
        if prev[i] < n {
            push(&mut heap, &ids, prev[i], i);
        }
    }
    ids.into_iter().zip(alive).enumerate().filter_map(|(i, (id, a))| a.then_some((id, i))).collect()
}

/// Splits `s[a..b]` into the regex's matches and the stretches between them, in order
/// (HF's `Split` with behaviour "Isolated"; GPT-2's ByteLevel regex works the same way).
pub(super) fn split_isolated(re: &Regex, s: &str, a: usize, b: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut last = a;
    for m in re.find_iter(&s[a..b]) {
        match m {
            Ok(m) => {
                let (ms, me) = (a + m.start(), a + m.end());
                if ms > last {
                    out.push((last, ms));
                }
                if me > ms {
                    out.push((ms, me));
                }
                last = me;
            }
            // Backtracking limit on pathological input: keep the rest as one word.
            Err(_) => break,
        }
    }
    if last < b {
        out.push((last, b));
    }
    out
}
