//! `train`: trains a GPT-2 on the CPU with the library's [`Trainer`] and writes a Hugging
//! Face GPT-2 folder (f32) that `transformers` and every command here open.
//!
//! Two starts: `--model DIR` (a GPT-2 folder) or `--init layers=2,heads=4,width=64,context=64`
//! (a new model, with the default model's tokenizer unless `--tokenizer` names another).
//! Two kinds of data: `--batches FILE.json` (K batches of B sequences of T + 1 ids: step k
//! trains on batch k) or `--task induction|text --steps N`. One line per step on stdout,
//! `step 1 loss 8.30769 …`; the head census and timings go to stderr.

use super::{usage, Args, Failure};
use llm_xray::model::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use llm_xray::tokenizer::Tokenizer;
use llm_xray::train::adamw::AdamWConfig;
use llm_xray::train::task::{batches_from_json, Layout};
use llm_xray::train::{recipe, HeadScore, Hyper, Induction, ModelShape, Schedule, Task, Trainer};
use llm_xray::Model;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The default model's tokenizer: a new model gets its vocabulary, so that the page opens
/// the trained model with every view.
const DEFAULT_TOKENIZER: &[u8] = include_bytes!("../../www/models/shakespeare/tokenizer.json");

pub const OPTIONS: &[&str] = &[
    "model",
    "init",
    "tokenizer",
    "batches",
    "task",
    "text",
    "held-out",
    "steps",
    "batch",
    "seq",
    "alphabet",
    "min-span",
    "max-span",
    "layout",
    "skip-fraction",
    "distinct",
    "skip-until",
    "lr",
    "warmup",
    "decay-steps",
    "min-lr",
    "weight-decay",
    "beta1",
    "beta2",
    "eps",
    "grad-clip",
    "init-std",
    "qk-std",
    "positions",
    "seed",
    "eval-every",
    "census",
    "until-induction",
    "out",
];
pub const FLAGS: &[&str] = &["force"];

fn fail(msg: impl Into<String>) -> Failure {
    Failure { msg: msg.into(), code: 1 }
}

pub fn cmd_train(args: &Args) -> Result<(), Failure> {
    let out = args.get("out").map(PathBuf::from);
    if let Some(o) = &out {
        check_out(o, args.flag("force"))?;
    }
    let seed: u64 = args.num("seed", 1)?;
    let (start, tokenizer_bytes) = start(args)?;
    let tokenizer = Tokenizer::from_json(&tokenizer_bytes)?;
    let vocab = match &start {
        Start::Model(m) => m.config.vocab_size,
        Start::Init(s) => s.vocab,
    };
    let (task, steps, batch, seq, recipe_hyper) = data(args, &tokenizer, vocab, seed)?;
    let hyper = hyper(args, &start, recipe_hyper, batch, seq)?;
    let mut trainer = match &start {
        Start::Model(m) => Trainer::resume(&m.config, &m.weights, hyper, task, seed)?,
        Start::Init(_) => Trainer::new(hyper, task, seed)?,
    };
    let census_every: usize = args.num("census", 0)?;
    let until: Option<f32> = args.get("until-induction").map(|_| args.num("until-induction", 0.5)).transpose()?;
    let c = trainer.config().clone();
    eprintln!(
        "training a GPT-2 of {} layers, {} heads, width {}, context {}, vocabulary {}: {} learned parameters",
        c.n_layer,
        c.n_head,
        c.n_embd,
        c.n_positions,
        c.vocab_size,
        trainer.parameter_count()
    );
    let started = Instant::now();
    if census_every > 0 {
        eprintln!("census at step 0: {}", summarise(&trainer.census()));
    }
    let mut tokens = 0usize;
    for _ in 0..steps {
        let r = trainer.step()?;
        tokens += r.tokens;
        let held = r.held_out_loss.map_or(String::new(), |h| format!(" held_out {h:.5}"));
        outln!("step {} loss {} grad_norm {:.5} lr {:.3e} ms {:.1}{held}", r.step, r.loss as f32, r.grad_norm, r.lr, r.ms);
        if census_every > 0 && (r.step % census_every == 0 || r.step == steps) {
            let scores = trainer.census();
            let best = summarise(&scores);
            eprintln!("census at step {} ({:.1} s): {best}", r.step, started.elapsed().as_secs_f64());
            if let Some(goal) = until {
                if best_induction(&scores).is_some_and(|h| h.induction >= goal) {
                    eprintln!("induction ≥ {goal} in layer ≥ 2 reached at step {} after {:.1} s", r.step, started.elapsed().as_secs_f64());
                    break;
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("trained {} steps in {secs:.2} s: {:.2} steps/s, {:.0} tokens/s", trainer.steps(), trainer.steps() as f64 / secs, tokens as f64 / secs);
    if let Some(o) = &out {
        let mut files = trainer.hf_files()?;
        files.insert(0, (TOKENIZER_FILE, tokenizer_bytes));
        write_folder(o, &files)?;
        eprintln!("wrote {}", o.display());
    }
    Ok(())
}

/// The vocabulary size of the default model's tokenizer (what a new model gets).
pub(super) fn default_tokenizer_vocab() -> Result<usize, Failure> {
    Ok(Tokenizer::from_json(DEFAULT_TOKENIZER)?.vocab_len())
}

enum Start {
    Model(Box<Model>),
    Init(ModelShape),
}

/// The model to start from and the tokenizer's bytes (copied into the output folder).
fn start(args: &Args) -> Result<(Start, Vec<u8>), Failure> {
    let tokenizer_file = args.get("tokenizer").map(|p| std::fs::read(p).map_err(|e| fail(format!("{p}: cannot be read: {e}")))).transpose()?;
    match (args.get("model"), args.get("init")) {
        (Some(dir), None) => {
            let path = Path::new(dir);
            if !path.is_dir() {
                return Err(fail(format!(
                    "{dir}: not a folder; the trainer starts from a Hugging Face GPT-2 folder ({CONFIG_FILE}, {WEIGHTS_FILE}, {TOKENIZER_FILE})"
                )));
            }
            let model = Model::load(path)?;
            let bytes = match tokenizer_file {
                Some(b) => b,
                None => std::fs::read(path.join(TOKENIZER_FILE)).map_err(|e| fail(format!("{}: cannot be read: {e}", path.join(TOKENIZER_FILE).display())))?,
            };
            Ok((Start::Model(Box::new(model)), bytes))
        }
        (None, Some(spec)) => {
            let bytes = tokenizer_file.unwrap_or_else(|| DEFAULT_TOKENIZER.to_vec());
            let vocab = Tokenizer::from_json(&bytes)?.vocab_len();
            Ok((Start::Init(parse_shape(spec, vocab)?), bytes))
        }
        _ => Err(usage("give exactly one of --model DIR (a GPT-2 folder) or --init layers=L,heads=H,width=W,context=C")),
    }
}

/// `layers=2,heads=4,width=64,context=64[,inner=256][,vocab=4096]`.
pub(super) fn parse_shape(spec: &str, vocab: usize) -> Result<ModelShape, Failure> {
    let mut s = ModelShape { layers: 0, heads: 0, width: 0, context: 0, vocab, inner: 0 };
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| usage(format!("--init: \"{part}\" is not key=value")))?;
        let n: usize = v.trim().parse().map_err(|_| usage(format!("--init: {k} \"{v}\" is not a whole number")))?;
        match k.trim() {
            "layers" => s.layers = n,
            "heads" => s.heads = n,
            "width" => s.width = n,
            "context" => s.context = n,
            "inner" => s.inner = n,
            "vocab" => s.vocab = n,
            other => return Err(usage(format!("--init: unknown key \"{other}\"; expected layers, heads, width, context, inner, vocab"))),
        }
    }
    for (k, v) in [("layers", s.layers), ("heads", s.heads), ("width", s.width), ("context", s.context)] {
        if v == 0 {
            return Err(usage(format!("--init needs {k}=N (a positive whole number)")));
        }
    }
    Ok(s)
}

/// The task, the number of steps, (B, T), and the recipe's hyperparameters when the task has
/// one (the defaults of the induction task).
fn data(args: &Args, tok: &Tokenizer, vocab: usize, seed: u64) -> Result<(Task, usize, usize, usize, Option<Hyper>), Failure> {
    if let Some(file) = args.get("batches") {
        if args.get("task").is_some() {
            return Err(usage("give --batches FILE or --task, not both"));
        }
        let bytes = std::fs::read(file).map_err(|e| fail(format!("{file}: cannot be read: {e}")))?;
        let all = batches_from_json(&bytes).map_err(|e| fail(format!("{file}: {}", e.message())))?;
        let (k, b, t) = (all.len(), all[0].seqs, all[0].t());
        let steps = args.num("steps", k)?.min(k);
        return Ok((Task::Batches(all), steps, b, t, None));
    }
    let task = args.get("task").ok_or_else(|| usage("give --batches FILE.json or --task induction|text"))?;
    // --steps 0 writes the model as initialised.
    let steps: usize = args.get("steps").ok_or_else(|| usage("--task needs --steps N")).and_then(|_| args.num("steps", 0))?;
    match task {
        "induction" => {
            let (rh, ri) = recipe::induction(vocab, seed).map_err(|e| fail(e.message()))?;
            let recipe_layout = match ri.layout {
                Layout::Pairs => "pairs",
                Layout::Single => "single",
                Layout::Periodic => "periodic",
            };
            let layout = match args.get("layout").unwrap_or(recipe_layout) {
                "pairs" => Layout::Pairs,
                "single" => Layout::Single,
                "periodic" => Layout::Periodic,
                other => return Err(usage(format!("--layout \"{other}\" is not known; expected pairs, single or periodic"))),
            };
            let alphabet = match args.get("alphabet") {
                Some(_) => Induction::alphabet(vocab, args.num("alphabet", 0)?, seed)?,
                None => ri.alphabet.clone(),
            };
            let ind = Induction {
                alphabet,
                min_span: args.num("min-span", ri.min_span)?,
                max_span: args.num("max-span", ri.max_span)?,
                layout,
                skip_fraction: args.num("skip-fraction", ri.skip_fraction)?,
                distinct: args.num("distinct", ri.distinct as u8)? == 1,
                skip_until: args.num("skip-until", ri.skip_until)?,
            };
            let (b, t) = (args.num("batch", rh.batch)?, args.num("seq", rh.seq)?);
            Ok((Task::Induction(ind), steps, b, t, Some(rh)))
        }
        "text" => {
            let file = args.get("text").ok_or_else(|| usage("--task text needs --text FILE (UTF-8 text)"))?;
            let read = |p: &str| std::fs::read_to_string(p).map_err(|e| fail(format!("{p}: cannot be read as UTF-8 text: {e}")));
            let mut train = encode_long(tok, &read(file)?);
            let held_out = match args.get("held-out") {
                Some(p) => encode_long(tok, &read(p)?),
                // The last twentieth of the text, when no held-out file is given.
                None => train.split_off(train.len() - train.len() / 20),
            };
            let (b, t) = (args.num("batch", 16)?, args.num("seq", 64)?);
            Ok((Task::Text { train, held_out }, steps, b, t, None))
        }
        other => Err(usage(format!("--task \"{other}\" is not known; expected induction or text"))),
    }
}

/// The run's hyperparameters: options given, else the recipe's (induction), else defaults.
fn hyper(args: &Args, start: &Start, recipe: Option<Hyper>, batch: usize, seq: usize) -> Result<Hyper, Failure> {
    let base = recipe.unwrap_or_else(|| Hyper {
        model: ModelShape { layers: 0, heads: 0, width: 0, context: 0, vocab: 0, inner: 0 },
        init: Default::default(),
        batch,
        seq,
        schedule: Schedule::constant(3e-4),
        optimizer: AdamWConfig::default(),
        eval_every: 0,
    });
    let model = match start {
        Start::Init(s) => s.clone(),
        Start::Model(m) => ModelShape {
            layers: m.config.n_layer,
            heads: m.config.n_head,
            width: m.config.n_embd,
            context: m.config.n_positions,
            vocab: m.config.vocab_size,
            inner: m.config.n_inner,
        },
    };
    let o = base.optimizer;
    let s = base.schedule;
    let init = &base.init;
    Ok(Hyper {
        model,
        init: llm_xray::train::Init {
            std: args.num("init-std", init.std)?,
            qk_std: args.num("qk-std", init.qk_std)?,
            sinusoidal_positions: match args.get("positions") {
                None => init.sinusoidal_positions,
                Some("sinusoidal") => true,
                Some("normal") => false,
                Some(other) => return Err(usage(format!("--positions \"{other}\" is not known; expected sinusoidal or normal"))),
            },
        },
        batch,
        seq,
        schedule: Schedule {
            lr: args.num("lr", s.lr)?,
            warmup: args.num("warmup", s.warmup)?,
            decay_steps: args.num("decay-steps", s.decay_steps)?,
            min_lr: args.num("min-lr", s.min_lr)?,
        },
        optimizer: AdamWConfig {
            beta1: args.num("beta1", o.beta1)?,
            beta2: args.num("beta2", o.beta2)?,
            eps: args.num("eps", o.eps)?,
            weight_decay: args.num("weight-decay", o.weight_decay)?,
            grad_clip: args.num("grad-clip", o.grad_clip)?,
        },
        eval_every: args.num("eval-every", base.eval_every)?,
    })
}

/// A text's token ids as the tokenizer cuts the whole text, encoded in pieces for speed: cut
/// only just before a newline that follows a non-space character, where GPT-2's
/// pre-tokenizer always has a boundary and no piece's look-ahead crosses it.
fn encode_long(tok: &Tokenizer, text: &str) -> Vec<u32> {
    let b = text.as_bytes();
    let (mut ids, mut start) = (Vec::new(), 0);
    for i in 1..b.len() {
        if b[i] == b'\n' && !b[i - 1].is_ascii_whitespace() && i - start > 4096 {
            ids.extend(tok.encode_ids(&text[start..i]));
            start = i;
        }
    }
    ids.extend(tok.encode_ids(&text[start..]));
    ids
}

/// The head with the highest induction score in layer 2 or later.
fn best_induction(scores: &[HeadScore]) -> Option<&HeadScore> {
    scores.iter().filter(|h| h.layer >= 2).max_by(|a, b| a.induction.total_cmp(&b.induction))
}

fn summarise(scores: &[HeadScore]) -> String {
    let prev = scores.iter().max_by(|a, b| a.previous_token.total_cmp(&b.previous_token));
    let mut s = prev.map_or(String::new(), |h| format!("best previous-token: layer {} head {} {:.3}", h.layer, h.head, h.previous_token));
    if let Some(h) = best_induction(scores) {
        s += &format!("; best induction in layer ≥ 2: layer {} head {} {:.3}", h.layer, h.head, h.induction);
    }
    s
}

/// Refuses an output that is a file, or a folder already holding a checkpoint (unless
/// --force); makes the folder, so that a path that cannot be written fails before training.
fn check_out(o: &Path, force: bool) -> Result<(), Failure> {
    if o.exists() && !o.is_dir() {
        return Err(fail(format!("--out {}: exists and is not a folder", o.display())));
    }
    let held: Vec<&str> = [CONFIG_FILE, WEIGHTS_FILE].into_iter().filter(|f| o.join(f).exists()).collect();
    if !held.is_empty() && !force {
        return Err(fail(format!("--out {}: already holds a checkpoint ({}); pass --force to replace it", o.display(), held.join(", "))));
    }
    std::fs::create_dir_all(o).map_err(|e| fail(format!("--out {}: cannot be created: {e}", o.display())))
}

/// Writes each file under a temporary name, then renames it into place: a checkpoint already
/// there stays whole until its replacement is complete. config.json goes last.
fn write_folder(o: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), Failure> {
    let mut ordered: Vec<&(&str, Vec<u8>)> = files.iter().filter(|(n, _)| *n != CONFIG_FILE).collect();
    ordered.extend(files.iter().filter(|(n, _)| *n == CONFIG_FILE));
    for (name, bytes) in ordered {
        let (tmp, dest) = (o.join(format!(".{name}.{}.tmp", std::process::id())), o.join(name));
        std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, &dest)).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(format!("{}: cannot be written: {e}", dest.display()))
        })?;
    }
    Ok(())
}
