// Head ablation: in the heads' outputs z [T, H·hd], each head whose keep[h] is 0 has its
// slice replaced by replacement[h·hd ..] (zeros, or its mean over a prompt).
struct Params { t: u32, h: u32, hd: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keep: array<f32>;
@group(0) @binding(2) var<storage, read> replacement: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let idx = gid.x + gid.y * nw.x * 256u;
    let width = p.h * p.hd;
    if (idx >= p.t * width) { return; }
    let col = idx % width;
    if (keep[col / p.hd] == 0.0) { z[idx] = replacement[col]; }
}
