// y[i, j] += bias[j] over rows of width n: a linear layer's bias, added after its matmul
// as the CPU reference adds it (so the matmul kernels need no bias binding).
struct Params { len: u32, n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    if (idx >= p.len) { return; }
    y[idx] = y[idx] + bias[idx % p.n];
}
