//! The tour's two instruments. "The same word in two sentences" (`contrast`) against
//! Hugging Face `transformers` (tests/fixtures/contrast/reference.json, written by
//! make_contrast_reference.py with forward hooks on every block), through the library and
//! the CLI, on the default model and a tiny Llama. "The batched matrix": one head's X · W_Q
//! equals the queries the forward pass computed.

mod common;
use common::*;
use llm_xray::batched::batched_query;
use llm_xray::contrast::{contrast, locate};
use llm_xray::{Engine, Model, Part, Parts};
use pollster::block_on;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

const CLI: &str = env!("CARGO_BIN_EXE_llm-xray");
const TOLERANCE: f32 = 1e-4;

fn root(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn numbers(v: &Value) -> Vec<f32> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number") as f32).collect()
}

fn cases() -> Vec<Value> {
    read_json("contrast/reference.json")["cases"].as_array().expect("cases").clone()
}

#[test]
fn contrast_equals_transformers_hidden_states() {
    let mut models: HashMap<String, Arc<Model>> = HashMap::new();
    let cases = cases();
    assert!(cases.len() >= 8, "the reference holds {} cases", cases.len());
    for case in cases {
        let folder = case["model"].as_str().unwrap();
        let model = models.entry(folder.to_string()).or_insert_with(|| Arc::new(Model::load(&root(folder)).expect(folder))).clone();
        let (a, b, word) = (case["a"].as_str().unwrap(), case["b"].as_str().unwrap(), case["word"].as_str().unwrap());
        let what = format!("{folder}: {word:?} in {a:?} / {b:?}");
        let (ids_a, pa) = locate(&model, a, word, "A").unwrap();
        let (ids_b, pb) = locate(&model, b, word, "B").unwrap();
        assert_eq!((ids_a, ids_b), (ids_of(&case["ids_a"]), ids_of(&case["ids_b"])), "{what}: token ids");
        assert_eq!((pa, pb), (case["position_a"].as_u64().unwrap() as usize, case["position_b"].as_u64().unwrap() as usize), "{what}: positions");
        let mut e = Engine::cpu(model.clone());
        let c = block_on(contrast(&mut e, [a, b], word, [None, None], true)).unwrap();
        assert_eq!(c.cosine.len(), model.config.n_layer + 1, "{what}: one cosine per depth");
        assert_close_abs(&c.cosine, &numbers(&case["cosine"]), TOLERANCE, &format!("{what}: cosine"));
        assert_close_abs(&c.centred, &numbers(&case["centred"]), TOLERANCE, &format!("{what}: centred cosine"));
        let vectors = c.vectors.as_ref().unwrap();
        assert_eq!(vectors.len(), c.cosine.len());
        assert!(vectors.iter().all(|[x, y]| x.len() == model.config.n_embd && y.len() == model.config.n_embd));
    }
}

#[test]
fn cli_contrast_prints_the_same_cosines_as_json() {
    for case in cases() {
        let dir = root(case["model"].as_str().unwrap());
        let args = [
            "contrast",
            "--model",
            dir.to_str().unwrap(),
            "--a",
            case["a"].as_str().unwrap(),
            "--b",
            case["b"].as_str().unwrap(),
            "--token",
            case["word"].as_str().unwrap(),
            "--json",
        ];
        let out = Command::new(CLI).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_close_abs(&numbers(&v["cosine"]), &numbers(&case["cosine"]), TOLERANCE, &format!("CLI {args:?}"));
        assert_eq!(v["a"]["position"], case["position_a"]);
        assert_eq!(v["b"]["position"], case["position_b"]);
        assert!(v.get("vectors").is_none(), "the CLI's JSON leaves the vectors out");
    }
}

#[test]
fn contrast_refuses_a_word_that_is_not_there() {
    let dir = root("www/models/shakespeare");
    let out =
        Command::new(CLI).args(["contrast", "--model", dir.to_str().unwrap(), "--a", "the dog barked", "--b", "a cat sat", "--token", "dog"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("\"dog\" does not occur in sentence B") && err.contains("a cat sat"), "{err}");
    let out = Command::new(CLI).args(["contrast", "--model", dir.to_str().unwrap(), "--a", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a missing --b is a usage error");
}

#[test]
fn batched_query_equals_the_runs_queries() {
    for name in ["tiny-hf", "tiny-llama", "tiny-qwen2"] {
        let model = load(name);
        let cfg = &model.config;
        let ids: Vec<u32> = model.encode_prompt("To the caf\u{e9}, 3 men!").unwrap();
        let mut e = Engine::cpu(model.clone());
        let tr = block_on(e.trace(&ids, Parts::of(&[Part::TokEmb, Part::PosEmb, Part::Ln1, Part::Q, Part::ResidPost]))).unwrap();
        let t = ids.len();
        for l in 0..cfg.n_layer {
            let ln1 = t_of(&tr, l, Part::Ln1);
            let q = t_of(&tr, l, Part::Q);
            for h in 0..cfg.n_head {
                let m = batched_query(&model, &tr, l, h, t).unwrap();
                let what = format!("{name} layer {} head {}", l + 1, h + 1);
                assert_eq!((m.tokens, m.d, m.head_dim), (t, cfg.n_embd, cfg.head_dim), "{what}: shapes");
                assert_eq!((m.x.len(), m.w.len(), m.q.len()), (t * cfg.n_embd, cfg.n_embd * cfg.head_dim, t * cfg.head_dim), "{what}: sizes");
                assert_close_scaled(&m.x, &ln1.data, 1e-5, &format!("{what}: X is the run's ln_1"));
                assert_close_scaled(&m.q, &q.data[h * t * cfg.head_dim..(h + 1) * t * cfg.head_dim], 1e-5, &format!("{what}: Q is the run's q"));
                assert!(m.repeats > 0 && m.product_ms.is_some_and(|ms| ms > 0.0), "{what}: the product was timed");
            }
        }
        // The first `at` tokens only: the history step on screen.
        let m = batched_query(&model, &tr, 0, 0, 3).unwrap();
        assert_eq!(m.tokens, 3);
        let q = t_of(&tr, 0, Part::Q);
        assert_close_scaled(&m.q, &q.data[..3 * cfg.head_dim], 1e-5, &format!("{name}: Q of the first 3 tokens"));
        assert!(batched_query(&model, &tr, cfg.n_layer, 0, t).is_err());
    }
}

fn t_of(tr: &llm_xray::Trace, l: usize, p: Part) -> &llm_xray::Tensor {
    t(tr.layer(l, p), p.name())
}
