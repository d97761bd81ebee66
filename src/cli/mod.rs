//! The CLI's plumbing, shared by every command: parsing `--options`, errors for people
//! (`error:` lines, exit 1 for bad input and 2 for a malformed command line), loading the
//! model, choosing the backend, and writing to stdout (quietly ending when the reader
//! closes it).

use llm_xray::ablation::AblationMode;
use llm_xray::backend::prompt_ablation;
use llm_xray::{Ablation, Choice, Engine, Model};
use pollster::block_on;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// A plain error for people; the exit code says whether it was usage (2) or input (1).
pub struct Failure {
    pub msg: String,
    pub code: u8,
}

impl From<llm_xray::Error> for Failure {
    fn from(e: llm_xray::Error) -> Self {
        Failure { msg: e.to_string(), code: 1 }
    }
}

pub fn usage(msg: impl Into<String>) -> Failure {
    Failure { msg: format!("{}\n\n{}", msg.into(), crate::USAGE), code: 2 }
}

pub struct Args {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

impl Args {
    pub fn parse(raw: &[String], flags: &[&str], options: &[&str]) -> Result<Args, Failure> {
        let mut a = Args { values: HashMap::new(), flags: Vec::new() };
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            let name = arg.strip_prefix("--").ok_or_else(|| usage(format!("unexpected argument \"{arg}\"")))?;
            if flags.contains(&name) {
                a.flags.push(name.to_string());
            } else if options.contains(&name) {
                let v = it.next().ok_or_else(|| usage(format!("--{name} needs a value")))?;
                a.values.insert(name.to_string(), v.clone());
            } else {
                return Err(usage(format!("unknown option --{name}")));
            }
        }
        Ok(a)
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
    pub fn need(&self, name: &str) -> Result<&str, Failure> {
        self.get(name).ok_or_else(|| usage(format!("--{name} is required")))
    }
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, Failure> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| usage(format!("--{name} \"{v}\" is not a valid number"))),
        }
    }
    pub fn list(&self, name: &str, default: &str) -> Result<Vec<u32>, Failure> {
        let raw = self.get(name).unwrap_or(default);
        raw.split(',').map(|s| s.trim().parse::<u32>().map_err(|_| usage(format!("--{name}: \"{s}\" is not a non-negative integer")))).collect()
    }
}

pub fn load_model(args: &Args) -> Result<Arc<Model>, Failure> {
    Ok(Arc::new(Model::load(&PathBuf::from(args.need("model")?))?))
}

/// `gpu` insists on a GPU adapter (any, software included); `auto` takes the GPU only when
/// it is hardware. Either way a GPU that fails mid-way hands over to the CPU (backend.rs).
pub fn engine(name: &str, model: Arc<Model>) -> Result<Engine, Failure> {
    let choice =
        Choice::parse(name).filter(|_| name != "webgpu").ok_or_else(|| usage(format!("--backend \"{name}\" is not known; expected cpu, gpu or auto")))?;
    let e = block_on(Engine::new(model, choice, true));
    if choice == Choice::Gpu && e.info().kind != "gpu" {
        return Err(Failure { msg: format!("backend: {}", e.gpu_failure().unwrap_or(e.info().why.as_str())), code: 1 });
    }
    if choice == Choice::Auto && e.info().kind != "gpu" && e.gpu_failure().is_some() {
        eprintln!("note: {}", e.info().why);
    }
    Ok(e)
}

pub fn backend(args: &Args, model: Arc<Model>) -> Result<Engine, Failure> {
    let mut e = engine(args.get("backend").unwrap_or("cpu"), model)?;
    e.set_stderr_notices(true);
    Ok(e)
}

pub fn prompt_ids(args: &Args, model: &Model) -> Result<Vec<u32>, Failure> {
    match (args.get("prompt"), args.get("ids")) {
        (Some(text), None) => Ok(model.encode_prompt(text)?),
        (None, Some(_)) => {
            let ids = args.list("ids", "")?;
            model.check_ids(&ids, 0)?;
            Ok(ids)
        }
        _ => Err(usage("give exactly one of --prompt TEXT or --ids 3,17,5")),
    }
}

/// Applies `--ablate` (and `--ablate-mode`) to the engine for runs of `ids`.
pub fn ablate(args: &Args, e: &mut Engine, ids: &[u32]) -> Result<Option<Vec<(usize, usize)>>, Failure> {
    let Some(list) = args.get("ablate") else { return Ok(None) };
    let cfg = e.model().config.clone();
    let heads = Ablation::parse_heads(list, &cfg)?;
    let mode = args.get("ablate-mode").unwrap_or("zero");
    let mode = match AblationMode::parse(mode) {
        Some(m) => m,
        None => return Err(usage(format!("--ablate-mode \"{mode}\" is not known; expected zero or mean"))),
    };
    let a = match mode {
        // Zeros need no run of the prompt.
        AblationMode::Zero => Ablation::zero(&cfg, &heads),
        AblationMode::Mean => block_on(prompt_ablation(e, &heads, mode, ids))?.0,
    };
    e.set_ablation(a);
    Ok(Some(heads.iter().map(|(l, h)| (l + 1, h + 1)).collect()))
}

pub fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    let written = serde_json::to_writer(&mut w, v).map_err(std::io::Error::from).and_then(|_| writeln!(w)).and_then(|_| w.flush());
    written.or_else(|e| stdout_closed(&e)).map_err(|e| Failure { msg: format!("writing JSON to stdout: {e}"), code: 1 })
}

/// A reader that closed our stdout (`llm-xray heads | head`) has all it wanted: end quietly,
/// as Unix tools do, rather than panic or report an error.
pub fn stdout_closed(e: &std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(std::io::Error::new(e.kind(), e.to_string()))
}

/// Writes formatted text to stdout (see [`stdout_closed`]).
pub fn write_out(args: std::fmt::Arguments) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args).or_else(|e| stdout_closed(&e)) {
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`write_out`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($a:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($a)*)))
    };
}

pub mod bench;
pub mod bench_train;
pub mod run;
pub mod train;
pub mod why;
