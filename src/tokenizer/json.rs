//! Hugging Face `tokenizers`' `tokenizer.json`, read into a [`TokenizerSpec`]: byte-level
//! BPE (GPT-2, Llama 3, Qwen2, SmolLM) and SentencePiece-style BPE with byte fallback (Llama
//! 2, Gemma). Only the features these families use are read; anything else is refused by
//! name rather than silently tokenized differently.

use super::bpe::{DIGITS_PATTERN, GPT2_PATTERN};
use super::spm::Prefix;
use super::{tok_err, SpmSpec, TokenizerSpec};
use crate::error::{Error, Result};
use serde_json::Value;

pub(super) fn spec(bytes: &[u8]) -> Result<TokenizerSpec> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| tok_err(format!("not valid JSON: {e}")))?;
    let model = root.get("model").ok_or_else(|| tok_err("missing \"model\""))?;
    match model.get("type").and_then(Value::as_str) {
        Some("BPE") | None => {}
        Some(t) => return Err(tok_err(format!("model type \"{t}\" is not supported; expected \"BPE\""))),
    }
    for opt in ["continuing_subword_prefix", "end_of_word_suffix"] {
        if let Some(s) = model.get(opt).and_then(Value::as_str) {
            if !s.is_empty() {
                return Err(tok_err(format!("model.{opt} \"{s}\" is not supported")));
            }
        }
    }
    let sentencepiece = model.get("byte_fallback").and_then(Value::as_bool) == Some(true);
    let vocab_json = model.get("vocab").and_then(Value::as_object).ok_or_else(|| tok_err("model.vocab is missing or not an object of token → id"))?;
    let mut tokens = Vec::new();
    for (tok, id) in vocab_json {
        let id = id.as_u64().filter(|&i| i < 10_000_000).ok_or_else(|| tok_err(format!("model.vocab[{tok:?}] is not a token id below 10,000,000")))? as usize;
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
    let normalizer = root.get("normalizer").filter(|n| !n.is_null());
    let (nfc, sentencepiece) = if sentencepiece {
        pre.spaces_replaced = parse_spm_normalizer(normalizer, &mut pre)?;
        pre.parse_spm(root.get("pre_tokenizer"))?;
        if !pre.spaces_replaced {
            return Err(tok_err(
                "a byte-fallback (SentencePiece-style) tokenizer needs spaces replaced by ▁ (a Replace normalizer or a Metaspace pre_tokenizer)",
            ));
        }
        let unk = match model.get("unk_token").and_then(Value::as_str) {
            Some(u) => Some(tokens.iter().position(|t| t == u).ok_or_else(|| tok_err(format!("model.unk_token {u:?} is not in the vocabulary")))? as u32),
            None => None,
        };
        (false, Some(SpmSpec { prefix: pre.prefix, split: pre.split, scores: None, unk }))
    } else {
        let nfc = match normalizer {
            None => false,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("NFC") => true,
            Some(n) => {
                return Err(tok_err(format!(
                    "normalizer {} is not supported; byte-level BPE tokenizers use none (or NFC), SentencePiece-style ones (byte_fallback) replace spaces by ▁",
                    n.get("type").unwrap_or(n)
                )))
            }
        };
        pre.parse(root.get("pre_tokenizer"))?;
        if !pre.byte_level {
            return Err(tok_err(
                "pre_tokenizer has no ByteLevel step; byte-level BPE needs one (or model.byte_fallback, for a SentencePiece-style vocabulary)",
            ));
        }
        (nfc, None)
    };
    let (prefix, suffix) = template(root.get("post_processor"), &added)?;
    Ok(TokenizerSpec {
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
        sentencepiece,
        error: Error::Tokenizer,
    })
}

/// `{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}`.
fn replaces_spaces(n: &Value) -> bool {
    n.get("type").and_then(Value::as_str) == Some("Replace")
        && n.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str) == Some(" ")
        && n.get("content").and_then(Value::as_str) == Some("▁")
}

/// A SentencePiece-style normalizer: Replace(" " → "▁"), optionally after Prepend("▁").
/// Returns whether spaces are replaced.
fn parse_spm_normalizer(n: Option<&Value>, pre: &mut PreTokenizer) -> Result<bool> {
    let Some(n) = n else { return Ok(false) };
    let steps: Vec<&Value> = match n.get("type").and_then(Value::as_str) {
        Some("Sequence") => n.get("normalizers").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default(),
        _ => vec![n],
    };
    let mut replaced = false;
    for s in steps {
        if replaces_spaces(s) {
            replaced = true;
        } else if s.get("type").and_then(Value::as_str) == Some("Prepend") && s.get("prepend").and_then(Value::as_str) == Some("▁") && !replaced {
            pre.prefix = Prefix::Always;
        } else {
            return Err(tok_err(format!("normalizer step {s} is not supported; expected Replace(\" \" → \"▁\"), after an optional Prepend(\"▁\")")));
        }
    }
    Ok(replaced)
}

/// The pre-tokenizer steps of a `tokenizer.json`.
#[derive(Default)]
struct PreTokenizer {
    patterns: Vec<String>,
    add_prefix_space: bool,
    byte_level: bool,
    /// SentencePiece-style: spaces become ▁, a ▁ may go before the text, and Metaspace may
    /// cut words at each ▁.
    spaces_replaced: bool,
    prefix: Prefix,
    split: bool,
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

    /// The pre-tokenizer of a SentencePiece-style tokenizer: none; Gemma's split on spaces
    /// (which the normalizer has already made ▁, so it cuts nothing); or Metaspace.
    fn parse_spm(&mut self, v: Option<&Value>) -> Result<()> {
        let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(()) };
        match v.get("type").and_then(Value::as_str) {
            Some("Split") if v.get("pattern").and_then(|p| p.get("String")).and_then(Value::as_str) == Some(" ") && self.spaces_replaced => {}
            Some("Metaspace") => {
                if v.get("replacement").and_then(Value::as_str).is_some_and(|r| r != "▁") {
                    return Err(tok_err(format!("pre_tokenizer Metaspace {v} is not supported; expected the replacement \"▁\"")));
                }
                self.spaces_replaced = true;
                self.split = v.get("split").and_then(Value::as_bool).unwrap_or(true);
                // Older files write `add_prefix_space` instead of `prepend_scheme`.
                let scheme = v.get("prepend_scheme").and_then(Value::as_str);
                self.prefix = match (scheme, v.get("add_prefix_space").and_then(Value::as_bool)) {
                    (Some("first"), _) => Prefix::First,
                    (Some("always"), _) | (None, Some(true) | None) => Prefix::Every,
                    (Some("never"), _) | (None, Some(false)) => Prefix::Never,
                    (Some(other), _) => return Err(tok_err(format!("Metaspace prepend_scheme \"{other}\" is not supported; expected first, always or never"))),
                };
            }
            Some("Sequence") => {
                for p in v.get("pretokenizers").and_then(Value::as_array).into_iter().flatten() {
                    self.parse_spm(Some(p))?;
                }
            }
            _ => return Err(tok_err(format!("pre_tokenizer {v} is not supported for a SentencePiece-style vocabulary; expected none, Metaspace, or Split on \" \" after a Replace normalizer"))),
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
