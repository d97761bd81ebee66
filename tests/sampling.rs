//! Sampling: greedy, temperature, top-k and top-p, reproducible from a seed.

use llm_xray::sampling::{argmax, Rng, Sampling};

const LOGITS: [f32; 6] = [1.0, 3.0, 2.0, 3.0, -1.0, 0.5];

#[test]
fn greedy_is_argmax_first_on_ties() {
    assert_eq!(argmax(&LOGITS), 1);
    let s = Sampling::default();
    assert_eq!(s.sample(&LOGITS, &mut Rng::new(0)), 1);
    assert_eq!(s.distribution(&LOGITS), vec![(1, 1.0)]);
}

#[test]
fn temperature_one_is_softmax() {
    let s = Sampling { temperature: 1.0, ..Default::default() };
    let d = s.distribution(&LOGITS);
    let z: f32 = LOGITS.iter().map(|l| l.exp()).sum();
    for (id, p) in &d {
        assert!((p - LOGITS[*id as usize].exp() / z).abs() < 1e-6);
    }
    assert_eq!(d.len(), 6);
    assert_eq!(d[0].0, 1, "ties keep the lower id first");
    assert_eq!(d[1].0, 3);
}

#[test]
fn top_k_and_top_p_cut_and_renormalise() {
    let k = Sampling { temperature: 1.0, top_k: 2, ..Default::default() }.distribution(&LOGITS);
    assert_eq!(k.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 3]);
    assert!((k[0].1 - 0.5).abs() < 1e-6);
    // p(1) = p(3) ≈ 0.39 each; top-p 0.5 needs both; 0.3 needs just the first.
    let p = Sampling { temperature: 1.0, top_p: 0.5, ..Default::default() }.distribution(&LOGITS);
    assert_eq!(p.len(), 2);
    let p = Sampling { temperature: 1.0, top_p: 0.3, ..Default::default() }.distribution(&LOGITS);
    assert_eq!(p, vec![(1, 1.0)]);
    let total: f32 = Sampling { temperature: 0.7, top_k: 4, top_p: 0.9, seed: 0 }.distribution(&LOGITS).iter().map(|d| d.1).sum();
    assert!((total - 1.0).abs() < 1e-5);
}

#[test]
fn low_temperature_sharpens_high_flattens() {
    let top = |t: f32| Sampling { temperature: t, ..Default::default() }.distribution(&LOGITS)[0].1;
    assert!(top(0.1) > top(1.0) && top(1.0) > top(10.0));
}

#[test]
fn seeded_sampling_is_reproducible_and_follows_the_distribution() {
    let s = Sampling { temperature: 1.0, top_k: 3, seed: 42, ..Default::default() };
    let draw = |seed| {
        let mut rng = Rng::new(seed);
        (0..2000).map(|_| s.sample(&LOGITS, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    let d = draw(7);
    assert!(d.iter().all(|&id| [1, 2, 3].contains(&id)), "top-k 3 allows only ids 1, 3, 2");
    let freq = d.iter().filter(|&&i| i == 2).count() as f32 / d.len() as f32;
    let expect = s.distribution(&LOGITS).iter().find(|x| x.0 == 2).unwrap().1;
    assert!((freq - expect).abs() < 0.04, "id 2 drawn {freq}, expected {expect}");
}
