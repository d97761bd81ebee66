//! The wasm binding of the Train stage (`www/worker.js` drives it): a [`TrainRun`] the
//! worker advances a chunk of wall-clock time at a time, so that the page's Pause and Reset
//! are answered between chunks. Errors are `{kind, message}` objects, as in `wasm.rs`.

use crate::session::train::{defaults, Plan, TrainRun, TrainSettings};
use crate::tokenizer::Tokenizer;
use crate::wasm::{err, fail, to_js};
use js_sys::{Object, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn settings(v: JsValue) -> Result<TrainSettings, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| fail("input", format!("training settings the engine does not understand: {e}")))
}

/// The recipe's starting settings and the vocabulary size of the tokenizer
/// `tokenizer_json`: `{settings, vocab}`.
#[wasm_bindgen(js_name = trainDefaults)]
pub fn train_defaults(tokenizer_json: &[u8]) -> Result<JsValue, JsValue> {
    let vocab = Tokenizer::from_json(tokenizer_json).map_err(err)?.vocab_len();
    #[derive(Serialize)]
    struct Out {
        settings: TrainSettings,
        vocab: usize,
    }
    to_js(&Out { settings: defaults(vocab).map_err(err)?, vocab })
}

/// The learned-parameter count and memory of `settings` on a vocabulary of `vocab` (see
/// `Plan::of`).
#[wasm_bindgen(js_name = trainPlan)]
pub fn train_plan(settings_js: JsValue, vocab: usize) -> Result<JsValue, JsValue> {
    to_js(&Plan::of(&settings(settings_js)?, vocab).map_err(err)?)
}

/// A training run in the tab.
#[wasm_bindgen]
pub struct Training {
    run: TrainRun,
}

#[wasm_bindgen]
impl Training {
    #[wasm_bindgen(constructor)]
    pub fn new(settings_js: JsValue, tokenizer_json: Vec<u8>) -> Result<Training, JsValue> {
        Ok(Training { run: TrainRun::new(settings(settings_js)?, tokenizer_json).map_err(err)? })
    }

    /// Steps done.
    #[wasm_bindgen(getter)]
    pub fn steps(&self) -> usize {
        self.run.steps()
    }

    /// Trains for about `ms` milliseconds (at most `max_steps` steps), then the progress to
    /// draw (`session::train::Progress`), measured when `measure`.
    pub fn advance(&mut self, ms: f64, max_steps: usize, measure: bool) -> Result<JsValue, JsValue> {
        to_js(&self.run.advance(ms, max_steps, measure).map_err(err)?)
    }

    /// The Hugging Face folder's files as they are now: `[{name, bytes}]`.
    pub fn files(&self) -> Result<js_sys::Array, JsValue> {
        let out = js_sys::Array::new();
        for (name, bytes) in self.run.hf_files().map_err(err)? {
            let o = Object::new();
            Reflect::set(&o, &"name".into(), &name.into())?;
            Reflect::set(&o, &"bytes".into(), &Uint8Array::from(&bytes[..]).into())?;
            out.push(&o);
        }
        Ok(out)
    }
}
