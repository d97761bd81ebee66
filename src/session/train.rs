//! A training run for the page's Train stage: the learner's settings turned into a
//! [`Trainer`] (model shape and task; the rest from [`recipe::induction`]), steps run in
//! chunks of wall-clock time, and after each chunk the progress the page draws: the new
//! losses, the held-out loss, the head census, snapshots of learned parameters with the size
//! of their last update, and the attention of every head on a fixed probe sequence.
//! Platform-neutral: the worker (`src/wasm_train.rs`) forwards to it, native tests drive it.

use crate::clock::now_ms;
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use crate::trace::{Part, Parts};
use crate::train::params::Layout;
use crate::train::{recipe, HeadScore, Matrix, ModelShape, Snapshot, Task, Trainer};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the page's Train stage may change; everything else comes from the recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainSettings {
    /// "induction", "shakespeare" or "text" (pasted).
    pub task: String,
    /// The text of a text task (the shipped sample or the learner's), else empty.
    #[serde(default)]
    pub text: String,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
    /// Positions the model reads; each training sequence is this long.
    pub context: usize,
    pub lr: f64,
    pub batch: usize,
    pub seed: u64,
}

/// The learned-parameter count of a setting and the memory its training takes.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub parameters: usize,
    /// Bytes the tab needs to train it (see [`Plan::of`]).
    pub bytes: f64,
    /// What the tab offers a training run, bytes.
    pub limit: f64,
    /// Why the setting cannot be trained here, naming the numbers (None: it can).
    pub refusal: Option<String>,
}

/// What a training run may use of the tab's WebAssembly memory (4 GiB at most, shared with
/// the model the views show).
pub const TRAIN_MEMORY: f64 = 1.5 * (1u64 << 30) as f64;

impl Plan {
    /// The plan of `s` on a vocabulary of `vocab` tokens: the parameter count from the
    /// trainer's own layout; memory as parameters, gradients and AdamW's two moments (16
    /// bytes a parameter) plus the activations a step keeps (per layer about 16 vectors of
    /// the width and two T×T maps per head for each token, and the logits twice).
    pub fn of(s: &TrainSettings, vocab: usize) -> Result<Plan> {
        for (name, v) in [("layers", s.layers), ("heads", s.heads), ("width", s.width), ("context", s.context), ("batch", s.batch)] {
            if v == 0 {
                return Err(Error::Input(format!("{name} is 0; it must be at least 1")));
            }
        }
        if !s.width.is_multiple_of(s.heads) {
            return Err(Error::Input(format!("the width {} does not split into {} heads; it must be a multiple of the number of heads", s.width, s.heads)));
        }
        let layout = Layout::new(&shape(s, vocab).config()?)?;
        let parameters = layout.total;
        let tokens = (s.batch * s.context) as f64;
        let acts = tokens * (s.layers as f64 * (16.0 * s.width as f64 + 2.0 * (s.heads * s.context) as f64) + 2.0 * vocab as f64);
        let bytes = 16.0 * parameters as f64 + 4.0 * acts;
        let refusal = (bytes > TRAIN_MEMORY).then(|| {
            format!(
                "this model is too big to train in the tab: {} learned parameters (16 bytes each with their gradients and AdamW's moments: {:.0} MB) and the activations of {} sequences of {} tokens ({:.0} MB) need {:.0} MB; the tab gives training {:.0} MB. Use fewer layers, a smaller width, context or batch.",
                parameters,
                16.0 * parameters as f64 / 1e6,
                s.batch,
                s.context,
                4.0 * acts / 1e6,
                bytes / 1e6,
                TRAIN_MEMORY / 1e6
            )
        });
        Ok(Plan { parameters, bytes, limit: TRAIN_MEMORY, refusal })
    }
}

fn shape(s: &TrainSettings, vocab: usize) -> ModelShape {
    ModelShape { layers: s.layers, heads: s.heads, width: s.width, context: s.context, vocab, inner: 0 }
}

/// The recipe's settings for the Induction task, on a vocabulary of `vocab` tokens: the
/// page's starting values.
pub fn defaults(vocab: usize) -> Result<TrainSettings> {
    let (h, _) = recipe::induction(vocab, 1)?;
    Ok(TrainSettings {
        task: "induction".into(),
        text: String::new(),
        layers: h.model.layers,
        heads: h.model.heads,
        width: h.model.width,
        context: h.seq,
        lr: h.schedule.lr,
        batch: h.batch,
        seed: 1,
    })
}

/// One step's loss, as the curve draws it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub step: usize,
    pub loss: f64,
}

/// A learned-parameter matrix as it is now, and the norm of its tensor's last update.
#[derive(Debug, Clone, Serialize)]
pub struct Picture {
    /// What it shows, e.g. "query-key matrix W_Q·W_Kᵀ of layer 2, head 1".
    pub title: String,
    /// The tensor whose last update `update` measures (Hugging Face name).
    pub tensor: String,
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
    /// ‖new − old‖ of `tensor` at the last step.
    pub update: f32,
    /// ‖tensor‖, so the update can be read as a fraction of it.
    pub norm: f32,
}

/// Attention maps, per layer, per head: T×T, row-major.
pub type AttentionMaps = Vec<Vec<Vec<f32>>>;

/// What the page is told after each chunk of steps.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Steps done in all.
    pub step: usize,
    /// The loss of each step of this chunk.
    pub losses: Vec<Point>,
    /// The held-out loss after this chunk's last step.
    pub held_out: Option<f64>,
    pub grad_norm: f64,
    pub lr: f64,
    /// Milliseconds spent training so far (steps, census and pictures included).
    pub elapsed_ms: f64,
    /// This chunk's steps per second and tokens per second (steps alone).
    pub steps_per_s: f64,
    pub tokens_per_s: f64,
    pub tokens: usize,
    /// Whether the model was measured after this chunk: only then are the held-out loss,
    /// census, best head, pictures and probe attention given (else empty).
    pub measured: bool,
    /// Every head's previous-token and induction score on the probe.
    pub census: Vec<HeadScore>,
    /// The head with the highest induction score in layer 2 or later (None with one layer:
    /// a layer-1 head cannot read an earlier head, so it can only match by position).
    pub best: Option<HeadScore>,
    pub pictures: Vec<Picture>,
    /// The probe sequence's token ids and, per layer, per head, its T×T attention.
    pub probe_ids: Vec<u32>,
    pub probe: AttentionMaps,
}

/// A run in progress.
pub struct TrainRun {
    trainer: Trainer,
    settings: TrainSettings,
    tokenizer_json: Vec<u8>,
    /// The engine's model of the trainer's shape, its weights replaced before each probe
    /// run (the tokenizer is parsed once).
    model: Option<Model>,
    elapsed_ms: f64,
    tokens: usize,
    last_update: Vec<f32>,
    names: Vec<String>,
    /// Rows of the token embedding shown: the first tokens of the task's alphabet or text.
    embed_ids: Vec<u32>,
}

/// Tokens of the text held out for the held-out loss: the last tenth.
const HELD_OUT_FRACTION: f64 = 0.1;
/// Rows of the token-embedding picture.
const EMBED_ROWS: usize = 48;
/// Tokens of the probe sequence whose attention is drawn.
const PROBE_TOKENS: usize = 48;

impl TrainRun {
    /// A fresh model of `settings` learning its task, with the tokenizer `tokenizer_json`
    /// (the default model's: the trained model opens in every view).
    pub fn new(settings: TrainSettings, tokenizer_json: Vec<u8>) -> Result<TrainRun> {
        let tokenizer = Tokenizer::from_json(&tokenizer_json)?;
        let vocab = tokenizer.vocab_len();
        let plan = Plan::of(&settings, vocab)?;
        if let Some(r) = plan.refusal {
            return Err(Error::Input(r));
        }
        if !(settings.lr.is_finite() && settings.lr > 0.0) {
            return Err(Error::Input(format!("the learning rate {} must be a number above 0", settings.lr)));
        }
        let (mut hyper, induction) = recipe::induction(vocab, settings.seed)?;
        hyper.model = shape(&settings, vocab);
        hyper.batch = settings.batch;
        hyper.seq = settings.context;
        let ratio = hyper.schedule.min_lr / hyper.schedule.lr;
        hyper.schedule.lr = settings.lr;
        hyper.schedule.min_lr = settings.lr * ratio;
        hyper.eval_every = 0;
        let (task, embed_ids) = match settings.task.as_str() {
            "induction" => {
                let ids = induction.alphabet.iter().take(EMBED_ROWS).copied().collect();
                (Task::Induction(induction), ids)
            }
            "shakespeare" | "text" => {
                let what = if settings.task == "text" { "the pasted text" } else { "the Shakespeare sample" };
                if settings.text.trim().is_empty() {
                    return Err(Error::Input(format!("{what} is empty: paste some text to train on")));
                }
                let ids = tokenizer.encode_ids(&settings.text);
                let cut = ((ids.len() as f64) * (1.0 - HELD_OUT_FRACTION)) as usize;
                let need = (settings.context + 2) * 11;
                if ids.len() < need {
                    return Err(Error::Input(format!(
                        "{what} is {} tokens; a context of {} needs at least {need} (a tenth is held out, and each part must hold a sequence of {} + 2 tokens)",
                        ids.len(),
                        settings.context,
                        settings.context
                    )));
                }
                let mut seen = Vec::new();
                for &id in &ids {
                    if seen.len() == EMBED_ROWS {
                        break;
                    }
                    if !seen.contains(&id) {
                        seen.push(id);
                    }
                }
                (Task::Text { train: ids[..cut].to_vec(), held_out: ids[cut..].to_vec() }, seen)
            }
            other => return Err(Error::Input(format!("unknown task \"{other}\"; expected induction, shakespeare or text"))),
        };
        let trainer = Trainer::new(hyper, task, settings.seed)?;
        let names = trainer.tensor_names().into_iter().map(String::from).collect();
        let model = trainer.to_model(tokenizer)?;
        Ok(TrainRun { trainer, settings, tokenizer_json, model: Some(model), elapsed_ms: 0.0, tokens: 0, last_update: Vec::new(), names, embed_ids })
    }

    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }

    pub fn steps(&self) -> usize {
        self.trainer.steps()
    }

    /// Trains for about `ms` milliseconds (at least one step, at most `max_steps`); with
    /// `measure`, then measures the model (held-out loss, census, pictures, probe attention:
    /// about two forward passes, so the worker asks for them about once a second, not after
    /// every chunk). A loss or gradient that is not finite ends the chunk with the
    /// trainer's error, naming the step.
    pub fn advance(&mut self, ms: f64, max_steps: usize, measure: bool) -> Result<Progress> {
        let started = now_ms();
        let mut losses = Vec::new();
        let (mut grad_norm, mut lr, mut tokens) = (0.0, 0.0, 0);
        while losses.is_empty() || (now_ms() - started < ms && losses.len() < max_steps.max(1)) {
            let r = self.trainer.step()?;
            losses.push(Point { step: r.step, loss: r.loss });
            grad_norm = r.grad_norm;
            lr = r.lr;
            tokens += r.tokens;
            self.last_update = r.update_norms;
        }
        let step_ms = (now_ms() - started).max(1e-3);
        self.tokens += tokens;
        let mut p = Progress {
            step: self.trainer.steps(),
            steps_per_s: losses.len() as f64 * 1e3 / step_ms,
            tokens_per_s: tokens as f64 * 1e3 / step_ms,
            losses,
            held_out: None,
            grad_norm,
            lr,
            elapsed_ms: 0.0,
            tokens: self.tokens,
            measured: measure,
            census: Vec::new(),
            best: None,
            pictures: Vec::new(),
            probe_ids: Vec::new(),
            probe: Vec::new(),
        };
        if measure {
            p.held_out = self.trainer.held_out_loss();
            p.census = self.trainer.census();
            p.best = best_head(&p.census).cloned();
            p.pictures = self.pictures(p.best.as_ref())?;
            (p.probe_ids, p.probe) = self.probe_attention()?;
        }
        self.elapsed_ms += now_ms() - started;
        p.elapsed_ms = self.elapsed_ms;
        Ok(p)
    }

    fn update_of(&self, tensor: &str) -> (f32, f32) {
        let i = self.names.iter().position(|n| n == tensor);
        let update = i.and_then(|i| self.last_update.get(i).copied()).unwrap_or(0.0);
        let norm = self.trainer.tensor(tensor).map_or(0.0, |t| t.iter().map(|v| v * v).sum::<f32>().sqrt());
        (update, norm)
    }

    /// The query-key matrix of the head the status line names (else layer 1, head 1), the
    /// first MLP's input matrix, and token-embedding rows.
    fn pictures(&self, best: Option<&HeadScore>) -> Result<Vec<Picture>> {
        let (layer, head) = best.map_or((1, 1), |b| (b.layer, b.head));
        let picture = |title: String, tensor: String, m: Matrix| {
            let (update, norm) = self.update_of(&tensor);
            Picture { title, tensor, rows: m.rows, cols: m.cols, data: m.data, update, norm }
        };
        Ok(vec![
            picture(
                format!("query-key matrix W_Q·W_Kᵀ of layer {layer}, head {head}"),
                format!("h.{}.attn.c_attn.weight", layer - 1),
                self.trainer.snapshot(&Snapshot::QueryKey { layer, head })?,
            ),
            picture(
                "MLP input matrix of layer 1 (width × hidden neurons)".into(),
                "h.0.mlp.c_fc.weight".into(),
                self.trainer.snapshot(&Snapshot::MlpIn { layer: 1 })?,
            ),
            picture(
                format!("token embeddings of {} tokens the task uses", self.embed_ids.len()),
                "wte.weight".into(),
                self.trainer.snapshot(&Snapshot::TokenEmbedding { ids: self.embed_ids.clone() })?,
            ),
        ])
    }

    /// The first probe sequence's first tokens, and every head's attention on them, from the
    /// engine's own forward pass over the weights as they are now.
    fn probe_attention(&mut self) -> Result<(Vec<u32>, AttentionMaps)> {
        let ids: Vec<u32> = {
            let probe = &self.trainer.census_probe().batch;
            probe.ids[..probe.t().min(PROBE_TOKENS)].to_vec()
        };
        let mut model = self.model.take().expect("the model is put back after each probe run");
        model.weights = self.trainer.weights();
        let model = Arc::new(model);
        let result = CpuBackend::new(model.clone()).trace(&ids, Parts::none().with(Part::AttnProbs));
        self.model = Some(Arc::try_unwrap(model).ok().expect("the backend was dropped"));
        let mut trace = result?;
        let t = ids.len();
        let maps = trace
            .layers
            .iter_mut()
            .map(|l| {
                let p = l.take(Part::AttnProbs).map(|p| p.data).unwrap_or_default();
                p.chunks(t * t).map(<[f32]>::to_vec).collect()
            })
            .collect();
        Ok((ids, maps))
    }

    /// The model as it is now, for every view.
    pub fn to_model(&self) -> Result<Model> {
        self.trainer.to_model(Tokenizer::from_json(&self.tokenizer_json)?)
    }

    /// The Hugging Face folder as it is now: `config.json`, `model.safetensors` and
    /// `tokenizer.json`.
    pub fn hf_files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let mut files = self.trainer.hf_files()?;
        files.push(("tokenizer.json", self.tokenizer_json.clone()));
        Ok(files)
    }
}

/// The head with the highest induction score among layers 2 and later.
pub fn best_head(census: &[HeadScore]) -> Option<&HeadScore> {
    census.iter().filter(|h| h.layer >= 2).max_by(|a, b| a.induction.total_cmp(&b.induction))
}
