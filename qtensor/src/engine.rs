//! The quantized engine setting (`torch.backends.quantized.engine`).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::QError;

/// A family of int8 kernels with its own numerics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// fbgemm-style x86 kernels (AVX-512 VNNI / AVX2 / scalar).
    Fbgemm,
    /// qnnpack-style kernels (NEON on aarch64, portable code elsewhere).
    Qnnpack,
}

impl Engine {
    /// PyTorch's name of the engine.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Fbgemm => "fbgemm",
            Engine::Qnnpack => "qnnpack",
        }
    }

    fn code(self) -> u8 {
        match self {
            Engine::Fbgemm => 0,
            Engine::Qnnpack => 1,
        }
    }

    fn from_code(code: u8) -> Engine {
        if code == 0 {
            Engine::Fbgemm
        } else {
            Engine::Qnnpack
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn supported_list() -> String {
    supported_engines()
        .iter()
        .map(|e| e.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Engine {
    type Err = QError;

    /// Parses `fbgemm` or `qnnpack` (case-insensitive); anything else is an error listing the
    /// supported engines.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fbgemm" => Ok(Engine::Fbgemm),
            "qnnpack" => Ok(Engine::Qnnpack),
            _ => Err(QError::UnknownEngine {
                name: s.to_string(),
                supported: supported_list(),
            }),
        }
    }
}

/// The engines this build can run (`torch.backends.quantized.supported_engines`): fbgemm on
/// x86-64 only, qnnpack everywhere (portable code where there is no NEON).
pub fn supported_engines() -> &'static [Engine] {
    if cfg!(target_arch = "x86_64") {
        &[Engine::Fbgemm, Engine::Qnnpack]
    } else {
        &[Engine::Qnnpack]
    }
}

/// The engine a fresh process starts with: fbgemm on x86-64, qnnpack elsewhere.
pub fn default_engine() -> Engine {
    supported_engines()[0]
}

const UNSET: u8 = u8::MAX;
static CURRENT: AtomicU8 = AtomicU8::new(UNSET);

/// The current engine for the whole process; safe to call from any thread.
pub fn engine() -> Engine {
    match CURRENT.load(Ordering::Acquire) {
        UNSET => default_engine(),
        code => Engine::from_code(code),
    }
}

/// Sets the current engine for the whole process (like assigning
/// `torch.backends.quantized.engine`). Errors if this build cannot run it; modules already
/// converted keep the weights they packed, new packing uses the new engine.
pub fn set_engine(engine: Engine) -> Result<(), QError> {
    if !supported_engines().contains(&engine) {
        return Err(QError::UnsupportedEngine {
            name: engine.name(),
            supported: supported_list(),
        });
    }
    CURRENT.store(engine.code(), Ordering::Release);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_and_reject_unknown() {
        assert_eq!("FBGEMM".parse::<Engine>().unwrap(), Engine::Fbgemm);
        assert_eq!("qnnpack".parse::<Engine>().unwrap(), Engine::Qnnpack);
        let err = "onednn".parse::<Engine>().unwrap_err().to_string();
        assert!(err.contains("onednn") && err.contains("qnnpack"), "{err}");
    }

    #[test]
    fn set_and_read_from_threads() {
        set_engine(Engine::Qnnpack).unwrap();
        let seen = std::thread::spawn(engine).join().unwrap();
        assert_eq!(seen, Engine::Qnnpack);
        set_engine(default_engine()).unwrap();
        assert_eq!(engine(), default_engine());
    }
}
