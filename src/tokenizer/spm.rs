//! SentencePiece vocabularies (Llama 2, Mistral, TinyLlama, Gemma), as transformers runs
//! them with HF `tokenizers`: spaces become ▁ (U+2581), optionally with a ▁ before the text;
//! each character is a piece, or, where the vocabulary lacks it, its UTF-8 bytes as the byte
//! pieces `<0x00>`..`<0xFF>` (byte fallback); then pieces merge, best first.
//!
//! Which merge is best: a `tokenizer.json` lists merges in rank order. A GGUF file lists none
//! (`tokenizer.ggml.model` "llama"): any two adjacent pieces whose concatenation is a piece
//! merge, and transformers ranks them by that piece's score (highest first), then by the
//! longer left part, the longer right part, and the piece's place in the file. This is
//! SentencePiece's BPE (llama.cpp merges by score the same way) with transformers' order
//! among equal scores.

use super::bpe::merge;
use std::collections::HashMap;

/// Where a ▁ is put before the text, as HF's Metaspace pre-tokenizer and Prepend normalizer
/// put it. (Text split off by an added token is a segment of its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefix {
    #[default]
    Never,
    /// Before the first segment of the text, unless it starts with a space (Metaspace
    /// `prepend_scheme: first`, what `add_space_prefix` asks of Llama 2's GGUF files).
    First,
    /// Before every segment that does not start with a space (Metaspace `always`).
    Every,
    /// Before every segment (the `Prepend` normalizer of older Llama tokenizer.json files).
    Always,
}

/// How merges are ranked.
pub(super) enum Priority {
    /// Listed merges: pair -> (rank, merged id).
    Table(HashMap<(u32, u32), (u32, u32)>),
    /// No merges listed: per id, the rank of its score (0 = highest) and its length in chars.
    Scores { rank: Vec<u32>, chars: Vec<u32> },
}

/// A SentencePiece vocabulary's own steps.
pub(super) struct SentencePiece {
    pub prefix: Prefix,
    /// Metaspace `split`: each ▁ starts a word of its own, and merges stay within words.
    pub split: bool,
    pub priority: Priority,
    /// The ids of `<0x00>`..`<0xFF>`, when the vocabulary has all 256 (byte fallback).
    pub byte_ids: Option<Vec<u32>>,
    pub unk: Option<u32>,
    /// Each id's piece, as the vocabulary spells it.
    pub pieces: Vec<String>,
}

/// `<0xHH>`: a byte piece, and its byte.
pub(super) fn byte_piece(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// The bytes a piece stands for: its byte, or its text with ▁ as a space.
pub(super) fn piece_bytes(piece: &str) -> Vec<u8> {
    match byte_piece(piece) {
        Some(b) => vec![b],
        None => piece.replace('▁', " ").into_bytes(),
    }
}

impl SentencePiece {
    /// Dense ranks of `scores`, highest first (equal scores share a rank).
    pub fn score_ranks(scores: &[f32]) -> Vec<u32> {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut rank = vec![0u32; scores.len()];
        let mut r = 0u32;
        for (k, &i) in order.iter().enumerate() {
            if k > 0 && scores[i].total_cmp(&scores[order[k - 1]]).is_ne() {
                r += 1;
            }
            rank[i] = r;
        }
        rank
    }

    /// The tokens of `text[start..end]`, a stretch free of added tokens, with their byte
    /// ranges in `text` (a ▁ put before the text covers no byte of it).
    pub fn encode(&self, vocab: &HashMap<String, u32>, text: &str, start: usize, end: usize) -> Vec<(u32, (usize, usize))> {
        let seg = &text[start..end];
        let starts_spaced = seg.starts_with(' ') || seg.starts_with('▁');
        let prefixed = match self.prefix {
            Prefix::Never => false,
            Prefix::First => start == 0 && !starts_spaced,
            Prefix::Every => !starts_spaced,
            Prefix::Always => true,
        };
        // The characters after normalisation, each with its bytes in `text`.
        let mut chars: Vec<(char, (usize, usize))> = Vec::with_capacity(seg.len() + 1);
        if prefixed {
            chars.push(('▁', (start, start)));
        }
        chars.extend(seg.char_indices().map(|(i, c)| (if c == ' ' { '▁' } else { c }, (start + i, start + i + c.len_utf8()))));
        let mut out = Vec::new();
        let mut word_start = 0;
        for k in 1..=chars.len() {
            if k == chars.len() || (self.split && chars[k].0 == '▁') {
                self.encode_word(vocab, &chars[word_start..k], &mut out);
                word_start = k;
            }
        }
        out
    }

    fn encode_word(&self, vocab: &HashMap<String, u32>, chars: &[(char, (usize, usize))], out: &mut Vec<(u32, (usize, usize))>) {
        let mut ids: Vec<u32> = Vec::with_capacity(chars.len());
        let mut spans: Vec<(usize, usize)> = Vec::with_capacity(chars.len());
        let mut buf = [0u8; 4];
        for &(c, span) in chars {
            let s = c.encode_utf8(&mut buf);
            if let Some(&id) = vocab.get(s as &str) {
                ids.push(id);
                spans.push(span);
            } else if let Some(bytes) = &self.byte_ids {
                for (k, &b) in s.as_bytes().iter().enumerate() {
                    ids.push(bytes[b as usize]);
                    spans.push((span.0 + k, span.0 + k + 1));
                }
            } else if let Some(unk) = self.unk {
                // Unknown characters in a row make one unknown token (HF's `fuse_unk`).
                match (ids.last(), spans.last_mut()) {
                    (Some(&last), Some(prev)) if last == unk && prev.1 == span.0 => prev.1 = span.1,
                    _ => {
                        ids.push(unk);
                        spans.push(span);
                    }
                }
            }
        }
        let n = ids.len();
        let merged = match &self.priority {
            Priority::Table(m) => merge(ids, |a, b| m.get(&(a, b)).map(|&(rank, id)| ((rank, 0, 0, 0), id))),
            Priority::Scores { rank, chars } => merge(ids, |a, b| {
                let (pa, pb) = (&self.pieces[a as usize], &self.pieces[b as usize]);
                let mut s = String::with_capacity(pa.len() + pb.len());
                s.push_str(pa);
                s.push_str(pb);
                let m = *vocab.get(&s)?;
                Some(((rank[m as usize], u32::MAX - chars[a as usize], u32::MAX - chars[b as usize], m), m))
            }),
        };
        for (k, &(id, first)) in merged.iter().enumerate() {
            let last = merged.get(k + 1).map_or(n, |x| x.1) - 1;
            out.push((id, (spans[first].0, spans[last].1)));
        }
    }
}
