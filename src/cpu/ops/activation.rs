//! The MLP's nonlinearities.

use crate::config::Activation;

/// GPT-2's GELU, tanh form (HF `gelu_new`): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
pub fn gelu_new(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh())
}

/// x·sigmoid(x) (HF `silu`).
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

pub fn activate(a: Activation, x: f32) -> f32 {
    match a {
        Activation::GeluNew => gelu_new(x),
        Activation::Relu => x.max(0.0),
        Activation::Silu => silu(x),
    }
}

/// ∂gelu_new/∂x · dy: with t = tanh(u), u = √(2/π)·(x + 0.044715·x³),
/// d/dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²).
pub fn gelu_new_backward(x: f32, dy: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    let t = (C * (x + 0.044715 * x * x * x)).tanh();
    dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x))
}

/// ∂silu/∂x · dy = dy · σ(x)·(1 + x·(1 − σ(x))).
pub fn silu_backward(x: f32, dy: f32) -> f32 {
    let s = 1.0 / (1.0 + (-x).exp());
    dy * s * (1.0 + x * (1.0 - s))
}

/// The gradient of `activate(a, x)` with respect to x, times dy. ReLU's derivative at 0 is
/// taken as 0, as PyTorch takes it.
pub fn activate_backward(a: Activation, x: f32, dy: f32) -> f32 {
    match a {
        Activation::GeluNew => gelu_new_backward(x, dy),
        Activation::Relu => {
            if x > 0.0 {
                dy
            } else {
                0.0
            }
        }
        Activation::Silu => silu_backward(x, dy),
    }
}
