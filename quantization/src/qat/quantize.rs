//! `quantize_qat`: prepare for QAT, train, convert, in one call.

use nn::{Module, Result as NnResult};

use super::{convert_mapping, convert_qat, prepare_qat, QatMapping};
use crate::eager::{ConvertReport, EagerError, QConfigMapping};

/// Quantization-aware training in one call, in place (PyTorch's `quantize_qat(model, run_fn,
/// run_args, inplace=True)`): training mode, [`prepare_qat`] with the default mappings,
/// `run_fn` (the training loop), [`convert_qat`].
///
/// If `run_fn` fails its error is returned as [`EagerError::Calibration`] and the model stays
/// prepared for QAT (training has changed it; it is not put back to float).
pub fn quantize_qat<M: Module + ?Sized>(
    model: &mut M,
    run_fn: impl FnOnce(&mut M) -> NnResult<()>,
    spec: &QConfigMapping,
) -> Result<ConvertReport, EagerError> {
    model.train(true);
    let mapping = convert_mapping();
    let prepared = prepare_qat(model, spec, &QatMapping::default_qat(), &mapping)?;
    run_fn(model).map_err(EagerError::Calibration)?;
    let mut report = convert_qat(model, &mapping)?;
    let mut notices = prepared.notices;
    notices.append(&mut report.notices);
    report.notices = notices;
    Ok(report)
}
