//! Every op's backward against PyTorch autograd (tests/fixtures/train/ops.json, float64 on
//! f32-representable inputs; made by tests/fixtures/train/make_train_fixtures.py): the plain
//! reference functions of `cpu::ops` and the fast kernels of `cpu::fast::backward` alike.

mod common;

use common::{assert_close_scaled, flatten, read_json};
use llm_xray::config::Activation;
use llm_xray::cpu::fast::backward as fast;
use llm_xray::cpu::ops;
use llm_xray::matrix::Matrix;
use llm_xray::weights::Linear;
use ndarray::{Array1, Array2};
use serde_json::Value;

fn case(name: &str) -> Value {
    read_json("train/ops.json")[name].clone()
}

fn mat(v: &Value) -> Array2<f32> {
    let rows = v.as_array().expect("rows").len();
    let data = flatten(v);
    Array2::from_shape_vec((rows, data.len() / rows), data).expect("rectangular")
}

fn vec1(v: &Value) -> Array1<f32> {
    Array1::from_vec(flatten(v))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().expect("ids").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

fn flat(a: &Array2<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

const TOL: f32 = 2e-6;

#[test]
fn embedding_backward_adds_each_read() {
    let c = case("embedding");
    let (table, rows, dy) = (mat(&c["table"]), ids(&c["rows"]), mat(&c["dy"]));
    let y = ops::embedding(&Matrix::F32(table.clone()), rows.iter().map(|&r| r as usize));
    assert_close_scaled(&flat(&y), &flatten(&c["y"]), TOL, "embedding forward");
    let d = ops::embedding_backward(&dy, rows.iter().map(|&r| r as usize), table.nrows());
    assert_close_scaled(&flat(&d), &flatten(&c["dtable"]), TOL, "embedding backward");
}

#[test]
fn layer_norm_backward_matches_pytorch() {
    let c = case("layer_norm");
    let (x, g, b, dy) = (mat(&c["x"]), vec1(&c["g"]), vec1(&c["b"]), mat(&c["dy"]));
    let eps = c["eps"].as_f64().unwrap() as f32;
    let y = ops::layer_norm(&x, &g, &b, eps);
    assert_close_scaled(&flat(&y), &flatten(&c["y"]), 1e-5, "layer norm forward");
    let (dx, dg, db) = ops::layer_norm_backward(&x, &g, eps, &dy);
    assert_close_scaled(&flat(&dx), &flatten(&c["dx"]), 1e-5, "reference dx");
    assert_close_scaled(&dg.to_vec(), &flatten(&c["dg"]), TOL, "reference dg");
    assert_close_scaled(&db.to_vec(), &flatten(&c["db"]), TOL, "reference db");

    // The fast kernels: forward keeping the statistics, backward adding to its outputs.
    let (n, d) = x.dim();
    let (mut yf, mut mean, mut rstd) = (Array2::zeros((n, d)), vec![0.0; n], vec![0.0; n]);
    fast::layer_norm_forward(x.view(), g.as_slice().unwrap(), b.as_slice().unwrap(), eps, yf.view_mut(), &mut mean, &mut rstd);
    assert_close_scaled(&flat(&yf), &flatten(&c["y"]), 1e-5, "fast layer norm forward");
    let mut dxf = Array2::from_elem((n, d), 1.0f32);
    let (mut dgf, mut dbf) = (vec![0.5f32; d], vec![0.25f32; d]);
    fast::layer_norm_backward(x.view(), g.as_slice().unwrap(), &mean, &rstd, dy.view(), dxf.view_mut(), &mut dgf, &mut dbf);
    let want_dx: Vec<f32> = flatten(&c["dx"]).iter().map(|v| v + 1.0).collect();
    assert_close_scaled(&flat(&dxf), &want_dx, 1e-5, "fast dx (added)");
    let want_dg: Vec<f32> = flatten(&c["dg"]).iter().map(|v| v + 0.5).collect();
    let want_db: Vec<f32> = flatten(&c["db"]).iter().map(|v| v + 0.25).collect();
    assert_close_scaled(&dgf, &want_dg, TOL, "fast dg (added)");
    assert_close_scaled(&dbf, &want_db, TOL, "fast db (added)");
}

#[test]
fn linear_backward_matches_pytorch() {
    let c = case("linear");
    let (x, w, b, dy) = (mat(&c["x"]), mat(&c["w"]), vec1(&c["b"]), mat(&c["dy"]));
    let l = Linear { w: Matrix::F32(w.clone()), b: Some(b.clone()) };
    assert_close_scaled(&flat(&ops::linear(&x, &l)), &flatten(&c["y"]), TOL, "linear forward");
    let g = ops::linear_backward(&x, &l, &dy);
    assert_close_scaled(&flat(&g.dx), &flatten(&c["dx"]), TOL, "reference dx");
    assert_close_scaled(&flat(&g.dw), &flatten(&c["dw"]), TOL, "reference dw");
    assert_close_scaled(&g.db.unwrap().to_vec(), &flatten(&c["db"]), TOL, "reference db");

    let mut dx = Array2::from_elem(x.raw_dim(), f32::NAN);
    let mut dw = Array2::from_elem(w.raw_dim(), 1.0f32);
    let mut db = vec![2.0f32; b.len()];
    fast::linear_backward(x.view(), w.view(), dy.view(), Some(dx.view_mut()), dw.view_mut(), Some(&mut db));
    assert_close_scaled(&flat(&dx), &flatten(&c["dx"]), TOL, "fast dx (written)");
    let want_dw: Vec<f32> = flatten(&c["dw"]).iter().map(|v| v + 1.0).collect();
    let want_db: Vec<f32> = flatten(&c["db"]).iter().map(|v| v + 2.0).collect();
    assert_close_scaled(&flat(&dw), &want_dw, TOL, "fast dw (added)");
    assert_close_scaled(&db, &want_db, TOL, "fast db (added)");
}

#[test]
fn attention_backward_matches_pytorch() {
    for name in ["attention", "attention_gqa"] {
        let c = case(name);
        let (q, k, v, dy) = (mat(&c["q"]), mat(&c["k"]), mat(&c["v"]), mat(&c["dy"]));
        let (h, hkv) = (c["n_head"].as_u64().unwrap() as usize, c["n_kv_head"].as_u64().unwrap() as usize);
        let out = ops::attention(q.view(), k.view(), v.view(), 0, h, hkv, (false, true));
        assert_close_scaled(&flat(&out.heads), &flatten(&c["y"]), TOL, &format!("{name} forward"));
        let g = ops::attention_backward(q.view(), k.view(), v.view(), &out.probs, dy.view(), h, hkv);
        assert_close_scaled(&flat(&g.dq), &flatten(&c["dq"]), 1e-5, &format!("{name} reference dq"));
        assert_close_scaled(&flat(&g.dk), &flatten(&c["dk"]), 1e-5, &format!("{name} reference dk"));
        assert_close_scaled(&flat(&g.dv), &flatten(&c["dv"]), 1e-5, &format!("{name} reference dv"));
        if h != hkv {
            continue; // the fast kernels serve GPT-2: one key/value head per query head
        }
        let t = q.nrows();
        let (mut o, mut probs) = (Array2::zeros(q.raw_dim()), vec![0.0; h * t * t]);
        fast::attention_forward(q.view(), k.view(), v.view(), h, o.view_mut(), &mut probs);
        assert_close_scaled(&flat(&o), &flatten(&c["y"]), TOL, "fast attention forward");
        assert_close_scaled(&probs, &out.probs, TOL, "fast attention probabilities");
        let (mut dq, mut dk, mut dv) = (Array2::zeros(q.raw_dim()), Array2::zeros(k.raw_dim()), Array2::zeros(v.raw_dim()));
        fast::attention_backward(
            q.view(),
            k.view(),
            v.view(),
            &probs,
            dy.view(),
            h,
            dq.view_mut(),
            dk.view_mut(),
            dv.view_mut(),
            &mut fast::AttentionScratch::new(t),
        );
        assert_close_scaled(&flat(&dq), &flatten(&c["dq"]), 1e-5, "fast dq");
        assert_close_scaled(&flat(&dk), &flatten(&c["dk"]), 1e-5, "fast dk");
        assert_close_scaled(&flat(&dv), &flatten(&c["dv"]), 1e-5, "fast dv");
    }
}

#[test]
fn activation_backward_matches_pytorch() {
    for (name, a) in [("gelu_new", Activation::GeluNew), ("relu", Activation::Relu), ("silu", Activation::Silu)] {
        let c = case(name);
        let (x, dy) = (flatten(&c["x"]), flatten(&c["dy"]));
        let y: Vec<f32> = x.iter().map(|&v| ops::activate(a, v)).collect();
        assert_close_scaled(&y, &flatten(&c["y"]), TOL, &format!("{name} forward"));
        let dx: Vec<f32> = x.iter().zip(&dy).map(|(&x, &d)| ops::activate_backward(a, x, d)).collect();
        assert_close_scaled(&dx, &flatten(&c["dx"]), TOL, &format!("{name} reference backward"));
        let mut dxf = vec![0.0; x.len()];
        fast::activation_backward(a, &x, &dy, &mut dxf);
        assert_close_scaled(&dxf, &flatten(&c["dx"]), 1e-5, &format!("{name} fast backward"));
    }
    let c = case("gelu_new");
    let (x, dy) = (flatten(&c["x"]), flatten(&c["dy"]));
    let dx: Vec<f32> = x.iter().zip(&dy).map(|(&x, &d)| ops::gelu_new_backward(x, d)).collect();
    assert_close_scaled(&dx, &flatten(&c["dx"]), TOL, "gelu_new_backward");
}

#[test]
fn softmax_backward_matches_pytorch() {
    let c = case("softmax");
    let (x, dy) = (mat(&c["x"]), mat(&c["dy"]));
    let mut got = Vec::new();
    for (r, d) in x.rows().into_iter().zip(dy.rows()) {
        let mut p = r.to_vec();
        ops::softmax(&mut p);
        got.extend(ops::softmax_backward(&p, d.as_slice().unwrap()));
    }
    assert_close_scaled(&got, &flatten(&c["dx"]), TOL, "softmax backward");
}

#[test]
fn residual_add_backward_passes_the_gradient_to_both() {
    let c = case("residual_add");
    let (x, y, dy) = (mat(&c["x"]), mat(&c["y_in"]), mat(&c["dy"]));
    assert_close_scaled(&flat(&ops::residual_add(&x, &y)), &flatten(&c["y"]), TOL, "residual add forward");
    let (dx, dyin) = ops::residual_add_backward(&dy);
    assert_close_scaled(&flat(&dx), &flatten(&c["dx"]), TOL, "residual add dx");
    assert_close_scaled(&flat(&dyin), &flatten(&c["dy_in"]), TOL, "residual add dy");
}

#[test]
fn unembed_backward_matches_pytorch() {
    let c = case("unembed");
    let (x, u, dy) = (mat(&c["x"]), mat(&c["u"]), mat(&c["dy"]));
    assert_close_scaled(&flat(&ops::unembed(x.view(), &Matrix::F32(u.clone()))), &flatten(&c["y"]), TOL, "unembed forward");
    let (dx, du) = ops::unembed_backward(x.view(), &u, dy.view());
    assert_close_scaled(&flat(&dx), &flatten(&c["dx"]), TOL, "unembed dx");
    assert_close_scaled(&flat(&du), &flatten(&c["du"]), TOL, "unembed dU");
}

#[test]
fn cross_entropy_backward_matches_pytorch() {
    let c = case("cross_entropy");
    let (logits, targets) = (mat(&c["logits"]), ids(&c["targets"]));
    let want = c["loss"].as_f64().unwrap();
    let loss = ops::cross_entropy(logits.view(), &targets);
    assert!(((loss as f64 - want) / want).abs() < 1e-6, "reference loss {loss} vs {want}");
    let d = ops::cross_entropy_backward(logits.view(), &targets);
    assert_close_scaled(&flat(&d), &flatten(&c["dlogits"]), TOL, "reference dlogits");
    let mut fused = logits.clone();
    let fast_loss = fast::cross_entropy_in_place(fused.view_mut(), &targets, 1.0 / targets.len() as f32) / targets.len() as f64;
    assert!(((fast_loss - want) / want).abs() < 1e-6, "fast loss {fast_loss} vs {want}");
    assert_close_scaled(&flat(&fused), &flatten(&c["dlogits"]), TOL, "fast dlogits");
}
