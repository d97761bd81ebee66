//! A Hugging Face model folder: `config.json` read by the architecture's module, and
//! `model.safetensors` read through its tensor names onto the engine's layout. F16 and BF16
//! matrices are held as stored, in the file's bytes (the matmuls read 16-bit weights);
//! F32 ones, norms and biases as f32.

use crate::arch::{self, at, TensorSource};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};
use crate::weights::{check_finite, Bytes, Matrix, Progress, Storage, Weights};
use ndarray::Array2;
use safetensors::{Dtype, SafeTensors};
use std::sync::Arc;

/// The learned parameters of `model.safetensors` for a model of `cfg`, and how they were
/// stored and are held; 16-bit matrices go on reading `bytes`.
pub fn load_weights(bytes: Arc<Vec<u8>>, cfg: &Config, progress: Progress) -> Result<(Weights, Storage)> {
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::Weights(format!("not a valid safetensors file ({e}); expected an 8-byte header length, a JSON header and the tensor data it describes"))
    })?;
    let storage = Storage::new("safetensors", st.tensors().into_iter().map(|(_, t)| format!("{:?}", t.dtype())));
    let names = arch::tensor_names(cfg.model_type);
    let file = File { st, prefixes: names.hf_prefixes, bytes: &bytes };
    // A folder whose config and tensors disagree on the family fails on its first tensor
    // with a name that says why.
    if !file.has(&format!("{}.weight", file.name(&names.token_embedding, None))) {
        for (other, hint) in [(arch::gpt2::TENSORS, "GPT-2"), (arch::llama::TENSORS, "Llama")] {
            let probe = format!("{}.weight", other.token_embedding.hf);
            if other.hf_prefixes.iter().any(|p| file.st.tensor(&format!("{p}{probe}")).is_ok()) {
                return Err(Error::Weights(format!("holds {hint} tensor names ({probe}), but config.json describes a {:?} model", cfg.model_type)));
            }
        }
    }
    let weights = arch::load_weights(cfg, &file, arch::Format::HuggingFace, progress)?;
    let storage = storage.holding(&weights);
    Ok((weights, storage))
}

struct File<'a> {
    st: SafeTensors<'a>,
    /// The model's prefixes, tried in order.
    prefixes: [&'static str; 2],
    /// What `st` was read from.
    bytes: &'a Arc<Vec<u8>>,
}

impl<'a> File<'a> {
    fn find(&self, name: &str) -> Option<safetensors::tensor::TensorView<'a>> {
        // The unembedding (`lm_head`) sits outside the model's prefix.
        self.prefixes.iter().chain(&[""]).find_map(|p| self.st.tensor(&format!("{p}{name}")).ok())
    }
}

impl TensorSource for File<'_> {
    fn name(&self, names: &arch::Names, i: Option<usize>) -> String {
        at(names.hf, i)
    }

    fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn missing(&self, name: &str, shape: &[usize]) -> Error {
        Error::Weights(format!("tensor \"{name}\" (or \"{}{name}\") is missing; expected shape {shape:?}", self.prefixes[0]))
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (t, ty) = self.typed(name, shape)?;
        // safetensors checked the data's length against shape and dtype, so this cannot fail;
        // it is reported all the same rather than trusted.
        let values = quant::dequantize(ty, t.data(), shape.iter().product())
            .map_err(|e| Error::Weights(format!("tensor \"{name}\": {}", e.to_string().trim_start_matches("GGUF: "))))?;
        check_finite(name, &values, Error::Weights)?;
        Ok(values)
    }

    fn matrix(&self, name: &str, [rows, cols]: [usize; 2]) -> Result<Matrix> {
        let (t, ty) = self.typed(name, &[rows, cols])?;
        if ty == GgmlType::F32 {
            let v = self.read(name, &[rows, cols])?;
            return Ok(Matrix::F32(Array2::from_shape_vec((rows, cols), v).expect("length checked against shape")));
        }
        // The tensor's place in the file: its data is a slice of the bytes `st` was read from.
        let start = t.data().as_ptr() as usize - self.bytes.as_ptr() as usize;
        let bytes = Bytes::new(self.bytes.clone(), start..start + t.data().len());
        Matrix::blocks(name, ty, rows, cols, bytes, Error::Weights)
    }
}

impl<'a> File<'a> {
    /// Tensor `name`, checked to have `shape` and a dtype the engine reads, as the ggml type
    /// of the same encoding.
    fn typed(&self, name: &str, shape: &[usize]) -> Result<(safetensors::tensor::TensorView<'a>, GgmlType)> {
        let t = self.find(name).ok_or_else(|| self.missing(name, shape))?;
        if t.shape() != shape {
            return Err(Error::Weights(format!("tensor \"{name}\" has shape {:?}; expected {shape:?} from config.json", t.shape())));
        }
        let ty = match t.dtype() {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => return Err(Error::Weights(format!("tensor \"{name}\" has dtype {other:?}; expected F32, F16 or BF16"))),
        };
        Ok((t, ty))
    }
}
