//! Which backend runs the model, and why; the fallback to the CPU when the GPU fails; head
//! ablation; and the generation loop. The CLI and the page both reach the backends only
//! through [`Engine`], so the choice, the fallback and the sentence that explains them
//! live here once.

use crate::ablation::{Ablation, AblationMode};
use crate::clock::now_ms;
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::{hardware_adapter_available, AdapterSummary, GpuBackend};
use crate::model::Model;
use crate::sampling::{Rng, Sampling};
use crate::trace::{Part, Parts, Positions, Trace};
use serde::Serialize;
use std::sync::Arc;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The GPU when its adapter is real hardware, else the CPU: software rasterisers
    /// (llvmpipe, SwiftShader) run these models slower than the CPU path (README, Benchmarks).
    Auto,
    Gpu,
    Cpu,
}

impl Choice {
    pub fn parse(s: &str) -> Option<Choice> {
        match s {
            "auto" => Some(Choice::Auto),
            "gpu" | "webgpu" => Some(Choice::Gpu),
            "cpu" => Some(Choice::Cpu),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::Gpu => "gpu",
            Choice::Cpu => "cpu",
        }
    }
}

/// How the GPU API is called where this runs, for sentences people read.
const GPU: &str = if cfg!(target_arch = "wasm32") { "WebGPU" } else { "the GPU" };

/// Which backend runs the model, and why; shown in the page's Model panel.
#[derive(Debug, Clone, Serialize)]
pub struct BackendInfo {
    /// What was asked for: "auto", "gpu" or "cpu".
    pub choice: &'static str,
    /// What runs: "gpu" or "cpu".
    pub kind: &'static str,
    /// The backend's own description.
    pub name: String,
    /// The GPU adapter, when the GPU runs.
    pub adapter: Option<AdapterSummary>,
    /// One sentence for people: why this backend.
    pub why: String,
}

/// The backends of one model: the CPU reference (always there, the fallback) and the GPU
/// when chosen. It holds the KV cache of one context.
pub struct Engine {
    cpu: CpuBackend,
    gpu: Option<GpuBackend>,
    info: BackendInfo,
    /// Set when the GPU failed during a run and the CPU took over; taken by the caller.
    notice: Option<String>,
    /// Why the GPU could not start, when it was wanted.
    gpu_failure: Option<String>,
    /// Also print the fallback notice on stderr (the CLI).
    stderr_notices: bool,
}

fn cpu_info(choice: Choice, why: impl Into<String>) -> BackendInfo {
    let name = if cfg!(target_arch = "wasm32") { "CPU (Rust compiled to WebAssembly)" } else { "CPU (Rust reference)" };
    BackendInfo { choice: choice.name(), kind: "cpu", name: name.into(), adapter: None, why: why.into() }
}

impl Engine {
    /// The CPU reference only.
    pub fn cpu(model: Arc<Model>) -> Engine {
        Engine {
            cpu: CpuBackend::new(model),
            gpu: None,
            info: cpu_info(Choice::Cpu, "you chose the CPU backend"),
            notice: None,
            gpu_failure: None,
            stderr_notices: false,
        }
    }

    /// Chooses and starts a backend. `gpu_api` is whether a GPU API exists at all (the
    /// page's `navigator.gpu`; natively always true). A GPU that cannot start leaves the
    /// CPU running, and `info().why` says so.
    pub async fn new(model: Arc<Model>, choice: Choice, gpu_api: bool) -> Engine {
        let mut e = Engine::cpu(model);
        e.choose(choice, gpu_api).await;
        e
    }

    /// Switches backend. The context is emptied (the caller, who knows what each run must
    /// record, runs it again).
    pub async fn choose(&mut self, choice: Choice, gpu_api: bool) {
        let missing = if cfg!(target_arch = "wasm32") { "this browser offers no WebGPU (navigator.gpu is missing)" } else { "no GPU API is available" };
        let want_gpu = match choice {
            Choice::Cpu => {
                self.info = cpu_info(choice, "you chose the CPU backend");
                false
            }
            Choice::Gpu | Choice::Auto if !gpu_api => {
                self.info = cpu_info(choice, format!("{missing}, so the CPU runs the model"));
                false
            }
            Choice::Gpu => true,
            Choice::Auto => {
                let hw = hardware_adapter_available().await;
                if !hw {
                    self.info = cpu_info(choice, format!("{GPU} has no hardware adapter here (at most a software one such as SwiftShader or llvmpipe, which is slower than the CPU backend), so Auto chose the CPU"));
                }
                hw
            }
        };
        self.gpu_failure = None;
        if !want_gpu {
            self.gpu = None;
        } else if self.gpu.is_none() {
            match GpuBackend::new(self.cpu.model().clone()).await {
                Ok(g) => self.gpu = Some(g),
                Err(e) => {
                    self.info = cpu_info(choice, format!("{GPU} could not start ({}), so the CPU runs the model", e.message()));
                    self.gpu_failure = Some(e.message());
                }
            }
        }
        if let Some(g) = &self.gpu {
            let a = g.adapter().clone();
            let why = match (choice, a.is_software) {
                (Choice::Auto, _) => format!("Auto found a hardware {GPU} adapter"),
                (_, true) => format!("you chose {GPU}; this adapter is a software rasteriser, so it is slower than the CPU backend"),
                _ => format!("you chose {GPU}"),
            };
            self.info = BackendInfo { choice: choice.name(), kind: "gpu", name: g.describe(), adapter: Some(a), why };
        }
        // The new backend starts with an empty context: the caller re-runs what it needs.
        self.reset();
    }

    /// The GPU backend, when it runs.
    pub fn gpu(&mut self) -> Option<&mut GpuBackend> {
        self.gpu.as_mut()
    }

    pub fn info(&self) -> &BackendInfo {
        &self.info
    }

    pub fn describe(&self) -> String {
        self.info.name.clone()
    }

    pub fn model(&self) -> &Arc<Model> {
        self.cpu.model()
    }

    /// The token ids in the context (the KV cache).
    pub fn context(&self) -> &[u32] {
        match &self.gpu {
            Some(g) => g.context(),
            None => self.cpu.context(),
        }
    }

    pub fn context_len(&self) -> usize {
        self.context().len()
    }

    /// Keeps the first `n` tokens of the context.
    pub fn truncate(&mut self, n: usize) {
        match &mut self.gpu {
            Some(g) => g.truncate(n),
            None => self.cpu.truncate(n),
        }
    }

    pub fn reset(&mut self) {
        self.truncate(0)
    }

    /// Heads to ablate from now on; empties the context (its keys and values were computed
    /// without this ablation).
    pub fn set_ablation(&mut self, a: Ablation) {
        if let Some(g) = &mut self.gpu {
            g.set_ablation(a.clone());
        }
        self.cpu.set_ablation(a);
    }

    /// What the GPU's failure changed, once: the caller shows it to people.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    /// Why the GPU could not start, when it was chosen (or Auto found hardware) but failed.
    pub fn gpu_failure(&self) -> Option<&str> {
        self.gpu_failure.as_deref()
    }

    /// Prints the fallback notice on stderr as well (the CLI has no other place for it).
    pub fn set_stderr_notices(&mut self, on: bool) {
        self.stderr_notices = on;
    }

    /// GPU time per kernel over one full trace of `ids`: (kernel, total ms, dispatches),
    /// slowest first; empty on the CPU or without timestamp queries.
    pub async fn kernel_times(&mut self, ids: &[u32]) -> Result<Vec<(&'static str, f64, usize)>> {
        let Some(g) = &mut self.gpu else { return Ok(Vec::new()) };
        g.reset();
        let (_, times) = g.run_timed(ids, Parts::all(), true).await?;
        let mut out: Vec<(&'static str, f64, usize)> = Vec::new();
        for (k, ms) in times {
            match out.iter_mut().find(|x| x.0 == k) {
                Some(x) => {
                    x.1 += ms;
                    x.2 += 1;
                }
                None => out.push((k, ms, 1)),
            }
        }
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(out)
    }

    /// Runs `ids` after the context. A GPU that fails (lost device, failed pipeline) hands
    /// over to the CPU, which replays the context and runs the call, so no run is lost.
    pub async fn run(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.run_positions(ids, parts, &Positions::All).await
    }

    /// As [`Engine::run`], keeping the per-position parts of `positions` only (each backend
    /// then unembeds those rows alone).
    pub async fn run_positions(&mut self, ids: &[u32], parts: Parts, positions: &Positions) -> Result<Trace> {
        let Some(g) = &mut self.gpu else { return self.cpu.run_positions(ids, parts, positions) };
        let err = match g.run_positions(ids, parts, positions).await {
            Err(Error::Backend(m)) => m,
            other => return other,
        };
        let started = now_ms();
        let context = g.context().to_vec();
        let msg = format!("{GPU} failed ({err}); the CPU backend took over and ran this step");
        self.gpu = None;
        self.info = cpu_info(
            match self.info.choice {
                "auto" => Choice::Auto,
                _ => Choice::Gpu,
            },
            msg.clone(),
        );
        if self.stderr_notices {
            eprintln!("warning: {msg}");
        }
        self.notice = Some(msg);
        self.cpu.reset();
        if !context.is_empty() {
            self.cpu.run(&context, Parts::none())?;
        }
        let mut tr = self.cpu.run_positions(ids, parts, positions)?;
        tr.elapsed_ms = now_ms() - started;
        Ok(tr)
    }

    /// A fresh run of a whole prompt (the context is emptied first).
    pub async fn trace(&mut self, ids: &[u32], parts: Parts) -> Result<Trace> {
        self.reset();
        self.run(ids, parts).await
    }

    /// A fresh run of a whole prompt keeping the per-position parts of `positions` only.
    pub async fn trace_positions(&mut self, ids: &[u32], parts: Parts, positions: &Positions) -> Result<Trace> {
        self.reset();
        self.run_positions(ids, parts, positions).await
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// `max_tokens` were generated.
    Length,
    /// The model produced an end-of-sequence token (it is included in the output).
    EndOfSequence,
    /// The context is full.
    ContextFull,
}

/// Generates up to `max_tokens` tokens after `prompt` with the KV cache: one full run of the
/// prompt, then one single-token step per new token. Stops at an end-of-sequence token of
/// the model's tokenizer (when `stop_at_eos`) and when the context is full.
pub async fn generate(engine: &mut Engine, prompt: &[u32], max_tokens: usize, sampling: &Sampling, stop_at_eos: bool) -> Result<(Vec<u32>, Stop)> {
    let mut rng = Rng::new(sampling.seed);
    let model = engine.model().clone();
    let mut trace = engine.trace(prompt, Parts::none()).await?;
    let mut out = Vec::with_capacity(max_tokens);
    if max_tokens == 0 {
        return Ok((out, Stop::Length));
    }
    loop {
        let next = sampling.sample(&trace.next_logits, &mut rng);
        out.push(next);
        if stop_at_eos && model.config.eos_token_ids.contains(&next) {
            return Ok((out, Stop::EndOfSequence));
        }
        if out.len() == max_tokens {
            return Ok((out, Stop::Length));
        }
        // One token may follow a full context: it is sampled, but there is no room to run it.
        if engine.context_len() >= model.config.n_positions {
            return Ok((out, Stop::ContextFull));
        }
        trace = engine.run(&[next], Parts::none()).await?;
    }
}

/// The ablation of `heads` by `mode` for runs of `prompt`, and the prompt's next-token logits
/// without it (the "before" the page shows): one clean run, which records the head outputs
/// only when mean-ablation needs them. Leaves the engine un-ablated.
pub async fn prompt_ablation(engine: &mut Engine, heads: &[(usize, usize)], mode: AblationMode, prompt: &[u32]) -> Result<(Ablation, Vec<f32>)> {
    let cfg = engine.model().config.clone();
    engine.set_ablation(Ablation::default());
    let parts = if mode == AblationMode::Mean { Parts::none().with(Part::HeadOutputs) } else { Parts::none() };
    let mut tr = engine.trace(prompt, parts).await?;
    let a = match mode {
        AblationMode::Zero => Ablation::zero(&cfg, heads),
        AblationMode::Mean => {
            let z: Vec<Vec<f32>> = tr.layers.iter_mut().map(|l| l.take(Part::HeadOutputs).expect("head outputs were requested").data).collect();
            Ablation::mean(&cfg, heads, &z.iter().map(Vec::as_slice).collect::<Vec<_>>())
        }
    };
    Ok((a, tr.next_logits))
}
