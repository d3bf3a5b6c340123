//! The handlers, one module per area; [`handler`] is the one table of supported kinds.

use super::check::Verdict;
use super::fixture::Case;

mod dynamic;
mod e2e_eager;
mod e2e_fx;
mod fake_quant;
mod fake_quantize;
mod fusion;
mod model_io;
mod observers;
mod ops;
mod qat;
mod qtensor;

/// Runs one case: a verdict, or an error (malformed case, or an operation we refuse).
pub type Handler = fn(&Case) -> Result<Verdict, String>;

/// Prefix of a handler error meaning "this case's variant is not supported yet": such cases are
/// counted as unsupported (failures under `--strict`), not as failures.
pub const UNSUPPORTED: &str = "unsupported: ";

/// Selects the case's `engine` (`fbgemm`, `qnnpack`).
pub fn select_engine(case: &Case) -> Result<(), String> {
    let engine: ::qtensor::Engine = case
        .str("engine")?
        .parse()
        .map_err(|e: ::qtensor::QError| e.to_string())?;
    ::qtensor::set_engine(engine).map_err(|e| e.to_string())
}

/// The handler of a kind, or `None` if we do not support it yet.
pub fn handler(kind: &str) -> Option<Handler> {
    Some(match kind {
        "quantize_per_tensor" => qtensor::quantize_per_tensor,
        "quantize_per_channel" => qtensor::quantize_per_channel,
        "quantize_per_tensor_dynamic" => qtensor::quantize_per_tensor_dynamic,
        "fake_quantize_per_tensor_affine" => fake_quant::per_tensor,
        "fake_quantize_per_channel_affine" => fake_quant::per_channel,
        "learnable_fake_quantize_per_tensor_affine" => fake_quant::learnable_per_tensor,
        "fuse_conv_bn_eval" => fusion::conv_bn,
        "fuse_linear_bn_eval" => fusion::linear_bn,
        "op" => ops::op,
        "e2e_eager_ptq" => e2e_eager::eager_ptq,
        "e2e_fx_ptq" => e2e_fx::fx_ptq,
        "observer" => observers::observer,
        "fake_quantize_module" => fake_quantize::fake_quantize_module,
        "qat_conv_bn2d" => qat::qat_conv_bn2d,
        "dynamic_rnn" => dynamic::rnn,
        "dynamic_rnn_cell" => dynamic::rnn_cell,
        "e2e_dynamic" => dynamic::e2e,
        _ => return None,
    })
}
