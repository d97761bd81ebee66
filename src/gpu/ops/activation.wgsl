// The MLP's nonlinearity, elementwise. kind 0: GELU, tanh form (GPT-2's gelu_new);
// 1: ReLU; 2: SiLU. `main` applies it to x; `gated` computes act(x) · up, x being the
// gate (SwiGLU with SiLU). `up` binds last, so both entry points bind x and out at the
// same places.
struct Params { n: u32, kind: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

fn act(v: f32) -> f32 {
    if (p.kind == 1u) { return max(v, 0.0); }
    if (p.kind == 2u) { return v / (1.0 + exp(-v)); }
    // Some drivers build tanh from exp and return NaN for large arguments; tanh is ±1 in
    // f32 well before |u| = 15, so clamping changes nothing else.
    let u = clamp(0.7978846 * (v + 0.044715 * v * v * v), -15.0, 15.0);
    return 0.5 * v * (1.0 + tanh(u));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.n) { return; }
    out[idx] = act(x[idx]);
}

@compute @workgroup_size(256)
fn gated(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.n) { return; }
    out[idx] = act(x[idx]) * up[idx];
}
