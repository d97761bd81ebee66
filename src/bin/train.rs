fn main() { let _ = candle_core::Device::Cpu; let _ = candle_nn::ops::softmax_last_dim; }
