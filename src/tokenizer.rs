//! Byte-level BPE, as Hugging Face `tokenizers` runs it for GPT-2-family models.
//!
//! Pipeline, in HF's order: split out added tokens (e.g. `<|endoftext|>`), optionally prefix a
//! space, cut the text into words with GPT-2's regex, map each byte of a word to a printable
//! char (`bytes_to_unicode`), then apply merges in rank order. Only the features GPT-2-family
//! `tokenizer.json` files use are implemented; anything else is refused by name rather than
//! silently tokenized differently.

use crate::error::{Error, Result};
use fancy_regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// GPT-2's pre-tokenizer pattern, identical in HF's ByteLevel and tiktoken's r50k_base.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// One token of a tokenized prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Piece {
    pub id: u32,
    /// The bytes this token stands for. Not always valid UTF-8 on its own: a token can hold
    /// part of a multi-byte character.
    pub bytes: Vec<u8>,
    /// Byte range `[start, end)` of this token in the prompt.
    pub span: (usize, usize),
}

pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    /// Token string (in byte-level chars) by id; empty where the id is unused.
    id_to_token: Vec<String>,
    /// Added tokens that bypass BPE, longest first so matching is leftmost-longest.
    added: Vec<(String, u32)>,
    merges: HashMap<(u32, u32), (u32, u32)>, // pair -> (rank, merged id)
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
    add_prefix_space: bool,
    use_regex: bool,
    ignore_merges: bool,
    regex: Regex,
}

/// GPT-2's reversible map from bytes to printable unicode chars, so BPE never sees
/// whitespace or control characters.
fn bytes_to_unicode() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..256u32 {
        let printable = (b'!' as u32..=b'~' as u32).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b);
        table[b as usize] = if printable {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    table
}

fn tok_err(msg: impl Into<String>) -> Error {
    Error::Tokenizer(msg.into())
}

impl Tokenizer {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes)
            .map_err(|e| tok_err(format!("not valid JSON: {e}")))?;
        let model = root.get("model").ok_or_else(|| tok_err("missing \"model\""))?;
        match model.get("type").and_then(Value::as_str) {
            Some("BPE") | None => {}
            Some(t) => return Err(tok_err(format!("model type \"{t}\" is not supported; expected \"BPE\""))),
        }
        if !root.get("normalizer").map_or(true, Value::is_null) {
            return Err(tok_err("a normalizer is set; GPT-2-family byte-level BPE tokenizers have none, and this engine implements none"));
        }
        for opt in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let Some(s) = model.get(opt).and_then(Value::as_str) {
                if !s.is_empty() {
                    return Err(tok_err(format!("model.{opt} \"{s}\" is not supported")));
                }
            }
        }
        if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
            return Err(tok_err("model.byte_fallback is not supported (byte-level BPE needs none)"));
        }
        let ignore_merges = model.get("ignore_merges").and_then(Value::as_bool).unwrap_or(false);

        let (add_prefix_space, use_regex) = parse_pre_tokenizer(root.get("pre_tokenizer"))?;

        let vocab_json = model
            .get("vocab")
            .and_then(Value::as_object)
            .ok_or_else(|| tok_err("model.vocab is missing or not an object of token → id"))?;
        let mut vocab = HashMap::with_capacity(vocab_json.len());
        for (tok, id) in vocab_json {
            let id = id
                .as_u64()
                .filter(|&i| i < u32::MAX as u64)
                .ok_or_else(|| tok_err(format!("model.vocab[{tok:?}] is not a token id")))?;
            vocab.insert(tok.clone(), id as u32);
        }

        let mut added = Vec::new();
        if let Some(list) = root.get("added_tokens").and_then(Value::as_array) {
            for t in list {
                let content = t.get("content").and_then(Value::as_str);
                let id = t.get("id").and_then(Value::as_u64);
                match (content, id) {
                    (Some(c), Some(i)) if !c.is_empty() && i < u32::MAX as u64 => {
                        added.push((c.to_string(), i as u32))
                    }
                    _ => return Err(tok_err(format!("added_tokens entry {t} needs a non-empty \"content\" and an \"id\""))),
                }
            }
        }
        added.sort_by(|a, b| b.0.len().cmp(&a.0.len()));

        let max_id = vocab.values().chain(added.iter().map(|a| &a.1)).copied().max().unwrap_or(0);
        if max_id as usize > 10_000_000 {
            return Err(tok_err(format!("token id {max_id} is implausibly large")));
        }
        let mut id_to_token = vec![String::new(); max_id as usize + 1];
        for (t, &i) in &vocab {
            id_to_token[i as usize] = t.clone();
        }
        for (t, i) in &added {
            id_to_token[*i as usize] = t.clone();
        }

        let merges_json = model
            .get("merges")
            .and_then(Value::as_array)
            .ok_or_else(|| tok_err("model.merges is missing or not a list"))?;
        let mut merges = HashMap::with_capacity(merges_json.len());
        for (rank, m) in merges_json.iter().enumerate() {
            let (a, b) = match m {
                Value::String(s) => {
                    let mut parts = s.split(' ');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(a), Some(b), None) => (a.to_string(), b.to_string()),
                        _ => return Err(tok_err(format!("merge #{rank} {s:?} is not two tokens separated by one space"))),
                    }
                }
                Value::Array(p) if p.len() == 2 && p.iter().all(Value::is_string) => {
                    (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string())
                }
                other => return Err(tok_err(format!("merge #{rank} {other} is not a pair of tokens"))),
            };
            let id_of = |t: &str| {
                vocab.get(t).copied().ok_or_else(|| {
                    tok_err(format!("merge #{rank} uses token {t:?}, which is not in the vocabulary"))
                })
            };
            let merged = format!("{a}{b}");
            let key = (id_of(&a)?, id_of(&b)?);
            let new_id = id_of(&merged)?;
            merges.entry(key).or_insert((rank as u32, new_id));
        }

        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Ok(Tokenizer {
            vocab,
            id_to_token,
            added,
            merges,
            byte_to_char,
            char_to_byte,
            add_prefix_space,
            use_regex,
            ignore_merges,
            regex: Regex::new(GPT2_PATTERN).expect("GPT-2 pattern compiles"),
        })
    }

    /// Number of ids this tokenizer can produce (largest id + 1).
    pub fn vocab_len(&self) -> usize {
        self.id_to_token.len()
    }

    /// The bytes a token id stands for, or None for an id the tokenizer does not have.
    pub fn token_bytes(&self, id: u32) -> Option<Vec<u8>> {
        let tok = self.id_to_token.get(id as usize).filter(|t| !t.is_empty())?;
        if self.added.iter().any(|(_, i)| *i == id) {
            return Some(tok.as_bytes().to_vec());
        }
        Some(tok.chars().map(|c| self.char_to_byte.get(&c).copied().unwrap_or(b'?')).collect())
    }

    /// Text of a sequence of ids; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&i| self.token_bytes(i).unwrap_or_default()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn encode(&self, text: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        let mut seg_start = 0;
        let mut i = 0;
        while i < text.len() {
            if let Some((content, id)) = self.added.iter().find(|(c, _)| text[i..].starts_with(c.as_str())) {
                self.encode_segment(text, seg_start, i, &mut out);
                out.push(Piece { id: *id, bytes: content.as_bytes().to_vec(), span: (i, i + content.len()) });
                i += content.len();
                seg_start = i;
            } else {
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        self.encode_segment(text, seg_start, text.len(), &mut out);
        out
    }

    pub fn encode_ids(&self, text: &str) -> Vec<u32> {
        self.encode(text).into_iter().map(|p| p.id).collect()
    }

    /// Tokenizes `text[start..end]`, a stretch free of added tokens.
    fn encode_segment(&self, text: &str, start: usize, end: usize, out: &mut Vec<Piece>) {
        if start >= end {
            return;
        }
        let seg = &text[start..end];
        // HF prefixes a space unless the segment already starts with one; that space belongs
        // to no byte of the prompt, so spans are shifted back by it.
        let prefixed;
        let (s, shift) = if self.add_prefix_space && !seg.starts_with(' ') {
            prefixed = format!(" {seg}");
            (prefixed.as_str(), 1usize)
        } else {
            (seg, 0)
        };
        let mut words: Vec<(usize, usize)> = Vec::new();
        if self.use_regex {
            let mut last = 0;
            for m in self.regex.find_iter(s) {
                match m {
                    Ok(m) => {
                        if m.start() > last {
                            words.push((last, m.start()));
                        }
                        words.push((m.start(), m.end()));
                        last = m.end();
                    }
                    // Backtracking limit on pathological input: keep the rest as one word.
                    Err(_) => break,
                }
            }
            if last < s.len() {
                words.push((last, s.len()));
            }
        } else {
            words.push((0, s.len()));
        }
        for (ws, we) in words {
            let word = &s.as_bytes()[ws..we];
            let mut pos = ws;
            for id in self.bpe(word) {
                let bytes = self.token_bytes(id).unwrap_or_default();
                let (a, b) = (pos, pos + bytes.len());
                pos = b;
                let map = |p: usize| start + p.saturating_sub(shift);
                out.push(Piece { id, bytes, span: (map(a), map(b)) });
            }
        }
    }

    /// Applies merges to one word: always the lowest-rank pair present, leftmost first, as HF
    /// does. A heap of candidate pairs over a linked list of symbols keeps a long word (a
    /// pasted run of text without spaces) at O(n log n) instead of rescanning it per merge.
    fn bpe(&self, word: &[u8]) -> Vec<u32> {
        if self.ignore_merges {
            let s: String = word.iter().map(|&b| self.byte_to_char[b as usize]).collect();
            if let Some(&id) = self.vocab.get(&s) {
                return vec![id];
            }
        }
        let mut buf = [0u8; 4];
        let mut ids: Vec<u32> = word
            .iter()
            .filter_map(|&b| self.vocab.get(self.byte_to_char[b as usize].encode_utf8(&mut buf) as &str).copied())
            .collect();
        let n = ids.len();
        // Linked list over `ids`: a merged-away symbol is marked dead and skipped.
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Reverse<(u32, usize, u32)>>, ids: &[u32], i: usize, j: usize| {
            if let Some(&(rank, merged)) = self.merges.get(&(ids[i], ids[j])) {
                heap.push(Reverse((rank, i, merged)));
            }
        };
        for i in 1..n {
            push(&mut heap, &ids, i - 1, i);
        }
        while let Some(Reverse((rank, i, merged))) = heap.pop() {
            let j = next[i];
            // Skip entries made stale by an earlier merge at or next to this position.
            if !alive[i] || j >= n || self.merges.get(&(ids[i], ids[j])) != Some(&(rank, merged)) {
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
        ids.into_iter().zip(alive).filter_map(|(id, a)| a.then_some(id)).collect()
    }
}

fn parse_pre_tokenizer(v: Option<&Value>) -> Result<(bool, bool)> {
    let v = match v {
        None | Some(Value::Null) => {
            return Err(tok_err("pre_tokenizer is missing; byte-level BPE needs a \"ByteLevel\" pre_tokenizer"))
        }
        Some(v) => v,
    };
    match v.get("type").and_then(Value::as_str) {
        Some("ByteLevel") => Ok((
            v.get("add_prefix_space").and_then(Value::as_bool).unwrap_or(false),
            v.get("use_regex").and_then(Value::as_bool).unwrap_or(true),
        )),
        Some("Sequence") => match v.get("pretokenizers").and_then(Value::as_array) {
            Some(list) if list.len() == 1 => parse_pre_tokenizer(list.first()),
            _ => Err(tok_err("pre_tokenizer Sequence must hold exactly one ByteLevel pre-tokenizer")),
        },
        other => Err(tok_err(format!(
            "pre_tokenizer type {other:?} is not supported; expected \"ByteLevel\""
        ))),
    }
}
