//! Kind `fake_quantize_module`.

use crate::conformance::check::Verdict;
use crate::conformance::fixture::Case;

/// Placeholder until the fake-quantize modules exist.
pub fn fake_quantize_module(_case: &Case) -> Result<Verdict, String> {
    Err("not yet".into())
}
