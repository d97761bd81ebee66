//! The op registry. An op is one module here with its WGSL file(s) beside it: the
//! module holds the `#[repr(C)]` `Params` struct (the WGSL `Params`, field for field),
//! the kernel statics (file, entry point, bindings) and a launcher taking the params and
//! the buffers in binding order, which works out how much of each buffer the kernel
//! touches (checked once, by the recorder) and the workgroup grid. Composite ops
//! (`linear`, `attention`) launch other ops' kernels and have no WGSL of their own.
//!
//! Adding an op: `<op>.wgsl`, `<op>.rs`, and one line in `registry!` below. The unit test
//! at the end of this file holds every kernel's declared params and bindings against its
//! shader's text.

/// The op's parameters: a `#[repr(C)]` Pod struct named `Params`, in the order and with
/// the types (u32 or f32) of the WGSL `Params` struct of its kernels, plus `FIELDS`, the
/// same list as text for the kernel statics (and the test that compares it with the WGSL).
macro_rules! params {
    ($(#[$doc:meta])* $($field:ident: $ty:ident),* $(,)?) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct Params {
            $(pub $field: $ty),*
        }

        impl Params {
            pub(crate) const FIELDS: &'static [(&'static str, &'static str)] = &[$((stringify!($field), stringify!($ty))),*];
        }
    };
}

/// Declares each op module and lists its kernels in [`ALL`], the order the pipelines are
/// compiled in.
macro_rules! registry {
    ($($op:ident: [$($kernel:ident),*],)*) => {
        $(pub(crate) mod $op;)*

        /// Every kernel of every op.
        pub(crate) static ALL: &[&Kernel] = &[$($(&$op::$kernel,)*)*];
    };
}

use super::recorder::Kernel;

registry! {
    embed: [EMBED],
    add: [ADD],
    scale: [SCALE],
    bias: [BIAS],
    norm: [LAYER_NORM, RMS_NORM],
    activation: [ACTIVATION, GATED],
    matmul: [MATMUL, MATMUL_ROWS],
    qmatmul: [QMATMUL, QMATMUL_ROWS],
    qembed: [QEMBED],
    split_qkv: [SPLIT_QKV],
    rope: [ROPE],
    kv_append: [KV_APPEND],
    attn_scores: [ATTN_SCORES],
    softmax: [SOFTMAX],
    attn_values: [ATTN_VALUES],
    head_mask: [HEAD_MASK],
    linear: [],
    attention: [],
}

/// A size or index as the kernels' parameters hold it.
pub(crate) fn u(x: usize) -> u32 {
    x as u32
}

#[cfg(test)]
mod tests {
    use super::ALL;

    /// `struct Params { a: u32, b: f32 }` of a WGSL source, as (name, type) pairs.
    fn wgsl_params(src: &str) -> Vec<(String, String)> {
        let start = src.find("struct Params {").expect("a struct Params") + "struct Params {".len();
        let body = &src[start..start + src[start..].find('}').expect("Params closes")];
        body.split(',')
            .filter(|f| !f.trim().is_empty())
            .map(|f| {
                let (name, ty) = f.split_once(':').expect("name: type");
                (name.trim().to_string(), ty.trim().to_string())
            })
            .collect()
    }

    /// Every `@group(0) @binding(N) var<…> name` of a WGSL source, as (N, address space, name).
    fn wgsl_bindings(src: &str) -> Vec<(u32, String, String)> {
        let mut out = Vec::new();
        for line in src.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("@group(0) @binding(") else {
                continue;
            };
            let (n, rest) = rest.split_once(')').expect("binding number closes");
            let rest = rest.trim().strip_prefix("var<").expect("a var after the binding");
            let (space, rest) = rest.split_once('>').expect("address space closes");
            let name = rest.split_once(':').expect("name: type").0.trim();
            out.push((n.parse().expect("a binding number"), space.to_string(), name.to_string()));
        }
        out.sort();
        out
    }

    #[test]
    fn every_kernel_matches_its_shader() {
        for k in ALL {
            let what = format!("{} ({} {})", k.name, k.file, k.entry);
            assert!(k.source.contains(&format!("fn {}(", k.entry)), "{what}: no such entry point");
            let fields: Vec<(String, String)> = k.params.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
            assert_eq!(fields, wgsl_params(k.source), "{what}: Rust Params and WGSL Params differ");
            let bindings = wgsl_bindings(k.source);
            assert_eq!(bindings.first().map(|b| (b.0, &b.1[..], &b.2[..])), Some((0, "uniform", "p")), "{what}: binding 0 is the params");
            let storage: Vec<(u32, &str)> = bindings[1..].iter().map(|b| (b.0, &b.2[..])).collect();
            let declared: Vec<(u32, &str)> = k.bindings.iter().enumerate().map(|(i, b)| (i as u32 + 1, *b)).collect();
            assert_eq!(&storage[..declared.len().min(storage.len())], &declared[..], "{what}: bindings 1.. differ from the shader's");
            let body = entry_body(k.source, k.entry);
            for (_, name) in &storage[declared.len()..] {
                assert!(!indexes(body, name), "{what}: the entry point reads {name}, which the kernel does not bind");
            }
        }
    }

    /// The text of `fn entry(…) { … }`, braces matched.
    fn entry_body<'s>(src: &'s str, entry: &str) -> &'s str {
        let at = src.find(&format!("fn {entry}(")).expect("the entry point");
        let open = at + src[at..].find('{').expect("a body");
        let mut depth = 0;
        for (i, c) in src[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 1 => return &src[open..=open + i],
                '}' => depth -= 1,
                _ => {}
            }
        }
        panic!("the body of {entry} does not close")
    }

    /// Whether `body` indexes the array `name` (`name[`, not as the end of a longer name).
    fn indexes(body: &str, name: &str) -> bool {
        body.match_indices(&format!("{name}[")).any(|(i, _)| !body[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    }

    #[test]
    fn kernel_names_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(ALL[..i].iter().all(|b| b.name != a.name), "two kernels are named {}", a.name);
        }
    }
}
