//! `llm-xray`: the engine from the command line. Trace a prompt to JSON, generate,
//! tokenize, benchmark, inspect heads, and ask why (logit lens, head ablation, direct logit
//! attribution), without a browser.

mod cli;

use cli::{bench, bench_train, run, train, why, Args};
use std::process::ExitCode;

pub const USAGE: &str = "\
llm-xray: watch a GPT-2- or Llama-family model think

USAGE:
  llm-xray trace     --model M (--prompt TEXT | --ids 3,17,5) [--parts all|LIST] [--positions all|last|LIST]
                     [--ablate L.H,..]
  llm-xray generate  --model M --prompt TEXT --max-tokens N [--temperature T] [--top-k K]
                     [--top-p P] [--seed S] [--json] [--ablate L.H,..] [--ignore-eos]
  llm-xray lens      --model M (--prompt TEXT | --ids ..) [--top K] [--target ID] [--json] [--ablate L.H,..]
  llm-xray attribute --model M (--prompt TEXT | --ids ..) [--token ID] [--position P] [--json]
  llm-xray tokenize  --model M --prompt TEXT
  llm-xray heads     --model M [--text FILE] [--json]
  llm-xray contrast  --model M --a TEXT --b TEXT --token WORD [--json]
  llm-xray info      --model M
  llm-xray compare   A.json B.json [--tolerance 1e-4]
  llm-xray bench     --model M [--backend cpu|gpu|auto|all] [--tokens 16,64,128] [--repeat N] [--kernels] [--f32]
  llm-xray bench     --train [--model DIR | --init layers=L,heads=H,width=W,context=C]
                     [--batches FILE.json | --batch B --seq T] [--steps N]
  llm-xray train     (--model DIR | --init layers=L,heads=H,width=W,context=C [--seed S])
                     (--batches FILE.json | --task induction|text --steps N [--batch B] [--seq T] [--text FILE])
                     [--lr 3e-3] [--weight-decay 0.1] [--beta1 0.9] [--beta2 0.95] [--eps 1e-8] [--grad-clip 1.0]
                     [--warmup N] [--decay-steps N] [--min-lr X] [--census N] [--until-induction 0.5]
                     [--out DIR2 [--force]]

Every command takes --backend cpu|gpu|auto (default cpu). --ablate replaces the output of
the listed heads (layers and heads counted from 1, as `heads` prints them) before the
attention output projection: by zeros, or with --ablate-mode mean by its mean over the
prompt. M is a folder holding config.json, model.safetensors and tokenizer.json (Hugging
Face GPT-2 or Llama family), or a .gguf file. `trace` prints one JSON object; README.md
describes its fields. `contrast` follows one word (its last token, at its first
occurrence) through two sentences: the cosine of its two vectors after the embedding and
after each layer. `compare` holds two traces (from `trace`, or the page's 'Download run
(JSON)') against each other, part by part. `train` trains a GPT-2 on the CPU (AdamW as
PyTorch's, weight decay on matrices and embeddings only, global-norm clipping), prints
`step K loss L ...` per step, and writes DIR2 as a Hugging Face GPT-2 folder (f32);
FILE.json is a list of batches, each a list of sequences of T+1 token ids.";

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
        "trace" if rest.iter().any(|a| a == "--help") => {
            run::print_parts();
            return ExitCode::SUCCESS;
        }
        "trace" => Args::parse(rest, &[], &opts(&["prompt", "ids", "parts", "positions", "ablate", "ablate-mode"])).and_then(|a| run::cmd_trace(&a)),
        "generate" => {
            Args::parse(rest, &["json", "ignore-eos"], &opts(&["prompt", "max-tokens", "temperature", "top-k", "top-p", "seed", "ablate", "ablate-mode"]))
                .and_then(|a| run::cmd_generate(&a))
        }
        "lens" => Args::parse(rest, &["json"], &opts(&["prompt", "ids", "top", "target", "ablate", "ablate-mode"])).and_then(|a| why::cmd_lens(&a)),
        "attribute" => Args::parse(rest, &["json"], &opts(&["prompt", "ids", "token", "position"])).and_then(|a| why::cmd_attribute(&a)),
        "tokenize" => Args::parse(rest, &[], &opts(&["prompt"])).and_then(|a| run::cmd_tokenize(&a)),
        "bench" if rest.iter().any(|a| a == "--train") => {
            Args::parse(rest, &["train"], &opts(&["init", "batches", "batch", "seq", "steps", "seed"])).and_then(|a| bench_train::cmd_bench_train(&a))
        }
        "bench" => Args::parse(rest, &["kernels", "f32"], &opts(&["tokens", "repeat"])).and_then(|a| bench::cmd_bench(&a)),
        "heads" => Args::parse(rest, &["json"], &opts(&["text"])).and_then(|a| why::cmd_heads(&a)),
        "contrast" => Args::parse(rest, &["json"], &opts(&["a", "b", "token"])).and_then(|a| why::cmd_contrast(&a)),
        "info" => Args::parse(rest, &[], &opts(&[])).and_then(|a| run::cmd_info(&a)),
        "train" => Args::parse(rest, train::FLAGS, train::OPTIONS).and_then(|a| train::cmd_train(&a)),
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
            Args::parse(&flags, &[], &["tolerance"]).and_then(|a| why::cmd_compare(&files, &a))
        }
        "help" | "--help" | "-h" => {
            outln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(cli::usage(format!("unknown command \"{other}\""))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}
