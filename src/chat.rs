//! The chat format a model expects, so the page's "Chat format" switch wraps a prompt the
//! way the model was trained to read a conversation. A file's chat template is a Jinja
//! program; rather than run it, the format it writes is recognised by the markers it uses,
//! and a model without a template gets ChatML only where its vocabulary has ChatML's
//! markers (SmolLM2's GGUF). Where neither holds, the model gets no chat switch.

use crate::tokenizer::Tokenizer;
use serde::Serialize;

/// How one user turn is written, ready for the model to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatFormat {
    /// "ChatML", "Llama 3" or "Gemma".
    pub name: &'static str,
    /// Where the format came from, for people: the file's template, or the vocabulary.
    pub source: &'static str,
    /// Text before and after the user's message.
    pub before: &'static str,
    pub after: &'static str,
}

/// The formats known, each with the markers that identify it: (name, markers, before, after).
const FORMATS: [(&str, [&str; 2], &str, &str); 3] = [
    ("ChatML", ["<|im_start|>", "<|im_end|>"], "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"),
    (
        "Llama 3",
        ["<|start_header_id|>", "<|eot_id|>"],
        "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    ),
    ("Gemma", ["<start_of_turn>", "<end_of_turn>"], "<start_of_turn>user\n", "<end_of_turn>\n<start_of_turn>model\n"),
];

/// The chat format of a model's tokenizer, if it has one: named by its template where the
/// file carries one (and every marker is a token of the vocabulary), else ChatML where the
/// vocabulary has ChatML's markers.
pub fn chat_format(tok: &Tokenizer) -> Option<ChatFormat> {
    let in_vocab = |markers: &[&str; 2]| markers.iter().all(|m| tok.token_id(m).is_some());
    let format = |(name, _, before, after): (&'static str, [&str; 2], &'static str, &'static str), source| ChatFormat { name, source, before, after };
    match tok.chat_template() {
        Some(t) => FORMATS.into_iter().find(|f| f.1.iter().all(|m| t.contains(m)) && in_vocab(&f.1)).map(|f| format(f, "the file's chat template")),
        None => FORMATS.into_iter().take(1).find(|f| in_vocab(&f.1)).map(|f| format(f, "the vocabulary's ChatML markers (the file carries no chat template)")),
    }
}
