//! `llm-xray`: the engine from the command line. Trace a prompt to JSON, generate,
//! tokenize, benchmark and inspect heads, without a browser.

use llm_xray::{generate, Backend, CpuBackend, Model, Parts, Sampling, Trace};
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "\
llm-xray: watch a GPT-2-family model think

USAGE:
  llm-xray trace    --model DIR (--prompt TEXT | --ids 3,17,5) [--parts all|LIST] [--backend cpu|gpu|auto]
  llm-xray generate --model DIR --prompt TEXT --max-tokens N [--temperature T] [--top-k K]
                    [--top-p P] [--seed S] [--json] [--backend cpu|gpu|auto]
  llm-xray tokenize --model DIR --prompt TEXT
  llm-xray bench    --model DIR [--backend cpu|gpu|auto|all] [--tokens 16,64,128] [--repeat N]
  llm-xray heads    --model DIR [--text FILE] [--json]
  llm-xray info     --model DIR

A model folder holds config.json, model.safetensors and tokenizer.json in the Hugging Face
GPT-2 layout. `trace` prints one JSON object; see README.md for its fields.";

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

fn backend(args: &Args, model: Arc<Model>) -> Result<Box<dyn Backend>, Failure> {
    backend_named(args.get("backend").unwrap_or("cpu"), model)
}

/// `gpu` insists on a GPU adapter (any, software included); `auto` takes the GPU only when
/// it is hardware, since software rasterisers (llvmpipe, SwiftShader) are slower than the
/// CPU path (README, Benchmark). Either way a GPU that fails mid-way (lost device, failed
/// pipeline) hands over to the CPU with a message on stderr, and no run is lost.
fn backend_named(name: &str, model: Arc<Model>) -> Result<Box<dyn Backend>, Failure> {
    use llm_xray::gpu::{hardware_adapter_available, CpuFallback, GpuBackend};
    match name {
        "cpu" => Ok(Box::new(CpuBackend::new(model))),
        "gpu" => {
            let g = pollster::block_on(GpuBackend::new(model))?;
            Ok(Box::new(CpuFallback::new(Box::new(g))))
        }
        "auto" => {
            if !pollster::block_on(hardware_adapter_available()) {
                return Ok(Box::new(CpuBackend::new(model)));
            }
            match pollster::block_on(GpuBackend::new(model.clone())) {
                Ok(g) => Ok(Box::new(CpuFallback::new(Box::new(g)))),
                Err(e) => {
                    eprintln!("note: {e}; running on the CPU instead");
                    Ok(Box::new(CpuBackend::new(model)))
                }
            }
        }
        other => Err(usage(format!("--backend \"{other}\" is not known; expected cpu, gpu or auto"))),
    }
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

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    serde_json::to_writer(&mut out, v).map_err(|e| Failure { msg: format!("writing JSON: {e}"), code: 1 })?;
    writeln!(out).and_then(|_| out.flush()).map_err(|e| Failure { msg: format!("writing output: {e}"), code: 1 })
}

/// The trace as the CLI prints it: attention probabilities lifted to the top level as
/// [layer][head][T][T], where readers of HF's `output_attentions` look for them.
#[derive(Serialize)]
struct TraceJson<'a> {
    model: &'a llm_xray::Config,
    backend: String,
    attentions: Option<Vec<llm_xray::Tensor>>,
    #[serde(flatten)]
    trace: Trace,
}

fn cmd_trace(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = prompt_ids(args, &model)?;
    let parts = Parts::parse(args.get("parts").unwrap_or("all")).map_err(usage)?;
    let mut b = backend(args, model.clone())?;
    let mut trace = b.trace(&ids, parts)?;
    let attentions = parts
        .has(llm_xray::Part::AttnProbs)
        .then(|| trace.layers.iter_mut().filter_map(|l| l.attentions.take()).collect());
    print_json(&TraceJson { model: &model.config, backend: b.describe(), attentions, trace })
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
    let mut b = backend(args, model.clone())?;
    let new_ids = generate(b.as_mut(), &ids, max_tokens, &sampling)?;
    let text = model.tokenizer.decode(&new_ids);
    if args.flag("json") {
        #[derive(Serialize)]
        struct Out<'a> {
            prompt_ids: &'a [u32],
            generated_ids: &'a [u32],
            generated_text: &'a str,
            sampling: &'a Sampling,
        }
        print_json(&Out { prompt_ids: &ids, generated_ids: &new_ids, generated_text: &text, sampling: &sampling })
    } else {
        println!("{}{}", args.need("prompt")?, text);
        Ok(())
    }
}

fn cmd_tokenize(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let pieces = model.tokenizer.encode(args.need("prompt")?);
    #[derive(Serialize)]
    struct Tok {
        id: u32,
        text: String,
        bytes: Vec<u8>,
        span: (usize, usize),
    }
    let toks: Vec<Tok> = pieces
        .into_iter()
        .map(|p| Tok { id: p.id, text: String::from_utf8_lossy(&p.bytes).into_owned(), bytes: p.bytes, span: p.span })
        .collect();
    print_json(&toks)
}

fn cmd_heads(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let text = match args.get("text") {
        Some(path) => {
            let s = std::fs::read_to_string(path)
                .map_err(|e| Failure { msg: format!("{path}: cannot be read as UTF-8 text: {e}"), code: 1 })?;
            Some(model.tokenizer.encode_ids(&s))
        }
        None => None,
    };
    let mut b = backend(args, model.clone())?;
    let scores = llm_xray::heads::census(b.as_mut(), text.as_deref())?;
    if args.flag("json") {
        return print_json(&scores);
    }
    println!("layer head  prev-token  induction(random)  induction(text)  first-token   self");
    for s in &scores {
        let text = s.induction_text.map_or("       -".to_string(), |v| format!("{v:8.3}"));
        println!(
            "{:>5} {:>4}  {:>10.3}  {:>17.3}  {:>15}  {:>11.3} {:>6.3}",
            s.layer + 1, s.head + 1, s.previous_token, s.induction_random, text, s.first_token, s.self_attention
        );
    }
    Ok(())
}

fn cmd_info(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    #[derive(Serialize)]
    struct Info<'a> {
        config: &'a llm_xray::Config,
        parameters: Vec<llm_xray::weights::ParamCount>,
        total_parameters: usize,
    }
    let parameters = model.weights.param_counts();
    let total_parameters = parameters.iter().map(|p| p.count).sum();
    print_json(&Info { config: &model.config, parameters, total_parameters })
}

/// Times full traces (every part recorded) and one-token KV-cache steps at each length, on
/// one backend or, with `--backend all`, on the CPU and the GPU in the same run. Rows start
/// with the backend name so scripts/bench.sh can pick them out.
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
            eprintln!("note: skipping {t} tokens: more than this model's context (n_positions {})", cfg.n_positions);
        } else {
            lengths.push(t);
        }
    }
    if lengths.is_empty() {
        return Err(usage(format!("--tokens: no length fits this model's context (n_positions {})", cfg.n_positions)));
    }
    let ids_of = |t: usize| -> Vec<u32> { (0..t).map(|i| (i * 7919 % cfg.vocab_size) as u32).collect() };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("model: {} layers, {} heads, width {}, vocabulary {}, context {}", cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions);
    // (backend, tokens, trace ms, step ms)
    let mut results: Vec<(&str, usize, f64, f64)> = Vec::new();
    for &name in &names {
        let mut b = match backend_named(name, model.clone()) {
            Ok(b) => b,
            Err(f) if names.len() > 1 => {
                eprintln!("note: skipping the {name} backend: {}", f.msg);
                continue;
            }
            Err(f) => return Err(f),
        };
        println!("\n{name}: {}", b.describe());
        println!("{:<7} {:>6} {:>12} {:>10} {:>12} {:>10}", "backend", "tokens", "trace ms", "GFLOP/s", "step ms", "GFLOP/s");
        // One untimed run: shader compilation and first-touch allocation are not per-trace costs.
        b.trace(&ids_of(lengths[0]), Parts::all())?;
        for &t in &lengths {
            let ids = ids_of(t);
            let mut full = Vec::new();
            let mut step = Vec::new();
            for _ in 0..repeat.max(1) {
                full.push(b.trace(&ids, Parts::all())?.elapsed_ms);
                b.trace(&ids[..t - 1], Parts::none())?;
                step.push(b.run(&ids[t - 1..], Parts::all())?.elapsed_ms);
            }
            let (full, step) = (median(full), median(step));
            println!(
                "{name:<7} {t:>6} {full:>12.2} {:>10.2} {step:>12.3} {:>10.2}",
                flops(cfg, t, 0) / full / 1e6,
                flops(cfg, 1, t - 1) / step / 1e6
            );
            results.push((name, t, full, step));
        }
    }
    let get = |n: &str, t: usize| results.iter().find(|r| r.0 == n && r.1 == t).map(|r| (r.2, r.3));
    if names.len() > 1 && lengths.iter().any(|&t| get("gpu", t).is_some() && get("cpu", t).is_some()) {
        println!("\nGPU time / CPU time (below 1: the GPU is faster)");
        println!("{:>6} {:>12} {:>12}", "tokens", "trace", "step");
        for &t in &lengths {
            if let (Some(g), Some(c)) = (get("gpu", t), get("cpu", t)) {
                println!("{t:>6} {:>12.2} {:>12.2}", g.0 / c.0, g.1 / c.1);
            }
        }
    }
    Ok(())
}

/// Multiply-adds ×2 of the matmuls in a run of `t` new tokens after `past` cached ones.
fn flops(cfg: &llm_xray::Config, t: usize, past: usize) -> f64 {
    let (t, d, f, v) = (t as f64, cfg.n_embd as f64, cfg.n_inner as f64, cfg.vocab_size as f64);
    let tk_mean = past as f64 + (t + 1.0) / 2.0;
    let per_layer = 2.0 * t * (d * 3.0 * d + d * d + 2.0 * d * f) + 2.0 * 2.0 * t * tk_mean * d;
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
        "trace" => Args::parse(rest, &[], &opts(&["prompt", "ids", "parts"])).and_then(|a| cmd_trace(&a)),
        "generate" => Args::parse(rest, &["json"], &opts(&["prompt", "max-tokens", "temperature", "top-k", "top-p", "seed"]))
            .and_then(|a| cmd_generate(&a)),
        "tokenize" => Args::parse(rest, &[], &opts(&["prompt"])).and_then(|a| cmd_tokenize(&a)),
        "bench" => Args::parse(rest, &[], &opts(&["tokens", "repeat"])).and_then(|a| cmd_bench(&a)),
        "heads" => Args::parse(rest, &["json"], &opts(&["text"])).and_then(|a| cmd_heads(&a)),
        "info" => Args::parse(rest, &[], &opts(&[])).and_then(|a| cmd_info(&a)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
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
