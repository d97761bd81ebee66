//! Training a GPT-2 on the CPU, one step at a time: the same model the engine runs (its
//! [`Config`] and [`Weights`]), differentiated op by op as llm.c does it: each op's backward
//! sits beside its forward in [`crate::cpu::ops`] (the reference, tested against PyTorch
//! autograd) and [`crate::cpu::fast::backward`] (the kernels a step runs). Platform-neutral:
//! no threads, no clock but [`crate::clock`], no files, so the page's worker drives the same
//! [`Trainer`] the CLI does (`llm-xray train`).
//!
//! | module | job |
//! | --- | --- |
//! | [`params`] | the learned parameters as one flat buffer (slots by Hugging Face name); initialisation |
//! | [`pass`] | forward over a batch keeping activations, mean cross-entropy, backward into gradients |
//! | [`adamw`] | AdamW as PyTorch's, with global-norm clipping |
//! | [`task`] | batches: the induction task, text windows, fixed batches; the census probe |
//! | [`recipe`] | the induction recipe: the page's and the CLI's defaults |
//! | [`inspect`] | the head census on the probe; snapshots of learned parameters |
//! | [`checkpoint`] | the trained model as a Hugging Face GPT-2 folder's bytes |

pub mod adamw;
pub mod checkpoint;
pub mod inspect;
pub mod params;
pub mod pass;
pub mod recipe;
pub mod task;

use crate::clock::now_ms;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Model, Storage};
use crate::sampling::Rng;
use crate::tokenizer::Tokenizer;
use crate::weights::Weights;
use adamw::{AdamW, AdamWConfig};
pub use inspect::{HeadScore, Matrix, Snapshot};
use params::Layout;
pub use params::{Init, ModelShape};
use pass::Pass;
use serde::{Deserialize, Serialize};
pub use task::{Batch, Induction, Probe, Task};

/// The learning rate at each step: linear warm-up from 0 over `warmup` steps, then `lr`,
/// or (with `decay_steps` > 0) a cosine from `lr` down to `min_lr` at step `decay_steps`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub lr: f64,
    #[serde(default)]
    pub warmup: usize,
    #[serde(default)]
    pub decay_steps: usize,
    #[serde(default)]
    pub min_lr: f64,
}

impl Schedule {
    pub fn constant(lr: f64) -> Schedule {
        Schedule { lr, warmup: 0, decay_steps: 0, min_lr: lr }
    }

    /// The rate of step `step`, counted from 1.
    pub fn at(&self, step: usize) -> f64 {
        if step <= self.warmup {
            return self.lr * step as f64 / self.warmup as f64;
        }
        if self.decay_steps <= self.warmup {
            return self.lr;
        }
        let progress = ((step - self.warmup) as f64 / (self.decay_steps - self.warmup) as f64).min(1.0);
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// Everything a run is set up with but its data and seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// The model to build (ignored by [`Trainer::resume`], which takes a model's own).
    pub model: ModelShape,
    #[serde(default)]
    pub init: Init,
    /// Sequences per batch.
    pub batch: usize,
    /// Tokens per sequence (the model reads `seq`, and predicts each next token).
    pub seq: usize,
    pub schedule: Schedule,
    #[serde(default)]
    pub optimizer: AdamWConfig,
    /// A held-out loss every this many steps (0: only when asked for).
    #[serde(default)]
    pub eval_every: usize,
}

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Steps done, this one included (from 1).
    pub step: usize,
    /// Mean cross-entropy over every position of the batch, before the update.
    pub loss: f64,
    /// The held-out loss after the update, on the steps `eval_every` asks for.
    pub held_out_loss: Option<f64>,
    /// The global gradient norm, before clipping.
    pub grad_norm: f64,
    pub lr: f64,
    /// ‖new − old‖ of each learned tensor, in the order of [`Trainer::tensor_names`].
    pub update_norms: Vec<f32>,
    /// Tokens predicted this step (B·T).
    pub tokens: usize,
    /// Wall-clock milliseconds the step took.
    pub ms: f64,
}

pub struct Trainer {
    layout: Layout,
    params: Vec<f32>,
    grads: Vec<f32>,
    opt: AdamW,
    pass: Option<Pass>,
    hyper: Hyper,
    task: Task,
    rng: Rng,
    steps: usize,
    seed: u64,
    /// The census probe and its pass, made when first asked for.
    probe: Option<(Probe, Pass)>,
}

impl Trainer {
    /// A new model of `hyper.model`, initialised as `hyper.init` says from `seed`, learning
    /// `task`.
    pub fn new(hyper: Hyper, task: Task, seed: u64) -> Result<Trainer> {
        let layout = Layout::new(&hyper.model.config()?)?;
        let params = params::initialise(&layout, &hyper.init, seed);
        Self::start(layout, params, hyper, task, seed)
    }

    /// Continues training a GPT-2 of `config` with `weights` (a loaded checkpoint);
    /// `hyper.model` and `hyper.init` are not used.
    pub fn resume(config: &Config, weights: &Weights, hyper: Hyper, task: Task, seed: u64) -> Result<Trainer> {
        let layout = Layout::new(config)?;
        let params = layout.flatten(weights)?;
        Self::start(layout, params, hyper, task, seed)
    }

    fn start(layout: Layout, params: Vec<f32>, hyper: Hyper, task: Task, seed: u64) -> Result<Trainer> {
        let c = &layout.config;
        if !matches!(task, Task::Batches(_)) && (hyper.batch == 0 || hyper.seq == 0) {
            return Err(Error::Input(format!("batches of {} sequences of {} tokens are empty", hyper.batch, hyper.seq)));
        }
        task.check(c.vocab_size, c.n_positions, if matches!(task, Task::Batches(_)) { 0 } else { hyper.seq })?;
        let s = hyper.schedule;
        if !(s.lr.is_finite() && s.lr >= 0.0 && s.min_lr.is_finite()) {
            return Err(Error::Input(format!("the learning rate {} is not a finite non-negative number", s.lr)));
        }
        let o = hyper.optimizer;
        if !((0.0..1.0).contains(&o.beta1) && (0.0..1.0).contains(&o.beta2) && o.eps >= 0.0 && o.weight_decay.is_finite() && o.grad_clip >= 0.0) {
            return Err(Error::Input(format!(
                "AdamW needs 0 ≤ beta1, beta2 < 1 and eps, grad_clip ≥ 0; got beta1 {}, beta2 {}, eps {}, grad_clip {}",
                o.beta1, o.beta2, o.eps, o.grad_clip
            )));
        }
        let n = layout.total;
        Ok(Trainer {
            opt: AdamW::new(hyper.optimizer, n),
            grads: vec![0.0; n],
            layout,
            params,
            pass: None,
            hyper,
            task,
            rng: Rng::new(seed ^ 0x7EA1_DA7A),
            steps: 0,
            seed,
            probe: None,
        })
    }

    pub fn config(&self) -> &Config {
        &self.layout.config
    }

    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Steps done.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Every learned tensor's Hugging Face name (without `transformer.`), in the order of
    /// [`StepReport::update_norms`].
    pub fn tensor_names(&self) -> Vec<&str> {
        self.layout.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// Learned parameters in all.
    pub fn parameter_count(&self) -> usize {
        self.layout.total
    }

    /// The values of the tensor named `name` (as [`Trainer::tensor_names`] gives it).
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        let i = self.layout.slots.iter().position(|s| s.name == name)?;
        Some(self.layout.get(&self.params, i))
    }

    /// One step: the next batch, forward, backward, clipping, AdamW. A loss or gradient that
    /// is not finite stops training with an error naming the step; the parameters are left
    /// as they were before it.
    pub fn step(&mut self) -> Result<StepReport> {
        let started = now_ms();
        let (b, t) = (self.hyper.batch, self.hyper.seq);
        let batch = self
            .task
            .batch(&mut self.rng, self.steps, b, t)
            .ok_or_else(|| Error::Input(format!("no batch for step {}: the task's batches are used up", self.steps + 1)))?;
        let size = (batch.seqs, batch.t());
        if self.pass.as_ref().is_none_or(|p| p.size() != size) {
            self.pass = Some(Pass::new(&self.layout, size.0, size.1));
        }
        let pass = self.pass.as_mut().expect("made above");
        let (inputs, targets) = batch.split();
        let loss = pass.forward(&self.layout, &self.params, &inputs, Some(&targets)).expect("targets were given");
        let step = self.steps + 1;
        if !loss.is_finite() {
            return Err(Error::Input(format!(
                "the loss is {loss} at step {step}: training diverged (try a lower learning rate), or the weights hold values too large to train"
            )));
        }
        self.grads.fill(0.0);
        pass.backward(&self.layout, &self.params, &mut self.grads);
        let grad_norm = AdamW::grad_norm(&self.grads);
        if !grad_norm.is_finite() {
            return Err(Error::Input(format!("the gradient norm is {grad_norm} at step {step}: training diverged (try a lower learning rate)")));
        }
        let lr = self.hyper.schedule.at(step);
        let update = self.opt.step(&self.layout, &mut self.params, &self.grads, lr);
        self.steps = step;
        let held_out_loss = match self.hyper.eval_every {
            0 => None,
            k if step.is_multiple_of(k) => self.held_out_loss(),
            _ => None,
        };
        Ok(StepReport { step, loss, held_out_loss, grad_norm: update.grad_norm, lr, update_norms: update.update_norms, tokens: b * t, ms: now_ms() - started })
    }

    /// The mean cross-entropy on held-out sequences: the census probe for the induction
    /// task, the first windows of the held-out text for text; None for fixed batches.
    pub fn held_out_loss(&mut self) -> Option<f64> {
        let batch = match &self.task {
            Task::Batches(_) => return None,
            Task::Induction(_) => self.probe().0.batch.clone(),
            Task::Text { held_out, .. } => {
                let len = self.hyper.seq + 1;
                let seqs = (held_out.len() / len).clamp(1, 8);
                Batch { seqs, len, ids: held_out[..seqs * len].to_vec() }
            }
        };
        let (inputs, targets) = batch.split();
        let mut pass = Pass::new(&self.layout, batch.seqs, batch.t());
        Some(pass.evaluate(&self.layout, &self.params, &inputs, &targets))
    }

    /// The probe (made on first use, from the seed) and a pass of its size.
    fn probe(&mut self) -> &mut (Probe, Pass) {
        if self.probe.is_none() {
            let t = self.hyper.seq.min(self.layout.config.n_positions);
            let spec = match &self.task {
                Task::Induction(ind) => ind.clone(),
                // Other tasks are probed on random tokens of the whole vocabulary.
                _ => Induction {
                    alphabet: (1..self.layout.config.vocab_size as u32).collect(),
                    min_span: 4,
                    max_span: t / 2,
                    layout: task::Layout::Single,
                    skip_fraction: 0.0,
                    distinct: false,
                    skip_until: 0,
                },
            };
            let probe = Probe::new(&spec, PROBE_SEQS, t, self.seed);
            let pass = Pass::new(&self.layout, probe.batch.seqs, probe.batch.t());
            self.probe = Some((probe, pass));
        }
        self.probe.as_mut().expect("made above")
    }

    /// The fixed sequences the census scores heads on.
    pub fn census_probe(&mut self) -> &Probe {
        &self.probe().0
    }

    /// Every head's previous-token and induction score on the probe, from one forward pass.
    pub fn census(&mut self) -> Vec<HeadScore> {
        self.probe();
        let (layout, params) = (&self.layout, &self.params);
        let (probe, pass) = self.probe.as_mut().expect("made above");
        let (inputs, _) = probe.batch.split();
        pass.forward(layout, params, &inputs, None);
        inspect::census(layout, probe, |l| pass.probs(l))
    }

    /// A learned-parameter matrix (see [`Snapshot`]).
    pub fn snapshot(&self, what: &Snapshot) -> Result<Matrix> {
        inspect::snapshot(&self.layout, &self.params, what)
    }

    /// The engine's weights as they are now.
    pub fn weights(&self) -> Weights {
        self.layout.weights(&self.params)
    }

    /// The model as it is now, for inference in every view: config, a copy of the weights,
    /// and `tokenizer` (the vocabulary the model was trained on).
    pub fn to_model(&self, tokenizer: Tokenizer) -> Result<Model> {
        let config = self.layout.config.clone();
        tokenizer.check_fits(&config, Error::Tokenizer)?;
        let storage = Storage::new("training", self.layout.slots.iter().map(|_| "F32".to_string()));
        Ok(Model { config, weights: self.weights(), tokenizer, storage })
    }

    /// `config.json` and `model.safetensors` of a Hugging Face GPT-2 folder holding the model
    /// as it is now (f32); the caller adds `tokenizer.json`.
    pub fn hf_files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        checkpoint::hf_files(&self.layout, &self.params)
    }
}

/// Sequences in the census probe.
const PROBE_SEQS: usize = 16;
