//! Dynamic recurrent networks: [`LSTM`] and [`GRU`] (multi-layer, bidirectional, batch-first,
//! initial states) on a shared driver.

mod core;
pub(crate) mod float;
pub(crate) mod gates;
mod gru;
mod lstm;
pub(crate) mod math;
mod options;

pub use gates::Nonlinearity;
pub use gru::{GruOutput, GRU};
pub use lstm::{LstmOutput, LSTM};
pub use options::{RnnMode, RnnOptions};
