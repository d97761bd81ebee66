//! Commands that ask why: `lens`, `attribute`, `heads`, `contrast` (one word in two
//! sentences), and `compare` (two traces, part by part).

use super::{ablate, backend, load_model, print_json, prompt_ids, usage, Args, Failure};
use llm_xray::contrast::contrast;
use llm_xray::heads::HeadScores;
use llm_xray::instruments::{attribute, attribution_parts, lens, lens_parts};
use llm_xray::Part;
use pollster::block_on;
use serde::Serialize;

pub fn cmd_lens(args: &Args) -> Result<(), Failure> {
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

pub fn cmd_attribute(args: &Args) -> Result<(), Failure> {
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

pub fn cmd_heads(args: &Args) -> Result<(), Failure> {
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
            s.layer,
            s.head,
            s.previous_token,
            s.induction_random,
            text,
            s.first_token,
            s.self_attention
        );
    }
    Ok(())
}

/// `contrast`: the word `--token` in sentences `--a` and `--b`, its vectors compared depth
/// by depth (cosine, raw and centred; see llm_xray::contrast).
pub fn cmd_contrast(args: &Args) -> Result<(), Failure> {
    let model = load_model(args)?;
    let (a, b, word) = (args.need("a")?, args.need("b")?, args.need("token")?);
    let mut e = backend(args, model)?;
    let c = block_on(contrast(&mut e, [a, b], word, [None, None], false))?;
    if args.flag("json") {
        return print_json(&c);
    }
    let label = |s: &llm_xray::contrast::Side| format!("{:?} at position {} of {:?}", s.tokens[s.position].text, s.position, s.text);
    outln!("{:?} in two sentences:\n  A: {}\n  B: {}", word, label(&c.a), label(&c.b));
    outln!("{:>16}  {:>7}  {:>8}  {:>9}  {:>9}", "depth", "cosine", "centred", "|A|", "|B|");
    for (k, depth) in c.depths.iter().enumerate() {
        outln!("{depth:>16}  {:>7.4}  {:>8.4}  {:>9.3}  {:>9.3}", c.cosine[k], c.centred[k], c.norms[k][0], c.norms[k][1]);
    }
    Ok(())
}

/// Every number of a JSON tree, in order; `null` (a masked score) as −∞.
pub fn numbers(v: &serde_json::Value, out: &mut Vec<f32>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Null => out.push(f32::NEG_INFINITY),
        x => out.push(x.as_f64().unwrap_or(f64::NAN) as f32),
    }
}

/// Compares two traces part by part: tokens must be identical; each part present in both is
/// within `tolerance` × the larger of 1 and B's largest |value| (attention probabilities:
/// `tolerance` / 10 absolute). Prints a row per part; fails if any part differs more.
pub fn cmd_compare(files: &[String], args: &Args) -> Result<(), Failure> {
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
        let diff = if p.len() != q.len() { f32::INFINITY } else { p.iter().zip(&q).map(|(a, b)| if a == b { 0.0 } else { (a - b).abs() }).fold(0.0, f32::max) };
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
