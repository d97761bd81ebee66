//! `llm-xray`: the engine from the command line. Trace a prompt to JSON, generate,
//! tokenize, benchmark, inspect heads, and ask why (logit lens, head ablation, direct logit
//! attribution), without a browser.

use llm_xray::backend::{prompt_ablation, AblationMode, Stop};
use llm_xray::heads::HeadScores;
use llm_xray::instruments::{attribute, attribution_parts, lens, lens_parts};
use llm_xray::{generate, Ablation, Choice, Engine, Model, Part, Parts, Sampling, Trace};
use pollster::block_on;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
llm-xray: watch a GPT-2- or Llama-family model think

USAGE:
  llm-xray trace     --model M (--prompt TEXT | --ids 3,17,5) [--parts all|LIST] [--ablate L.H,..]
  llm-xray generate  --model M --prompt TEXT --max-tokens N [--temperature T] [--top-k K]
                     [--top-p P] [--seed S] [--json] [--ablate L.H,..] [--ignore-eos]
  llm-xray lens      --model M (--prompt TEXT | --ids ..) [--top K] [--target ID] [--json] [--ablate L.H,..]
  llm-xray attribute --model M (--prompt TEXT | --ids ..) [--token ID] [--position P] [--json]
  llm-xray tokenize  --model M --prompt TEXT
  llm-xray heads     --model M [--text FILE] [--json]
  llm-xray info      --model M
  llm-xray compare   A.json B.json [--tolerance 1e-4]
  llm-xray bench     --model M [--backend cpu|gpu|auto|all] [--tokens 16,64,128] [--repeat N] [--kernels]

Every command takes --backend cpu|gpu|auto (default cpu). --ablate replaces the output of
the listed heads (layers and heads counted from 1, as `heads` prints them) before the
attention output projection: by zeros, or with --ablate-mode mean by its mean over the
prompt. M is a folder holding config.json, model.safetensors and tokenizer.json (Hugging
Face GPT-2 or Llama family), or a .gguf file. `trace` prints one JSON object; README.md
describes its fields. `compare` holds two traces (from `trace`, or the page's 'Download run
(JSON)') against each other, part by part.";

/// A plain error for people; the exit code says whether it was usage (2) or input (1).
struct Failure {
    msg: String,
    code: u8,
}

impl From<llm_xray::Error> for Failure {
    fn from(e: llm_xray::Error) -> Self {
        Failure { msg: e.to_string(), code: 1 }
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure { msg: format!("{}\n\n{USAGE}", msg.into()), code: 2 }
}

struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    fn parse(raw: &[String], flags: &[&str], options: &[&str]) -> Result<Args, Failure> {
        let mut a = Args { values: HashMap::new(), flags: Vec::new() };
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            let name = arg.strip_prefix("--").ok_or_else(|| usage(format!("unexpected argument \"{arg}\"")))?;
            if flags.contains(&name) {
                a.flags.push(name.to_string());
            } else if options.contains(&name) {
                let v = it.next().ok_or_else(|| usage(format!("--{name} needs a value")))?;
                a.values.insert(name.to_string(), v.clone());
            } else {
                return Err(usage(format!("unknown option --{name}")));
            }
        }
        Ok(a)
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
    fn need(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| usage(format!("--{name} is required")))
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Failure> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| usage(format!("--{name} \"{v}\" is not a valid number"))),
        }
    }
    fn list(&self, name: &str, default: &str) -> Result<Vec<u32>, Failure> {
        let raw = self.get(name).unwrap_or(default);
        raw.split(',')
            .map(|s| s.trim().parse::<u32>().map_err(|_| usage(format!("--{name}: \"{s}\" is not a non-negative integer"))))
            .collect()
    }
}

fn load_model(args: &Args) -> Result<Arc<Model>, Failure> {
    Ok(Arc::new(Model::load(&PathBuf::from(args.need("model")?))?))
}

/// `gpu` insists on a GPU adapter (any, software included); `auto` takes the GPU only when
/// it is hardware. Either way a GPU that fails mid-way hands over to the CPU (backend.rs).
fn engine(name: &str, model: Arc<Model>) -> Result<Engine, Failure> {
    let choice = Choice::parse(name).filter(|_| name != "webgpu").ok_or_else(|| usage(format!("--backend \"{name}\" is not known; expected cpu, gpu or auto")))?;
    let e = block_on(Engine::new(model, choice, true));
    if choice == Choice::Gpu && e.info().kind != "gpu" {
        return Err(Failure { msg: format!("backend: {}", e.gpu_failure().unwrap_or(e.info().why.as_str())), code: 1 });
    }
    if choice == Choice::Auto && e.info().kind != "gpu" && e.gpu_failure().is_some() {
        eprintln!("note: {}", e.info().why);
    }
    Ok(e)
}

fn backend(args: &Args, model: Arc<Model>) -> Result<Engine, Failure> {
    let mut e = engine(args.get("backend").unwrap_or("cpu"), model)?;
    e.set_stderr_notices(true);
    Ok(e)
}

fn prompt_ids(args: &Args, model: &Model) -> Result<Vec<u32>, Failure> {
    match (args.get("prompt"), args.get("ids")) {
        (Some(text), None) => Ok(model.encode_prompt(text)?),
        (None, Some(_)) => {
            let ids = args.list("ids", "")?;
            model.check_ids(&ids, 0)?;
            Ok(ids)
        }
        _ => Err(usage("give exactly one of --prompt TEXT or --ids 3,17,5")),
    }
}

/// Applies `--ablate` (and `--ablate-mode`) to the engine for runs of `ids`.
fn ablate(args: &Args, e: &mut Engine, ids: &[u32]) -> Result<Option<Vec<(usize, usize)>>, Failure> {
    let Some(list) = args.get("ablate") else { return Ok(None) };
    let cfg = e.model().config.clone();
    let heads = Ablation::parse_heads(list, &cfg)?;
    let mode = args.get("ablate-mode").unwrap_or("zero");
    let mode = match AblationMode::parse(mode) {
        Some(m) => m,
        None => return Err(usage(format!("--ablate-mode \"{mode}\" is not known; expected zero or mean"))),
    };
    let a = match mode {
        // Zeros need no run of the prompt.
        AblationMode::Zero => Ablation::zero(&cfg, &heads),
        AblationMode::Mean => block_on(prompt_ablation(e, &heads, mode, ids))?.0,
    };
    e.set_ablation(a);
    Ok(Some(heads.iter().map(|(l, h)| (l + 1, h + 1)).collect()))
}

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let written = serde_json::to_writer(&mut w, v).map_err(std::io::Error::from).and_then(|_| writeln!(w)).and_then(|_| w.flush());
    written.or_else(|e| stdout_closed(&e)).map_err(|e| Failure { msg: format!("writing JSON to stdout: {e}"), code: 1 })
}

/// A reader that closed our stdout (`llm-xray heads | head`) has all it wanted: end quietly,
/// as Unix tools do, rather than panic or report an error.
fn stdout_closed(e: &std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(std::io::Error::new(e.kind(), e.to_string()))
}

/// Writes formatted text to stdout (see [`stdout_closed`]).
fn write_out(args: std::fmt::Arguments) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args).or_else(|e| stdout_closed(&e)) {
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`write_out`].
macro_rules! outln {
    () => {
        write_out(format_args!("\n"))
    };
    ($($a:tt)*) => {
        write_out(format_args!("{}\n", format_args!($($a)*)))
    };
}

/// The trace as the CLI prints it: attention probabilities lifted to the top level as
/// [layer][head][T][T], where readers of HF's `output_attentions` look for them.
#[derive(Serialize)]
struct TraceJson<'a> {
    model: &'a llm_xray::Config,
    backend: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ablated_heads: Option<Vec<(usize, usize)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attentions: Option<Vec<llm_xray::Tensor>>,
    #[serde(flatten)]
    trace: Trace,
}

fn cmd_trace(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = prompt_ids(args, &model)?;
    let parts = Parts::parse(args.get("parts").unwrap_or("all")).map_err(usage)?;
    let mut e = backend(args, model.clone())?;
    let ablated_heads = ablate(args, &mut e, &ids)?;
    let mut trace = block_on(e.trace(&ids, parts))?;
    let attentions = parts.has(Part::AttnProbs).then(|| trace.layers.iter_mut().filter_map(|l| l.take(Part::AttnProbs)).collect());
    print_json(&TraceJson { model: &model.config, backend: e.describe(), ablated_heads, attentions, trace })
}

fn sampling(args: &Args) -> Result<Sampling, Failure> {
    let s = Sampling {
        temperature: args.num("temperature", 0.0)?,
        top_k: args.num("top-k", 0)?,
        top_p: args.num("top-p", 1.0)?,
        seed: args.num("seed", 0)?,
    };
    s.check().map_err(|e| usage(format!("--{e}")))?;
    Ok(s)
}

fn cmd_generate(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = model.encode_prompt(args.need("prompt")?)?;
    let max_tokens: usize = args.num("max-tokens", 0)?;
    if max_tokens == 0 {
        return Err(usage("--max-tokens N (N ≥ 1) is required"));
    }
    let sampling = sampling(args)?;
    let mut e = backend(args, model.clone())?;
    ablate(args, &mut e, &ids)?;
    let (new_ids, stop) = block_on(generate(&mut e, &ids, max_tokens, &sampling, !args.flag("ignore-eos")))?;
    let text = model.tokenizer.decode(&new_ids);
    if args.flag("json") {
        #[derive(Serialize)]
        struct Out<'a> {
            prompt_ids: &'a [u32],
            generated_ids: &'a [u32],
            generated_text: &'a str,
            sampling: &'a Sampling,
            stop: Stop,
        }
        print_json(&Out { prompt_ids: &ids, generated_ids: &new_ids, generated_text: &text, sampling: &sampling, stop })
    } else {
        outln!("{}{}", args.need("prompt")?, text);
        match stop {
            Stop::EndOfSequence => eprintln!("(stopped: the model produced an end-of-sequence token)"),
            Stop::ContextFull => eprintln!("(stopped: the context is full, {} tokens)", model.config.n_positions),
            Stop::Length => {}
        }
        Ok(())
    }
}

fn cmd_lens(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = prompt_ids(args, &model)?;
    let k: usize = args.num("top", 5)?;
    if k == 0 {
        return Err(usage("--top must be at least 1"));
    }
    let target = args.get("target").map(|_| args.num::<u32>("target", 0)).transpose()?;
    if let Some(t) = target {
        model.check_ids(&[t], 0)?;
    }
    let mut e = backend(args, model.clone())?;
    ablate(args, &mut e, &ids)?;
    let tr = block_on(e.trace(&ids, lens_parts()))?;
    let layers = lens(&model, &tr, k, target)?;
    if args.flag("json") {
        #[derive(Serialize)]
        struct Out<'a> {
            tokens: &'a [llm_xray::trace::TokenInfo],
            layers: &'a [llm_xray::instruments::LensLayer],
        }
        return print_json(&Out { tokens: &tr.tokens, layers: &layers });
    }
    let last = ids.len() - 1;
    outln!("logit lens at the last position ({:?}): the top token after each layer", tr.tokens[last].text);
    for l in &layers {
        let top: Vec<String> = l.top[last].iter().map(|t| format!("{:?} {:.3}", t.text, t.p)).collect();
        outln!("{:>12}  {}", l.after, top.join("  "));
    }
    Ok(())
}

fn cmd_attribute(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = prompt_ids(args, &model)?;
    let mut e = backend(args, model.clone())?;
    let tr = block_on(e.trace(&ids, attribution_parts().with(Part::Logits)))?;
    let position: usize = args.num("position", ids.len() - 1)?;
    let token = match args.get("token") {
        Some(_) => args.num::<u32>("token", 0)?,
        // The model's own top prediction at that position.
        None if position < ids.len() => llm_xray::sampling::argmax(tr.get(Part::Logits).expect("logits were recorded").row(position)),
        // attribute() names the position that is out of range.
        None => 0,
    };
    let a = attribute(&model, &tr, position, token)?;
    if args.flag("json") {
        return print_json(&a);
    }
    outln!("direct logit attribution of {:?} (id {}) at position {position}: logit {:.4}", a.text, a.token, a.logit);
    let mut c = a.components.clone();
    c.sort_by(|x, y| y.value.abs().total_cmp(&x.value.abs()));
    for x in c.iter().take(15) {
        outln!("{:>28}  {:+.4}", x.name, x.value);
    }
    Ok(())
}

fn cmd_tokenize(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let pieces = model.tokenizer.encode_prompt_pieces(args.need("prompt")?);
    let toks: Vec<llm_xray::trace::TokenInfo> = pieces
        .into_iter()
        .map(|p| llm_xray::trace::TokenInfo { id: p.id, text: String::from_utf8_lossy(&p.bytes).into_owned(), bytes: p.bytes, span: p.span })
        .collect();
    print_json(&toks)
}

fn cmd_heads(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let text = match args.get("text") {
        Some(path) => {
            let s = std::fs::read_to_string(path).map_err(|e| Failure { msg: format!("{path}: cannot be read as UTF-8 text: {e}"), code: 1 })?;
            Some(model.tokenizer.encode_ids(&s))
        }
        None => None,
    };
    let mut e = backend(args, model.clone())?;
    let scores = block_on(llm_xray::heads::census(&mut e, text.as_deref(), &mut |_, _| {}))?;
    if args.flag("json") {
        return print_json(&scores.iter().map(HeadScores::labelled).collect::<Vec<_>>());
    }
    outln!("layer head  prev-token  induction(random)  induction(text)  first-token   self   label");
    for s in &scores {
        let text = s.induction_text.map_or("       -".to_string(), |v| format!("{v:8.3}"));
        let (label, score) = s.label();
        outln!(
            "{:>5} {:>4}  {:>10.3}  {:>17.3}  {:>15}  {:>11.3} {:>6.3}   {label} {score:.2}",
            s.layer, s.head, s.previous_token, s.induction_random, text, s.first_token, s.self_attention
        );
    }
    Ok(())
}

fn cmd_info(args: &Args) -> Result<(), Failure> {
    print_json(&load_model(args)?.summary())
}

/// Every number of a JSON tree, in order; `null` (a masked score) as −∞.
fn numbers(v: &serde_json::Value, out: &mut Vec<f32>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Null => out.push(f32::NEG_INFINITY),
        x => out.push(x.as_f64().unwrap_or(f64::NAN) as f32),
    }
}

/// Compares two traces part by part: tokens must be identical; each part present in both is
/// within `tolerance` × the larger of 1 and B's largest |value| (attention probabilities:
/// `tolerance` / 10 absolute). Prints a row per part; fails if any part differs more.
fn cmd_compare(files: &[String], args: &Args) -> Result<(), Failure> {
    let [a, b] = files else { return Err(usage("compare takes two JSON files: llm-xray compare A.json B.json")) };
    let read = |path: &String| -> Result<serde_json::Value, Failure> {
        let bytes = std::fs::read(path).map_err(|e| Failure { msg: format!("{path}: cannot be read: {e}"), code: 1 })?;
        serde_json::from_slice(&bytes).map_err(|e| Failure { msg: format!("{path}: not a trace's JSON: {e}"), code: 1 })
    };
    let (x, y) = (read(a)?, read(b)?);
    let tol: f32 = args.num("tolerance", 1e-4)?;
    let ids = |v: &serde_json::Value| -> Vec<u64> { v["tokens"].as_array().map(|t| t.iter().filter_map(|t| t["id"].as_u64()).collect()).unwrap_or_default() };
    if ids(&x) != ids(&y) {
        return Err(Failure { msg: format!("the token ids differ: {a} has {:?}, {b} has {:?}", ids(&x), ids(&y)), code: 1 });
    }
    let mut rows: Vec<(String, &serde_json::Value, &serde_json::Value)> = Vec::new();
    for (k, v) in x.as_object().into_iter().flatten() {
        if k == "layers" || llm_xray::Part::from_name(k).is_none() && k != "next_logits" && k != "attentions" {
            continue;
        }
        if let Some(w) = y.get(k) {
            rows.push((k.clone(), v, w));
        }
    }
    if let (Some(la), Some(lb)) = (x["layers"].as_array(), y["layers"].as_array()) {
        for (l, (pa, pb)) in la.iter().zip(lb).enumerate() {
            for (k, v) in pa.as_object().into_iter().flatten() {
                if let Some(w) = pb.get(k) {
                    rows.push((format!("layers[{l}].{k}"), v, w));
                }
            }
        }
    }
    if rows.is_empty() {
        return Err(Failure { msg: format!("{a} and {b} have no part in common to compare"), code: 1 });
    }
    outln!("{:<40} {:>12} {:>12} {:>12}", "part", "max |diff|", "allowed", "");
    let mut failed = Vec::new();
    for (name, v, w) in rows {
        let (mut p, mut q) = (Vec::new(), Vec::new());
        numbers(v, &mut p);
        numbers(w, &mut q);
        let allowed = if name == "attentions" || name.ends_with("attentions") || name == "probabilities" {
            tol / 10.0
        } else {
            tol * q.iter().filter(|v| v.is_finite()).fold(1.0f32, |m, v| m.max(v.abs()))
        };
        let diff = if p.len() != q.len() {
            f32::INFINITY
        } else {
            p.iter().zip(&q).map(|(a, b)| if a == b { 0.0 } else { (a - b).abs() }).fold(0.0, f32::max)
        };
        let ok = diff <= allowed;
        outln!("{name:<40} {diff:>12.3e} {allowed:>12.3e} {:>12}", if ok { "ok" } else { "DIFFERS" });
        if !ok {
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        return Err(Failure { msg: format!("{} of the parts differ beyond the tolerance: {}", failed.len(), failed.join(", ")), code: 1 });
    }
    Ok(())
}

/// Times full traces (every part recorded) and one-token KV-cache steps at each length, on
/// one backend or, with `--backend all`, on the CPU and the GPU in the same run. Rows start
/// with the backend name so scripts/bench.sh can pick them out. `--kernels` adds the GPU's
/// time per kernel (timestamp queries, where the adapter has them).
fn cmd_bench(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let requested = args.list("tokens", "16,64,128")?;
    let repeat: usize = args.num("repeat", 5)?;
    let cfg = &model.config;
    let which = args.get("backend").unwrap_or("cpu");
    let names: Vec<&str> = if which == "all" { vec!["cpu", "gpu"] } else { vec![which] };
    let mut lengths = Vec::new();
    for &t in &requested {
        let t = t as usize;
        if t < 2 {
            return Err(usage(format!("--tokens: {t} is too short; a step needs at least 2 tokens")));
        }
        if t > cfg.n_positions {
            eprintln!("note: skipping {t} tokens: more than this model's context ({})", cfg.n_positions);
        } else {
            lengths.push(t);
        }
    }
    if lengths.is_empty() {
        return Err(usage(format!("--tokens: no length fits this model's context ({} tokens)", cfg.n_positions)));
    }
    let ids_of = |t: usize| -> Vec<u32> { (0..t).map(|i| (i * 7919 % cfg.vocab_size) as u32).collect() };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    outln!(
        "model: {:?}, {} layers, {} heads ({} key/value), width {}, vocabulary {}, context {}",
        cfg.model_type, cfg.n_layer, cfg.n_head, cfg.n_kv_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions
    );
    // (backend, tokens, trace ms, step ms)
    let mut results: Vec<(&str, usize, f64, f64)> = Vec::new();
    for &name in &names {
        let mut e = match engine(name, model.clone()) {
            Ok(e) => e,
            Err(f) if names.len() > 1 => {
                eprintln!("note: skipping the {name} backend: {}", f.msg);
                continue;
            }
            Err(f) => return Err(f),
        };
        outln!("\n{name}: {}", e.describe());
        outln!("{:<7} {:>6} {:>12} {:>10} {:>12} {:>10}", "backend", "tokens", "trace ms", "GFLOP/s", "step ms", "GFLOP/s");
        // One untimed run: shader compilation and first-touch allocation are not per-trace costs.
        block_on(e.trace(&ids_of(lengths[0]), Parts::all()))?;
        for &t in &lengths {
            let ids = ids_of(t);
            let mut full = Vec::new();
            let mut step = Vec::new();
            for _ in 0..repeat.max(1) {
                full.push(block_on(e.trace(&ids, Parts::all()))?.elapsed_ms);
                block_on(e.trace(&ids[..t - 1], Parts::none()))?;
                step.push(block_on(e.run(&ids[t - 1..], Parts::all()))?.elapsed_ms);
            }
            let (full, step) = (median(full), median(step));
            outln!(
                "{name:<7} {t:>6} {full:>12.2} {:>10.2} {step:>12.3} {:>10.2}",
                flops(cfg, t, 0) / full / 1e6,
                flops(cfg, 1, t - 1) / step / 1e6
            );
            results.push((name, t, full, step));
        }
        if args.flag("kernels") && e.info().kind == "gpu" {
            let t = *lengths.last().expect("at least one length");
            match block_on(e.kernel_times(&ids_of(t))) {
                Ok(times) if !times.is_empty() => {
                    outln!("\nGPU time per kernel, one full trace of {t} tokens (timestamp queries):");
                    let total: f64 = times.iter().map(|x| x.1).sum();
                    for (k, ms, n) in &times {
                        outln!("kernel {k:<14} {ms:>10.3} ms {:>6.1}% {n:>5} dispatches", 100.0 * ms / total.max(1e-9));
                    }
                }
                Ok(_) => outln!("\n(this adapter has no timestamp queries: no per-kernel times)"),
                Err(err) => eprintln!("note: per-kernel timing failed: {err}"),
            }
        }
    }
    let get = |n: &str, t: usize| results.iter().find(|r| r.0 == n && r.1 == t).map(|r| (r.2, r.3));
    if names.len() > 1 && lengths.iter().any(|&t| get("gpu", t).is_some() && get("cpu", t).is_some()) {
        outln!("\nGPU time / CPU time (below 1: the GPU is faster)");
        outln!("{:>6} {:>12} {:>12}", "tokens", "trace", "step");
        for &t in &lengths {
            if let (Some(g), Some(c)) = (get("gpu", t), get("cpu", t)) {
                outln!("{t:>6} {:>12.2} {:>12.2}", g.0 / c.0, g.1 / c.1);
            }
        }
    }
    Ok(())
}

/// Multiply-adds ×2 of the matmuls in a run of `t` new tokens after `past` cached ones.
fn flops(cfg: &llm_xray::Config, t: usize, past: usize) -> f64 {
    let (t, d, f, v) = (t as f64, cfg.n_embd as f64, cfg.n_inner as f64, cfg.vocab_size as f64);
    let (qkv, qw) = (cfg.qkv_width() as f64, cfg.q_width() as f64);
    let mlp = if cfg.gated_mlp { 3.0 } else { 2.0 };
    let tk_mean = past as f64 + (t + 1.0) / 2.0;
    let per_layer = 2.0 * t * (d * qkv + qw * d + mlp * d * f) + 2.0 * 2.0 * t * tk_mean * qw;
    cfg.n_layer as f64 * per_layer + 2.0 * t * d * v
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = raw.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &raw[1..];
    let common = ["model", "backend"];
    let opts = |extra: &[&'static str]| -> Vec<&'static str> { common.iter().chain(extra).copied().collect() };
    let result = match cmd.as_str() {
        "trace" => Args::parse(rest, &[], &opts(&["prompt", "ids", "parts", "ablate", "ablate-mode"])).and_then(|a| cmd_trace(&a)),
        "generate" => Args::parse(rest, &["json", "ignore-eos"], &opts(&["prompt", "max-tokens", "temperature", "top-k", "top-p", "seed", "ablate", "ablate-mode"]))
            .and_then(|a| cmd_generate(&a)),
        "lens" => Args::parse(rest, &["json"], &opts(&["prompt", "ids", "top", "target", "ablate", "ablate-mode"])).and_then(|a| cmd_lens(&a)),
        "attribute" => Args::parse(rest, &["json"], &opts(&["prompt", "ids", "token", "position"])).and_then(|a| cmd_attribute(&a)),
        "tokenize" => Args::parse(rest, &[], &opts(&["prompt"])).and_then(|a| cmd_tokenize(&a)),
        "bench" => Args::parse(rest, &["kernels"], &opts(&["tokens", "repeat"])).and_then(|a| cmd_bench(&a)),
        "heads" => Args::parse(rest, &["json"], &opts(&["text"])).and_then(|a| cmd_heads(&a)),
        "info" => Args::parse(rest, &[], &opts(&[])).and_then(|a| cmd_info(&a)),
        "compare" => {
            // Two file names, anywhere among the options.
            let (mut files, mut flags) = (Vec::new(), Vec::new());
            let mut it = rest.iter();
            while let Some(a) = it.next() {
                if a.starts_with("--") {
                    flags.push(a.clone());
                    flags.extend(it.next().cloned());
                } else {
                    files.push(a.clone());
                }
            }
            Args::parse(&flags, &[], &["tolerance"]).and_then(|a| cmd_compare(&files, &a))
        }
        "help" | "--help" | "-h" => {
            outln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(usage(format!("unknown command \"{other}\""))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}
