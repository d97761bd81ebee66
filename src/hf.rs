//! A Hugging Face model folder: `config.json` read by the architecture's module, and
//! `model.safetensors` read through its tensor names onto the engine's layout. F32, F16 and
//! BF16 tensors are converted to f32, as both backends compute in f32.

use crate::arch::{self, at, TensorSource};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::quant::{self, GgmlType};
use crate::weights::{check_finite, Progress, Storage, Weights};
use safetensors::{Dtype, SafeTensors};

/// The learned parameters of `model.safetensors` for a model of `cfg`, and how they were stored.
pub fn load_weights(bytes: &[u8], cfg: &Config, progress: Progress) -> Result<(Weights, Storage)> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| {
        Error::Weights(format!("not a valid safetensors file ({e}); expected an 8-byte header length, a JSON header and the tensor data it describes"))
    })?;
    let storage = Storage::new("safetensors", st.tensors().into_iter().map(|(_, t)| format!("{:?}", t.dtype())));
    let names = arch::tensor_names(cfg.model_type);
    let file = File { st, prefixes: names.hf_prefixes };
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
    Ok((weights, storage))
}

struct File<'a> {
    st: SafeTensors<'a>,
    /// The model's prefixes, tried in order.
    prefixes: [&'static str; 2],
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
        // safetensors checked the data's length against shape and dtype, so this cannot fail;
        // it is reported all the same rather than trusted.
        let values = quant::dequantize(ty, t.data(), shape.iter().product())
            .map_err(|e| Error::Weights(format!("tensor \"{name}\": {}", e.to_string().trim_start_matches("GGUF: "))))?;
        check_finite(name, &values, Error::Weights)?;
        Ok(values)
    }
}
