//! The Train stage's session (src/session/train.rs), natively: the loss falls over a few
//! chunks (toward ln 256, the recipe's alphabet, on this 400-token vocabulary), progress carries the census, pictures and probe attention the page draws, the
//! status line's head is the best of layer 2 and later, and bad settings (a model too big
//! for the tab, empty or too short text, an unknown task, a learning rate that blows up)
//! each give a message naming the numbers.

mod common;

use common::fixture;
use llm_xray::session::train::{best_head, defaults, Plan, TrainRun, TrainSettings};
use llm_xray::train::HeadScore;
use llm_xray::Model;

fn tokenizer() -> Vec<u8> {
    std::fs::read(fixture("tiny/tokenizer.json")).unwrap()
}

fn small(task: &str, text: &str) -> TrainSettings {
    TrainSettings { task: task.into(), text: text.into(), layers: 2, heads: 2, width: 32, context: 24, lr: 3e-3, batch: 8, seed: 3 }
}

#[test]
fn induction_run_learns_and_reports_what_the_page_draws() {
    let mut run = TrainRun::new(small("induction", ""), tokenizer()).unwrap();
    let first = run.advance(f64::INFINITY, 5, true).unwrap();
    assert_eq!(first.step, 5);
    assert_eq!(first.losses.len(), 5);
    let mut last = first.clone();
    for _ in 0..6 {
        last = run.advance(f64::INFINITY, 10, true).unwrap();
    }
    assert_eq!(last.step, 65);
    let (a, b) = (first.losses[0].loss, last.losses.iter().map(|p| p.loss).sum::<f64>() / last.losses.len() as f64);
    assert!(b < 0.95 * a, "the loss fell only from {a:.3} to {b:.3}");
    assert!(last.held_out.unwrap().is_finite());
    assert_eq!(last.census.len(), 4);
    let best = last.best.as_ref().unwrap();
    assert_eq!(best.layer, 2, "the status line names a head of layer 2 or later");
    assert_eq!(last.pictures.len(), 3);
    for p in &last.pictures {
        assert_eq!(p.data.len(), p.rows * p.cols, "{}", p.title);
        assert!(p.update > 0.0 && p.norm > 0.0, "{}: the last update of {} is measured", p.title, p.tensor);
    }
    // Every head's attention on the probe: rows sum to 1, nothing after the query.
    let t = last.probe_ids.len();
    assert_eq!((last.probe.len(), last.probe[0].len(), last.probe[0][0].len()), (2, 2, t * t));
    for row in 0..t {
        let r = &last.probe[1][0][row * t..(row + 1) * t];
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!(r[row + 1..].iter().all(|&p| p == 0.0));
    }
    assert_eq!(last.tokens, 65 * 8 * 24);
    // A chunk not measured carries the losses alone.
    let quick = run.advance(f64::INFINITY, 2, false).unwrap();
    assert_eq!((quick.step, quick.losses.len(), quick.measured), (67, 2, false));
    assert!(quick.census.is_empty() && quick.pictures.is_empty() && quick.held_out.is_none() && quick.probe.is_empty());
    // The trained model opens in the engine, and its Hugging Face folder opens as a model.
    let model = run.to_model().unwrap();
    let files = run.hf_files().unwrap();
    let get = |n: &str| files.iter().find(|(f, _)| *f == n).unwrap().1.clone();
    let reopened = Model::from_bytes(&get("config.json"), &get("model.safetensors"), &get("tokenizer.json")).unwrap();
    assert_eq!(reopened.weights.wte.to_f32(), model.weights.wte.to_f32());
}

#[test]
fn text_task_trains_on_pasted_text() {
    let text = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune. ".repeat(12);
    let mut run = TrainRun::new(small("text", &text), tokenizer()).unwrap();
    let p = run.advance(f64::INFINITY, 3, true).unwrap();
    assert_eq!(p.step, 3);
    assert!(p.held_out.unwrap().is_finite());
    assert!(p.pictures[2].rows > 1, "embedding rows of the text's tokens");
}

fn message(r: Result<TrainRun, llm_xray::Error>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.message(),
    }
}

#[test]
fn bad_settings_are_refused_with_the_numbers() {
    let e = message(TrainRun::new(small("text", "  \n"), tokenizer()));
    assert!(e.contains("pasted text is empty"), "{e}");
    let e = message(TrainRun::new(small("text", "a few words only"), tokenizer()));
    assert!(e.contains("tokens; a context of 24 needs at least"), "{e}");
    let e = message(TrainRun::new(small("poetry", ""), tokenizer()));
    assert!(e.contains("unknown task \"poetry\""), "{e}");
    let big = TrainSettings { layers: 48, width: 2048, heads: 16, context: 1024, ..small("induction", "") };
    let plan = Plan::of(&big, 400).unwrap();
    assert!(plan.parameters > 2_000_000_000 && plan.refusal.is_some());
    let e = message(TrainRun::new(big, tokenizer()));
    assert!(e.contains("too big to train in the tab") && e.contains("learned parameters"), "{e}");
    let e = message(TrainRun::new(TrainSettings { width: 30, heads: 4, ..small("induction", "") }, tokenizer()));
    assert!(e.contains("does not split into 4 heads"), "{e}");
}

#[test]
fn a_diverging_run_stops_with_a_message() {
    let mut run = TrainRun::new(TrainSettings { lr: 1e30, ..small("induction", "") }, tokenizer()).unwrap();
    let e = (0..50).find_map(|_| run.advance(f64::INFINITY, 5, true).err()).expect("a learning rate of 1e30 diverges");
    assert!(e.message().contains("training diverged"), "{}", e.message());
}

#[test]
fn defaults_come_from_the_recipe_and_the_count_from_the_layout() {
    let d = defaults(400).unwrap();
    let (h, _) = llm_xray::train::recipe::induction(400, 1).unwrap();
    assert_eq!((d.layers, d.heads, d.width, d.batch, d.lr), (h.model.layers, h.model.heads, h.model.width, h.batch, h.schedule.lr));
    let p = Plan::of(&d, 400).unwrap();
    let (v, c, w, l) = (400, d.context, d.width, d.layers);
    // GPT-2 with tied embeddings: wte, wpe, per layer 12·w² + 13·w, the final norm.
    assert_eq!(p.parameters, v * w + c * w + l * (12 * w * w + 13 * w) + 2 * w);
    assert!(p.refusal.is_none());
}

#[test]
fn best_head_skips_layer_one() {
    let h = |layer, head, induction| HeadScore { layer, head, previous_token: 0.0, induction };
    let census = [h(1, 1, 0.9), h(2, 1, 0.2), h(2, 2, 0.6), h(3, 1, 0.4)];
    let b = best_head(&census).unwrap();
    assert_eq!((b.layer, b.head), (2, 2));
    assert!(best_head(&census[..1]).is_none());
}
