// The MLP nonlinearity, elementwise. kind 0: GPT-2's gelu_new (tanh form), kind 1: relu.
struct P { n: u32, kind: u32, _b: u32, _c: u32, _d: u32, _e: u32, _f: u32, _g: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.n) { return; }
    let v = x[idx];
    if (p.kind == 1u) {
        out[idx] = max(v, 0.0);
        return;
    }
    // Some drivers build tanh from exp and return NaN for large arguments; tanh is ±1 in
    // f32 well before |u| = 15, so clamping changes nothing else.
    let u = clamp(0.7978846 * (v + 0.044715 * v * v * v), -15.0, 15.0);
    out[idx] = 0.5 * v * (1.0 + tanh(u));
}
