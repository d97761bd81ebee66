//! Tokenization equals Hugging Face `tokenizers` (tiny trained tokenizer) and tiktoken's
//! r50k_base (the real GPT-2 vocabulary), case by case.

mod common;
use common::*;
use llm_xray::tokenizer::Tokenizer;

fn tokenizer(path: &str) -> Tokenizer {
    Tokenizer::from_json(&std::fs::read(fixture(path)).unwrap()).unwrap()
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn tiny_tokenizer_matches_hf_tokenizers_ids_and_offsets() {
    let tok = tokenizer("tiny/tokenizer.json");
    let cases = read_json("tiny/tokenizer_cases.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 30);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let pieces = tok.encode(text);
        let ids: Vec<u32> = pieces.iter().map(|p| p.id).collect();
        assert_eq!(ids, ids_of(&c["ids"]), "ids for {text:?}");
        // HF widens a piece that holds part of a character to the whole character; ours is
        // the exact bytes, so it must lie inside HF's span, and equal it for whole characters.
        for (p, hf) in pieces.iter().zip(c["byte_offsets"].as_array().unwrap()) {
            let (s, e) = (hf[0].as_u64().unwrap() as usize, hf[1].as_u64().unwrap() as usize);
            assert!(p.span.0 >= s && p.span.1 <= e, "span {:?} outside HF's {s}..{e} in {text:?}", p.span);
            if std::str::from_utf8(&p.bytes).is_ok() {
                assert_eq!(p.span, (s, e), "span of {:?} in {text:?}", p.bytes);
            }
            assert_eq!(&text.as_bytes()[p.span.0..p.span.1], &p.bytes[..], "span bytes in {text:?}");
        }
        assert_eq!(tok.decode(&ids), text, "decode(encode(x)) == x for {text:?}");
    }
}

#[test]
fn gpt2_tokenizer_matches_tiktoken_r50k_base() {
    let tok = tokenizer("gpt2/tokenizer.json");
    assert_eq!(tok.vocab_len(), 50257);
    let cases = read_json("gpt2/cases.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 50);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        assert_eq!(tok.encode_ids(text), ids_of(&c["ids"]), "ids for {text:?}");
        assert_eq!(tok.decode(&ids_of(&c["ids"])), text);
    }
}

#[test]
fn special_token_in_text_is_one_token() {
    let tok = tokenizer("gpt2/tokenizer.json");
    let ids = tok.encode_ids("Hello<|endoftext|>world");
    assert_eq!(ids, vec![15496, 50256, 6894]);
}

#[test]
fn piece_of_a_character_keeps_its_bytes() {
    let tok = tokenizer("tiny/tokenizer.json");
    let pieces = tok.encode("🙂");
    let all: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.clone()).collect();
    assert_eq!(all, "🙂".as_bytes());
    assert!(pieces.len() > 1, "the tiny vocabulary has no token for 🙂, so it must split into bytes");
    assert!(pieces.iter().all(|p| std::str::from_utf8(&p.bytes).is_err()));
}

#[test]
fn unsupported_tokenizer_features_are_refused_by_name() {
    let base: serde_json::Value = read_json("tiny/tokenizer.json");
    let mut wordpiece = base.clone();
    wordpiece["model"]["type"] = "WordPiece".into();
    let mut norm = base.clone();
    norm["normalizer"] = serde_json::json!({"type": "Lowercase"});
    let mut pre = base.clone();
    pre["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
    let mut bad_merge = base.clone();
    bad_merge["model"]["merges"] = serde_json::json!(["Ġ nosuchtoken"]);
    for (v, expect) in [(wordpiece, "WordPiece"), (norm, "normalizer"), (pre, "Whitespace"), (bad_merge, "nosuchtoken")] {
        let err = Tokenizer::from_json(&serde_json::to_vec(&v).unwrap()).err().expect("must be refused").to_string();
        assert!(err.starts_with("tokenizer.json:") && err.contains(expect), "{err}");
    }
}

#[test]
fn a_long_word_round_trips() {
    // A pasted run without spaces is one pre-tokenizer word; BPE must stay fast on it.
    let tok = tokenizer("gpt2/tokenizer.json");
    let word: String = "abcdefghijklmnopqrstuvwxyz0123456789".chars().cycle().take(40_000).filter(|c| c.is_alphabetic()).collect();
    let ids = tok.encode_ids(&word);
    assert!(ids.len() > 1000);
    assert_eq!(tok.decode(&ids), word);
}

#[test]
fn nfc_normalizer_composes_before_tokenizing() {
    // Qwen2's tokenizer.json asks for NFC: "e" + combining acute must tokenize as "é".
    let mut v: serde_json::Value = read_json("tiny/tokenizer.json");
    v["normalizer"] = serde_json::json!({"type": "NFC"});
    let nfc = Tokenizer::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    let plain = tokenizer("tiny/tokenizer.json");
    assert_eq!(nfc.encode_ids("caf\u{0065}\u{0301}"), plain.encode_ids("caf\u{e9}"));
    assert_ne!(plain.encode_ids("caf\u{0065}\u{0301}"), plain.encode_ids("caf\u{e9}"));
}

#[test]
fn pre_tokenizer_sequences_split_digits_then_words() {
    // SmolLM2's hub tokenizer: Digits(individual) then ByteLevel; Llama 3 / Qwen2: a Split
    // regex then ByteLevel without its own regex.
    let mut v: serde_json::Value = read_json("gpt2/tokenizer.json");
    v["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]});
    let digits = Tokenizer::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    let gpt2 = tokenizer("gpt2/tokenizer.json");
    let ids = digits.encode_ids("In 2024");
    assert_eq!(gpt2.decode(&ids), "In 2024");
    assert_eq!(ids.len(), 6, "In, space, 2, 0, 2, 4: {ids:?}");
    assert!(gpt2.encode_ids("In 2024").len() < 6);
    v["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": llm_xray::tokenizer::GPT2_PATTERN}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
    let split = Tokenizer::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    for c in read_json("gpt2/cases.json").as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(split.encode_ids(text), gpt2.encode_ids(text), "Split + ByteLevel(no regex) equals ByteLevel's regex on {text:?}");
    }
}

#[test]
fn template_processing_adds_a_beginning_of_sequence_token() {
    let mut v: serde_json::Value = read_json("tiny/tokenizer.json");
    v["post_processor"] = serde_json::json!({"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [], "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}});
    let tok = Tokenizer::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    let body = tok.encode_ids("Hello");
    assert_eq!(tok.encode_prompt("Hello"), [vec![0], body].concat());
}

/// SentencePiece vocabularies (tests/fixtures/spm_tokenizer_cases.json, from transformers by
/// make_gemma3_fixtures.py): Gemma's GGUF (no leading ▁, merges by file order, pieces of
/// spaces respelled, newline and tab runs as user-defined tokens), the tokenizer.json
/// transformers saves from it, and a Llama 2 style GGUF (a leading ▁, merges by score).
/// Unicode, emoji, digits, runs of spaces, tabs and newlines, added tokens, byte fallback.
#[test]
fn sentencepiece_tokenizers_match_transformers() {
    let cases = read_json("spm_tokenizer_cases.json");
    let models: [(&str, Tokenizer); 3] = [
        ("tiny-gemma3-gguf", llm_xray::Model::load(&fixture("tiny-gemma3-gguf/model.gguf")).unwrap().tokenizer),
        ("tiny-gemma3", tokenizer("tiny-gemma3/tokenizer.json")),
        ("tiny-llama-spm-gguf", llm_xray::Model::load(&fixture("tiny-llama-spm-gguf/model.gguf")).unwrap().tokenizer),
    ];
    for (name, tok) in &models {
        assert!(tok.is_sentencepiece(), "{name}");
        let list = cases[name].as_array().unwrap();
        assert!(list.len() >= 50, "{name}");
        let leading = *name == "tiny-llama-spm-gguf";
        for c in list {
            let text = c["text"].as_str().unwrap();
            let pieces = tok.encode_prompt_pieces(text);
            let ids: Vec<u32> = pieces.iter().map(|p| p.id).collect();
            assert_eq!(ids, ids_of(&c["ids"]), "{name}: ids for {text:?}");
            // Every piece's span holds its bytes (a ▁ put before the text covers none, and a
            // literal ▁ in the text is a space to the model).
            for p in pieces.iter().skip(1).filter(|_| !text.contains('▁')) {
                let src = &text.as_bytes()[p.span.0..p.span.1];
                let prefixed = leading && p.span.0 == 0 && p.bytes.first() == Some(&b' ') && &p.bytes[1..] == src;
                assert!(p.bytes == src || prefixed, "{name}: span {:?} of {:?} in {text:?}", p.span, p.bytes);
            }
            if !leading && !text.contains('▁') {
                assert_eq!(tok.decode(&ids[1..]), text, "{name}: decode(encode(x)) == x for {text:?}");
            }
        }
    }
}

#[test]
fn sentencepiece_pieces_read_as_text_and_bytes() {
    let tok = tokenizer("tiny-gemma3/tokenizer.json");
    assert_eq!(tok.token_id("<start_of_turn>"), Some(5));
    assert_eq!(tok.token_bytes(tok.token_id("\n\n").unwrap()), Some(&b"\n\n"[..]));
    // A piece of two spaces, and the byte piece of 0x41: "A".
    assert_eq!(tok.token_bytes(tok.token_id("  ").unwrap()), Some(&b"  "[..]));
    assert_eq!(tok.token_bytes(7 + 8 + 0x41), Some(&b"A"[..]));
    // 😀 is no piece: four byte pieces, whose bytes join into the character.
    let pieces = tok.encode("😀");
    assert_eq!(pieces.len(), 4);
    assert_eq!(pieces.iter().flat_map(|p| p.bytes.clone()).collect::<Vec<u8>>(), "😀".as_bytes());
    assert_eq!(pieces.iter().map(|p| p.span).collect::<Vec<_>>(), [(0, 1), (1, 2), (2, 3), (3, 4)]);
}
