//! Byte-level BPE, as Hugging Face `tokenizers` runs it for GPT-2- and Llama-family models,
//! and as llama.cpp runs a GGUF file's `tokenizer.ggml.*` vocabulary.
//!
//! Pipeline, in HF's order: split out added tokens (e.g. `<|endoftext|>`, `<|im_start|>`),
//! optionally prefix a space, cut the text into words by the model's pre-tokenizer (one or
//! more regexes, each applied to the pieces the one before left: GPT-2's pattern; SmolLM's
//! "each digit alone, then GPT-2's"; Llama 3's; Qwen2's), map each byte of a word to a
//! printable char (`bytes_to_unicode`), then apply merges in rank order. A template may add
//! a beginning-of-sequence token before a prompt. Only the features these families use are
//! implemented; anything else is refused by name rather than silently tokenized differently.

use crate::error::{Error, Result};
use fancy_regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

/// GPT-2's pre-tokenizer pattern, identical in HF's ByteLevel and tiktoken's r50k_base.
pub const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Each digit on its own (HF's `Digits { individual_digits: true }`).
const DIGITS_PATTERN: &str = r"\p{N}";
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

/// One token of a tokenized prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Piece {
    pub id: u32,
    /// The bytes this token stands for. Not always valid UTF-8 on its own: a token can hold
    /// part of a multi-byte character.
    pub bytes: Vec<u8>,
    /// Byte range `[start, end)` of this token in the prompt (empty for a template token).
    pub span: (usize, usize),
}

/// What a loader knows of a tokenizer, from `tokenizer.json` or a GGUF file.
pub struct TokenizerSpec {
    /// Token strings (byte-level chars) by id; empty where an id is unused.
    pub tokens: Vec<String>,
    /// Merges in rank order, as pairs of token strings.
    pub merges: Vec<(String, String)>,
    /// Tokens matched verbatim in the text before BPE (special and added tokens).
    pub added: Vec<(String, u32)>,
    /// Regexes cutting text into words, applied in turn; empty: the whole text is one word.
    pub patterns: Vec<String>,
    pub add_prefix_space: bool,
    pub ignore_merges: bool,
    /// Unicode NFC normalization before anything else (Qwen2's tokenizer.json asks for it).
    pub nfc: bool,
    /// Tokens a template puts before and after every prompt (e.g. Llama 3's BOS).
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
    /// The chat template the file carries (a Jinja template, GGUF `tokenizer.chat_template`).
    pub chat_template: Option<String>,
    /// Where the spec came from, for error messages ("tokenizer.json", "GGUF").
    pub error: fn(String) -> Error,
}

pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    /// Added tokens that bypass BPE, longest first so matching is leftmost-longest.
    added: Vec<(String, u32)>,
    merges: HashMap<(u32, u32), (u32, u32)>, // pair -> (rank, merged id)
    /// The bytes of every id back to back: id i's are `bytes[ends[i - 1]..ends[i]]`, built
    /// once so that decoding and counting bytes allocate nothing per token.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    byte_to_char: [char; 256],
    add_prefix_space: bool,
    ignore_merges: bool,
    nfc: bool,
    stages: Vec<Regex>,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    chat_template: Option<String>,
}

/// GPT-2's reversible map from bytes to printable unicode chars, so BPE never sees
/// whitespace or control characters.
fn bytes_to_unicode() -> [char; 256] {
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

fn tok_err(msg: impl Into<String>) -> Error {
    Error::Tokenizer(msg.into())
}

impl Tokenizer {
    /// Builds a tokenizer from what a loader read.
    pub fn new(spec: TokenizerSpec) -> Result<Self> {
        let err = spec.error;
        if spec.tokens.len() > 10_000_000 {
            return Err(err(format!("{} tokens is implausibly many", spec.tokens.len())));
        }
        let mut id_to_token = spec.tokens;
        let mut added = spec.added;
        if let Some(max) = added.iter().map(|a| a.1 as usize).max() {
            if max > 10_000_000 {
                return Err(err(format!("token id {max} is implausibly large")));
            }
            if max >= id_to_token.len() {
                id_to_token.resize(max + 1, String::new());
            }
        }
        for (t, i) in &added {
            id_to_token[*i as usize] = t.clone();
        }
        added.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
        let byte_to_char = bytes_to_unicode();
        let char_to_byte: HashMap<char, u8> = byte_to_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let is_added: HashSet<u32> = added.iter().map(|a| a.1).collect();
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(id_to_token.len());
        for (i, t) in id_to_token.iter().enumerate() {
            // Added tokens are text as written; the rest are byte-level chars.
            if is_added.contains(&(i as u32)) {
                bytes.extend_from_slice(t.as_bytes());
            } else {
                bytes.extend(t.chars().map(|c| char_to_byte.get(&c).copied().unwrap_or(b'?')));
            }
            ends.push(bytes.len());
        }
        let mut vocab = HashMap::with_capacity(id_to_token.len());
        for (i, t) in id_to_token.into_iter().enumerate() {
            if !t.is_empty() {
                vocab.entry(t).or_insert(i as u32);
            }
        }
        let mut merges = HashMap::with_capacity(spec.merges.len());
        for (rank, (a, b)) in spec.merges.iter().enumerate() {
            let id_of = |t: &str| vocab.get(t).copied().ok_or_else(|| err(format!("merge #{rank} uses token {t:?}, which is not in the vocabulary")));
            let key = (id_of(a)?, id_of(b)?);
            let merged = id_of(&format!("{a}{b}"))?;
            merges.entry(key).or_insert((rank as u32, merged));
        }
        let stages = spec
            .patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| err(format!("the pre-tokenizer pattern {p:?} does not compile: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        let tok = Tokenizer {
            vocab,
            added,
            merges,
            bytes,
            ends,
            byte_to_char,
            add_prefix_space: spec.add_prefix_space,
            ignore_merges: spec.ignore_merges,
            nfc: spec.nfc,
            stages,
            prefix: spec.prefix,
            suffix: spec.suffix,
            chat_template: spec.chat_template,
        };
        for &id in tok.prefix.iter().chain(&tok.suffix) {
            if tok.token_bytes(id).is_none() {
                return Err(err(format!("the template adds token id {id}, which is not in the vocabulary")));
            }
        }
        Ok(tok)
    }

    /// The chat template its file carries, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Refuses a tokenizer with ids past the model's vocabulary: it does not belong to it.
    pub fn check_fits(&self, config: &crate::config::Config, err: impl Fn(String) -> Error) -> Result<()> {
        if self.vocab_len() > config.vocab_size {
            return Err(err(format!(
                "has token ids up to {}, but the model's vocab_size is {}; the tokenizer does not belong to this model",
                self.vocab_len() - 1,
                config.vocab_size
            )));
        }
        Ok(())
    }

    /// Reads Hugging Face `tokenizers`' `tokenizer.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| tok_err(format!("not valid JSON: {e}")))?;
        let model = root.get("model").ok_or_else(|| tok_err("missing \"model\""))?;
        match model.get("type").and_then(Value::as_str) {
            Some("BPE") | None => {}
            Some(t) => return Err(tok_err(format!("model type \"{t}\" is not supported; expected \"BPE\""))),
        }
        let nfc = match root.get("normalizer") {
            None | Some(Value::Null) => false,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("NFC") => true,
            Some(n) => {
                return Err(tok_err(format!(
                    "normalizer {} is not supported; byte-level BPE tokenizers of the GPT-2 and Llama families use none (or NFC)",
                    n.get("type").unwrap_or(n)
                )))
            }
        };
        for opt in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let Some(s) = model.get(opt).and_then(Value::as_str) {
                if !s.is_empty() {
                    return Err(tok_err(format!("model.{opt} \"{s}\" is not supported")));
                }
            }
        }
        if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
            return Err(tok_err("model.byte_fallback is not supported (byte-level BPE needs none; SentencePiece-style vocabularies are not implemented)"));
        }
        let vocab_json = model.get("vocab").and_then(Value::as_object).ok_or_else(|| tok_err("model.vocab is missing or not an object of token → id"))?;
        let mut tokens = Vec::new();
        for (tok, id) in vocab_json {
            let id =
                id.as_u64().filter(|&i| i < 10_000_000).ok_or_else(|| tok_err(format!("model.vocab[{tok:?}] is not a token id below 10,000,000")))? as usize;
            if id >= tokens.len() {
                tokens.resize(id + 1, String::new());
            }
            tokens[id] = tok.clone();
        }
        let mut added = Vec::new();
        for t in root.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
            match (t.get("content").and_then(Value::as_str), t.get("id").and_then(Value::as_u64)) {
                (Some(c), Some(i)) if !c.is_empty() && i < u32::MAX as u64 => added.push((c.to_string(), i as u32)),
                _ => return Err(tok_err(format!("added_tokens entry {t} needs a non-empty \"content\" and an \"id\""))),
            }
        }
        let merges_json = model.get("merges").and_then(Value::as_array).ok_or_else(|| tok_err("model.merges is missing or not a list"))?;
        let mut merges = Vec::with_capacity(merges_json.len());
        for (rank, m) in merges_json.iter().enumerate() {
            merges.push(match m {
                Value::String(s) => match s.split_once(' ') {
                    Some((a, b)) if !b.contains(' ') => (a.to_string(), b.to_string()),
                    _ => return Err(tok_err(format!("merge #{rank} {s:?} is not two tokens separated by one space"))),
                },
                Value::Array(p) if p.len() == 2 && p.iter().all(Value::is_string) => (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()),
                other => return Err(tok_err(format!("merge #{rank} {other} is not a pair of tokens"))),
            });
        }
        let mut pre = PreTokenizer::default();
        pre.parse(root.get("pre_tokenizer"))?;
        if !pre.byte_level {
            return Err(tok_err("pre_tokenizer has no ByteLevel step; byte-level BPE needs one"));
        }
        let (prefix, suffix) = template(root.get("post_processor"), &added)?;
        Tokenizer::new(TokenizerSpec {
            tokens,
            merges,
            added,
            patterns: pre.patterns,
            add_prefix_space: pre.add_prefix_space,
            ignore_merges: model.get("ignore_merges").and_then(Value::as_bool).unwrap_or(false),
            nfc,
            prefix,
            suffix,
            // tokenizer.json has none (transformers keeps it in tokenizer_config.json).
            chat_template: None,
            error: Error::Tokenizer,
        })
    }

    /// Number of ids this tokenizer can produce (largest id + 1).
    pub fn vocab_len(&self) -> usize {
        self.ends.len()
    }

    /// The id of a token given as text (e.g. "<|im_start|>"), if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        if let Some((_, id)) = self.added.iter().find(|(t, _)| t == text) {
            return Some(*id);
        }
        let s: String = text.bytes().map(|b| self.byte_to_char[b as usize]).collect();
        self.vocab.get(&s).copied()
    }

    /// The bytes a token id stands for, or None for an id the tokenizer does not have.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        // Every token string holds at least one byte, so empty bytes mean an unused id.
        (end > start).then(|| &self.bytes[start..end])
    }

    /// Total bytes the tokens of `ids` stand for.
    pub fn bytes_len(&self, ids: &[u32]) -> usize {
        ids.iter().map(|&i| self.token_bytes(i).map_or(0, <[u8]>::len)).sum()
    }

    /// Text of a sequence of ids; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for &i in ids {
            bytes.extend_from_slice(self.token_bytes(i).unwrap_or_default());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The tokens of `text` (no template tokens). For a tokenizer that normalizes (NFC),
    /// spans refer to the normalized text, which equals the input unless it held
    /// decomposed characters.
    pub fn encode(&self, text: &str) -> Vec<Piece> {
        use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
        if self.nfc && is_nfc_quick(text.chars()) != IsNormalized::Yes {
            let normalized: String = text.nfc().collect();
            if normalized != text {
                return self.encode(&normalized);
            }
        }
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

    /// The ids of a prompt as the model expects it: the template's tokens (e.g. a
    /// beginning-of-sequence token) around the text's tokens, as HF's `tokenizer(text)`.
    pub fn encode_prompt(&self, text: &str) -> Vec<u32> {
        self.encode_prompt_pieces(text).into_iter().map(|p| p.id).collect()
    }

    /// As `encode_prompt`, with each token's bytes and span (a template token's span is
    /// empty, at the start or the end of the prompt).
    pub fn encode_prompt_pieces(&self, text: &str) -> Vec<Piece> {
        let template = |id: u32, at: usize| Piece { id, bytes: self.token_bytes(id).unwrap_or_default().to_vec(), span: (at, at) };
        let mut out: Vec<Piece> = self.prefix.iter().map(|&id| template(id, 0)).collect();
        out.extend(self.encode(text));
        out.extend(self.suffix.iter().map(|&id| template(id, text.len())));
        out
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
        let mut words = vec![(0, s.len())];
        for re in &self.stages {
            words = words.into_iter().flat_map(|(a, b)| split_isolated(re, s, a, b)).collect();
        }
        for (ws, we) in words {
            let mut pos = ws;
            for id in self.bpe(&s.as_bytes()[ws..we]) {
                let bytes = self.token_bytes(id).unwrap_or_default().to_vec();
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
        let mut ids: Vec<u32> = word.iter().filter_map(|&b| self.vocab.get(self.byte_to_char[b as usize].encode_utf8(&mut buf) as &str).copied()).collect();
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

/// Splits `s[a..b]` into the regex's matches and the stretches between them, in order
/// (HF's `Split` with behaviour "Isolated"; GPT-2's ByteLevel regex works the same way).
fn split_isolated(re: &Regex, s: &str, a: usize, b: usize) -> Vec<(usize, usize)> {
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

/// The pre-tokenizer steps of a `tokenizer.json`.
#[derive(Default)]
struct PreTokenizer {
    patterns: Vec<String>,
    add_prefix_space: bool,
    byte_level: bool,
}

impl PreTokenizer {
    fn parse(&mut self, v: Option<&Value>) -> Result<()> {
        let v = match v {
            None | Some(Value::Null) => return Err(tok_err("pre_tokenizer is missing; byte-level BPE needs a \"ByteLevel\" pre_tokenizer")),
            Some(v) => v,
        };
        match v.get("type").and_then(Value::as_str) {
            Some("ByteLevel") => {
                self.byte_level = true;
                self.add_prefix_space = v.get("add_prefix_space").and_then(Value::as_bool).unwrap_or(false);
                if v.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                    self.patterns.push(GPT2_PATTERN.into());
                }
            }
            Some("Digits") => {
                if v.get("individual_digits").and_then(Value::as_bool) != Some(true) {
                    return Err(tok_err("pre_tokenizer Digits with individual_digits = false is not supported"));
                }
                self.patterns.push(DIGITS_PATTERN.into());
            }
            Some("Split") => {
                let behavior = v.get("behavior").and_then(Value::as_str).unwrap_or("");
                let invert = v.get("invert").and_then(Value::as_bool).unwrap_or(false);
                let pattern = v.get("pattern").and_then(|p| p.get("Regex")).and_then(Value::as_str);
                match (behavior, invert, pattern) {
                    ("Isolated", false, Some(p)) => self.patterns.push(p.to_string()),
                    _ => return Err(tok_err(format!("pre_tokenizer Split {v} is not supported; expected a Regex pattern with behavior \"Isolated\""))),
                }
            }
            Some("Sequence") => {
                for p in v.get("pretokenizers").and_then(Value::as_array).into_iter().flatten() {
                    self.parse(Some(p))?;
                }
            }
            other => return Err(tok_err(format!("pre_tokenizer type {other:?} is not supported; expected ByteLevel, Digits, Split or a Sequence of them"))),
        }
        Ok(())
    }
}

/// Tokens a `TemplateProcessing` post-processor puts around a single prompt.
fn template(v: Option<&Value>, added: &[(String, u32)]) -> Result<(Vec<u32>, Vec<u32>)> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok((Vec::new(), Vec::new())) };
    match v.get("type").and_then(Value::as_str) {
        Some("ByteLevel") => return Ok((Vec::new(), Vec::new())),
        Some("TemplateProcessing") => {}
        Some("Sequence") => {
            let mut out = (Vec::new(), Vec::new());
            for p in v.get("processors").and_then(Value::as_array).into_iter().flatten() {
                let (a, b) = template(Some(p), added)?;
                out.0.extend(a);
                out.1.extend(b);
            }
            return Ok(out);
        }
        other => return Err(tok_err(format!("post_processor {other:?} is not supported; expected TemplateProcessing or ByteLevel"))),
    }
    let (mut prefix, mut suffix, mut seen_text) = (Vec::new(), Vec::new(), false);
    for item in v.get("single").and_then(Value::as_array).into_iter().flatten() {
        if item.get("Sequence").is_some() {
            seen_text = true;
        } else if let Some(name) = item.get("SpecialToken").and_then(|s| s.get("id")).and_then(Value::as_str) {
            let ids: Vec<u32> = v
                .get("special_tokens")
                .and_then(|s| s.get(name))
                .and_then(|s| s.get("ids"))
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as u32)).collect())
                .or_else(|| added.iter().find(|(t, _)| t == name).map(|(_, i)| vec![*i]))
                .ok_or_else(|| tok_err(format!("post_processor template names special token {name:?}, which it does not define")))?;
            if seen_text {
                suffix.extend(ids)
            } else {
                prefix.extend(ids)
            }
        }
    }
    Ok((prefix, suffix))
}
