//! Tokenizers as Hugging Face `tokenizers` runs them for GPT-2-, Llama- and Gemma-family
//! models, and as transformers builds them from a GGUF file's `tokenizer.ggml.*` vocabulary:
//! byte-level BPE ([`bpe`]) and SentencePiece BPE with byte fallback ([`spm`]).
//!
//! Pipeline, in HF's order: NFC-normalise where the file asks; split out added tokens (e.g.
//! `<|endoftext|>`, `<start_of_turn>`), matched verbatim, leftmost-longest; cut and encode
//! each stretch between them by the vocabulary's own steps; a template may add a
//! beginning-of-sequence token before a prompt. `tokenizer.json` is read by [`json`]; a
//! GGUF file's vocabulary by `from_gguf.rs`.

mod bpe;
mod json;
mod spm;

pub use bpe::{gguf_pre_patterns, GPT2_PATTERN};
pub use spm::Prefix;

use crate::error::{Error, Result};
use bpe::ByteLevel;
use fancy_regex::Regex;
use serde::Serialize;
use spm::{Priority, SentencePiece};
use std::collections::HashMap;

/// One token of a tokenized prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Piece {
    pub id: u32,
    /// The bytes this token stands for. Not always valid UTF-8 on its own: a token can hold
    /// part of a multi-byte character.
    pub bytes: Vec<u8>,
    /// Byte range `[start, end)` of this token in the prompt (empty for a template token,
    /// and for a ▁ a SentencePiece tokenizer put before the text).
    pub span: (usize, usize),
}

/// What a loader knows of a tokenizer, from `tokenizer.json` or a GGUF file.
pub struct TokenizerSpec {
    /// Token strings by id, as the vocabulary spells them (byte-level chars, or
    /// SentencePiece text with ▁ for spaces); empty where an id is unused.
    pub tokens: Vec<String>,
    /// Merges in rank order, as pairs of token strings.
    pub merges: Vec<(String, String)>,
    /// Tokens matched verbatim in the text before BPE (special and added tokens).
    pub added: Vec<(String, u32)>,
    /// Byte-level: regexes cutting text into words, applied in turn; empty: the whole text
    /// is one word.
    pub patterns: Vec<String>,
    pub add_prefix_space: bool,
    pub ignore_merges: bool,
    /// Unicode NFC normalization before anything else (Qwen2's tokenizer.json asks for it).
    pub nfc: bool,
    /// Tokens a template puts before and after every prompt (e.g. a BOS).
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
    /// The chat template the file carries (a Jinja template, GGUF `tokenizer.chat_template`).
    pub chat_template: Option<String>,
    /// A SentencePiece vocabulary, and how to run it; None: byte-level BPE.
    pub sentencepiece: Option<SpmSpec>,
    /// Where the spec came from, for error messages ("tokenizer.json", "GGUF").
    pub error: fn(String) -> Error,
}

/// How a SentencePiece vocabulary runs.
pub struct SpmSpec {
    pub prefix: Prefix,
    /// Each ▁ starts a word of its own (HF Metaspace `split`).
    pub split: bool,
    /// Each token's merge priority, higher first, when the file lists no merges (a GGUF
    /// file's piece scores); None: the listed merges rank them.
    pub scores: Option<Vec<f32>>,
    /// The unknown token, for characters that are neither pieces nor bytes.
    pub unk: Option<u32>,
}

/// The vocabulary's own steps.
enum Model {
    ByteLevel(Box<ByteLevel>),
    SentencePiece(SentencePiece),
}

pub struct Tokenizer {
    /// Token string (as the vocabulary spells it) → id.
    vocab: HashMap<String, u32>,
    /// Added tokens that bypass BPE, longest first so matching is leftmost-longest.
    added: Vec<(String, u32)>,
    /// The bytes of every id back to back: id i's are `bytes[ends[i - 1]..ends[i]]`, built
    /// once so that decoding and counting bytes allocate nothing per token.
    bytes: Vec<u8>,
    ends: Vec<usize>,
    nfc: bool,
    model: Model,
    prefix: Vec<u32>,
    suffix: Vec<u32>,
    chat_template: Option<String>,
}

pub(crate) fn tok_err(msg: impl Into<String>) -> Error {
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
            if id_to_token[*i as usize].is_empty() {
                id_to_token[*i as usize] = t.clone();
            }
        }
        added.sort_by_key(|b| std::cmp::Reverse(b.0.len()));
        let byte_to_char = bpe::bytes_to_unicode();
        let char_to_byte: HashMap<char, u8> = byte_to_char.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        let is_added: HashMap<u32, &str> = added.iter().map(|(t, i)| (*i, t.as_str())).collect();
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(id_to_token.len());
        for (i, t) in id_to_token.iter().enumerate() {
            // Added tokens are text as written; the rest as the vocabulary spells them.
            match (is_added.get(&(i as u32)), &spec.sentencepiece) {
                (Some(text), _) => bytes.extend_from_slice(text.as_bytes()),
                (None, Some(_)) => bytes.extend(spm::piece_bytes(t)),
                (None, None) => bytes.extend(t.chars().map(|c| char_to_byte.get(&c).copied().unwrap_or(b'?'))),
            }
            ends.push(bytes.len());
        }
        let mut vocab = HashMap::with_capacity(id_to_token.len());
        for (i, t) in id_to_token.iter().enumerate() {
            if !t.is_empty() {
                vocab.entry(t.clone()).or_insert(i as u32);
            }
        }
        let mut merges = HashMap::with_capacity(spec.merges.len());
        for (rank, (a, b)) in spec.merges.iter().enumerate() {
            let id_of = |t: &str| vocab.get(t).copied().ok_or_else(|| err(format!("merge #{rank} uses token {t:?}, which is not in the vocabulary")));
            let key = (id_of(a)?, id_of(b)?);
            let merged = id_of(&format!("{a}{b}"))?;
            merges.entry(key).or_insert((rank as u32, merged));
        }
        let model = match spec.sentencepiece {
            None => {
                let stages = spec
                    .patterns
                    .iter()
                    .map(|p| Regex::new(p).map_err(|e| err(format!("the pre-tokenizer pattern {p:?} does not compile: {e}"))))
                    .collect::<Result<Vec<_>>>()?;
                Model::ByteLevel(Box::new(ByteLevel {
                    merges,
                    byte_to_char,
                    add_prefix_space: spec.add_prefix_space,
                    ignore_merges: spec.ignore_merges,
                    stages,
                }))
            }
            Some(s) => {
                let priority = match s.scores {
                    Some(scores) if scores.len() == id_to_token.len() => {
                        Priority::Scores { rank: SentencePiece::score_ranks(&scores), chars: id_to_token.iter().map(|t| t.chars().count() as u32).collect() }
                    }
                    Some(scores) => return Err(err(format!("{} piece scores for {} tokens; expected one score per token", scores.len(), id_to_token.len()))),
                    None => Priority::Table(merges),
                };
                let byte_ids: Option<Vec<u32>> = (0..=255u8).map(|b| vocab.get(&format!("<0x{b:02X}>")).copied()).collect();
                Model::SentencePiece(SentencePiece { prefix: s.prefix, split: s.split, priority, byte_ids, unk: s.unk, pieces: id_to_token })
            }
        };
        let tok = Tokenizer { vocab, added, bytes, ends, nfc: spec.nfc, model, prefix: spec.prefix, suffix: spec.suffix, chat_template: spec.chat_template };
        for &id in tok.prefix.iter().chain(&tok.suffix) {
            if tok.token_bytes(id).is_none() {
                return Err(err(format!("the template adds token id {id}, which is not in the vocabulary")));
            }
        }
        Ok(tok)
    }

    /// Reads Hugging Face `tokenizers`' `tokenizer.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        Tokenizer::new(json::spec(bytes)?)
    }

    /// The chat template its file carries, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Whether the vocabulary is SentencePiece's (▁ for spaces, byte fallback).
    pub fn is_sentencepiece(&self) -> bool {
        matches!(self.model, Model::SentencePiece(_))
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

    /// Number of ids this tokenizer can produce (largest id + 1).
    pub fn vocab_len(&self) -> usize {
        self.ends.len()
    }

    /// The id of a token given as text (e.g. "<|im_start|>"), if the vocabulary has it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        if let Some((_, id)) = self.added.iter().find(|(t, _)| t == text) {
            return Some(*id);
        }
        let spelled = match &self.model {
            Model::ByteLevel(b) => b.spell(text.as_bytes()),
            Model::SentencePiece(_) => text.replace(' ', "▁"),
        };
        self.vocab.get(&spelled).copied()
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
        let bytes_of = |id: u32| self.token_bytes(id).unwrap_or_default().to_vec();
        match &self.model {
            Model::SentencePiece(sp) => {
                out.extend(sp.encode(&self.vocab, text, start, end).into_iter().map(|(id, span)| Piece { id, bytes: bytes_of(id), span }));
            }
            Model::ByteLevel(bl) => {
                let (s, shift, words) = bl.words(&text[start..end]);
                for (ws, we) in words {
                    let mut pos = ws;
                    for id in bl.bpe(&self.vocab, &s.as_bytes()[ws..we]) {
                        let bytes = bytes_of(id);
                        let (a, b) = (pos, pos + bytes.len());
                        pos = b;
                        let map = |p: usize| start + p.saturating_sub(shift);
                        out.push(Piece { id, bytes, span: (map(a), map(b)) });
                    }
                }
            }
        }
    }
}
