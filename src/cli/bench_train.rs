//! `bench --train`: training steps per second and tokens per second on the CPU, one thread,
//! through the same [`Trainer`] the page and `llm-xray train` drive. scripts/bench.sh runs it
//! beside PyTorch eager (scripts/bench_train.py) on the same model folder and batches file.

use super::train::{default_tokenizer_vocab, parse_shape};
use super::{usage, Args, Failure};
use llm_xray::train::task::batches_from_json;
use llm_xray::train::{recipe, Schedule, Task, Trainer};
use llm_xray::Model;
use std::path::Path;

/// The recipe's model unless `--init` names another.
const SHAPE: &str = "layers=2,heads=4,width=64,context=64";

pub fn cmd_bench_train(args: &Args) -> Result<(), Failure> {
    let seed: u64 = args.num("seed", 1)?;
    let model = args.get("model").map(|dir| Model::load(Path::new(dir))).transpose()?;
    let vocab = match &model {
        Some(m) => m.config.vocab_size,
        None => default_tokenizer_vocab()?,
    };
    let (mut hyper, induction) = recipe::induction(vocab, seed)?;
    // Timing only: the AdamW settings of the interface, a constant rate.
    hyper.schedule = Schedule::constant(3e-3);
    hyper.optimizer.weight_decay = 0.1;
    let (task, steps) = match args.get("batches") {
        Some(file) => {
            let bytes = std::fs::read(file).map_err(|e| Failure { msg: format!("{file}: cannot be read: {e}"), code: 1 })?;
            let all = batches_from_json(&bytes).map_err(|e| Failure { msg: format!("{file}: {}", e.message()), code: 1 })?;
            (hyper.batch, hyper.seq) = (all[0].seqs, all[0].t());
            let k = all.len();
            (Task::Batches(all), args.num("steps", k)?.min(k))
        }
        None => {
            (hyper.batch, hyper.seq) = (args.num("batch", hyper.batch)?, args.num("seq", hyper.seq)?);
            (Task::Induction(induction), args.num("steps", 20)?)
        }
    };
    if steps < 2 {
        return Err(usage("bench --train needs at least 2 steps (the first is not timed)"));
    }
    let mut trainer = match &model {
        Some(m) => Trainer::resume(&m.config, &m.weights, hyper, task, seed)?,
        None => {
            hyper.model = parse_shape(args.get("init").unwrap_or(SHAPE), vocab)?;
            Trainer::new(hyper, task, seed)?
        }
    };
    let c = trainer.config().clone();
    let (b, t) = (trainer.hyper().batch, trainer.hyper().seq);
    outln!(
        "training: GPT-2 of {} layers, {} heads, width {}, context {}, vocabulary {}: {} learned parameters; batches of {b} × {t} tokens; AdamW",
        c.n_layer,
        c.n_head,
        c.n_embd,
        c.n_positions,
        c.vocab_size,
        trainer.parameter_count()
    );
    // The first step allocates the pass's buffers: not a per-step cost.
    trainer.step()?;
    let mut ms: Vec<f64> = (1..steps).map(|_| trainer.step().map(|r| r.ms)).collect::<Result<_, _>>()?;
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    outln!("{:<7} {:>6} {:>6} {:>10} {:>10} {:>12}", "train", "batch", "seq", "step ms", "steps/s", "tokens/s");
    outln!("{:<7} {b:>6} {t:>6} {median:>10.2} {:>10.2} {:>12.0}", "train", 1e3 / median, (b * t) as f64 * 1e3 / median);
    Ok(())
}
