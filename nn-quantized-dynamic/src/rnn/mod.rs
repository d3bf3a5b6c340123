//! Dynamic recurrent networks: [`LSTM`] and [`GRU`] (multi-layer, bidirectional, batch-first,
//! initial states) on a shared driver.

pub(crate) mod core;
pub(crate) mod float;
mod gru;
mod lstm;
mod options;

pub use gru::{GruOutput, GRU};
pub use lstm::{LstmOutput, LSTM};
pub use options::{RnnMode, RnnOptions};
