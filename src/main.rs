//! `llm-xray`: the engine from the command line. Trace a prompt to JSON, generate,
//! tokenize, benchmark, inspect heads, and ask why (logit lens, head ablation, direct logit
//! attribution), without a browser.

mod cli;

use cli::{bench, run, why, Args};
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

Every command takes --backend cpu|gpu|auto (default cpu). --ablate replaces the output of
the listed heads (layers and heads counted from 1, as `heads` prints them) before the
attention output projection: by zeros, or with --ablate-mode mean by its mean over the
prompt. M is a folder holding config.json, model.safetensors and tokenizer.json (Hugging
Face GPT-2 or Llama family), or a .gguf file. `trace` prints one JSON object; README.md
describes its fields. `contrast` follows one word (its last token, at its first
occurrence) through two sentences: the cosine of its two vectors after the embedding and
after each layer. `compare` holds two traces (from `trace`, or the page's 'Download run
(JSON)') against each other, part by part.";

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
        "bench" => Args::parse(rest, &["kernels", "f32"], &opts(&["tokens", "repeat"])).and_then(|a| bench::cmd_bench(&a)),
        "heads" => Args::parse(rest, &["json"], &opts(&["text"])).and_then(|a| why::cmd_heads(&a)),
        "contrast" => Args::parse(rest, &["json"], &opts(&["a", "b", "token"])).and_then(|a| why::cmd_contrast(&a)),
        "info" => Args::parse(rest, &[], &opts(&[])).and_then(|a| run::cmd_info(&a)),
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
