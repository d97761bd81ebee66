//! Commands that run the model: `trace`, `generate`, `tokenize`, `info`.

use super::{ablate, backend, load_model, print_json, prompt_ids, usage, Args, Failure};
use llm_xray::backend::Stop;
use llm_xray::trace::{Positions, TraceJson};
use llm_xray::{generate, Parts, Sampling};
use pollster::block_on;
use serde::Serialize;

pub fn cmd_trace(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let ids = prompt_ids(args, &model)?;
    let parts = Parts::parse(args.get("parts").unwrap_or("all")).map_err(usage)?;
    let positions = Positions::parse(args.get("positions").unwrap_or("all")).map_err(|e| usage(format!("--positions: {e}")))?;
    if let Positions::List(ps) = &positions {
        if let Some(p) = ps.iter().find(|&&p| p >= ids.len()) {
            return Err(usage(format!("--positions: position {p} is past the prompt's {} tokens (positions count from 0)", ids.len())));
        }
    }
    let mut e = backend(args, model.clone())?;
    let ablated_heads = ablate(args, &mut e, &ids)?;
    let trace = block_on(e.trace_positions(&ids, parts, &positions))?;
    let backend = e.describe();
    print_json(&TraceJson { ablated_heads: ablated_heads.as_deref(), ..TraceJson::of(&model.config, &backend, &trace) })
}

/// `trace --help`: every part a trace can record, from the one table that describes them.
pub fn print_parts() {
    outln!("Parts of a trace (--parts takes a comma-separated list of these names, or all):\n");
    for p in llm_xray::trace::PARTS.iter() {
        let scope = if p.scope == llm_xray::trace::Scope::Layer { "per layer" } else { "global" };
        outln!("  {:<26} {:<9}  {}", p.name, scope, p.doc);
    }
    outln!("\n--positions all|last|LIST keeps the rows of those positions (counted from 0) in the parts laid out\none row per token; attention maps and per-head q, k, v stay whole.");
}

pub fn sampling(args: &Args) -> Result<Sampling, Failure> {
    let s = Sampling { temperature: args.num("temperature", 0.0)?, top_k: args.num("top-k", 0)?, top_p: args.num("top-p", 1.0)?, seed: args.num("seed", 0)? };
    s.check().map_err(|e| usage(format!("--{e}")))?;
    Ok(s)
}

pub fn cmd_generate(args: &Args) -> Result<(), Failure> {
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

pub fn cmd_tokenize(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let pieces = model.tokenizer.encode_prompt_pieces(args.need("prompt")?);
    let toks: Vec<llm_xray::trace::TokenInfo> = pieces
        .into_iter()
        .map(|p| llm_xray::trace::TokenInfo { id: p.id, text: String::from_utf8_lossy(&p.bytes).into_owned(), bytes: p.bytes, span: p.span })
        .collect();
    print_json(&toks)
}

pub fn cmd_info(args: &Args) -> Result<(), Failure> {
    print_json(&load_model(args)?.summary())
}
