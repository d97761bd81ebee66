use llm_xray::gpu::ops::Ops;
#[test]
fn profile() {
    let o = pollster::block_on(Ops::new()).unwrap();
    let mk = |n: usize| (0..n).map(|i| (i % 13) as f32 * 0.01).collect::<Vec<f32>>();
    for (m, k, n, tr) in [(16usize, 768usize, 2304usize, false), (1, 768, 2304, false), (16, 768, 3072, false), (16, 768, 50257, true), (1, 768, 50257, true), (64, 768, 2304, false)] {
        let (a, w) = (mk(m * k), mk(k * n));
        pollster::block_on(o.matmul(&a, m, k, &w, n, None, tr)).unwrap();
        let t = std::time::Instant::now();
        pollster::block_on(o.matmul(&a, m, k, &w, n, None, tr)).unwrap();
        let s = t.elapsed().as_secs_f64();
        eprintln!("matmul m={m} k={k} n={n} tr={tr}: {:.1} ms, {:.2} GFLOP/s", s * 1e3, 2.0 * (m * k * n) as f64 / s / 1e9);
    }
    let x = mk(16 * 50257);
    let t = std::time::Instant::now();
    pollster::block_on(o.softmax(&x, 50257)).unwrap();
    eprintln!("softmax 16x50257: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let x = mk(16 * 3072);
    let t = std::time::Instant::now();
    pollster::block_on(o.activation(&x, llm_xray::config::Activation::GeluNew)).unwrap();
    eprintln!("gelu 16x3072: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
