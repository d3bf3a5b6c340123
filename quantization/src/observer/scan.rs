//! One pass over an input batch: the NaN / empty checks, skipping infinities, min and max
//! (per tensor or per channel).

use ndarray::{ArrayViewD, Axis};

use super::Observation;
use crate::QuantError;

/// Min and max of the finite values of `x` (`None` if every value was infinite), with the count
/// of skipped infinities. Errors on an empty input or any NaN.
pub(crate) fn min_max(
    x: &ArrayViewD<'_, f32>,
    observer: &'static str,
) -> Result<(Option<(f32, f32)>, Observation), QuantError> {
    if x.is_empty() {
        return Err(QuantError::Empty { observer });
    }
    let (mut lo, mut hi, mut nan) = (f32::INFINITY, f32::NEG_INFINITY, false);
    let mut fold = |v: f32| {
        nan |= v.is_nan();
        lo = lo.min(v);
        hi = hi.max(v);
    };
    match x.as_slice_memory_order() {
        Some(s) => s.iter().for_each(|&v| fold(v)),
        None => x.iter().for_each(|&v| fold(v)),
    }
    if nan {
        return Err(QuantError::NaN { observer });
    }
    if lo.is_finite() && hi.is_finite() {
        return Ok((Some((lo, hi)), Observation::default()));
    }
    // Slow path: skip the infinities.
    let (mut lo, mut hi, mut infs) = (f32::INFINITY, f32::NEG_INFINITY, 0usize);
    for &v in x.iter() {
        if v.is_infinite() {
            infs += 1;
        } else {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let all = infs == x.len();
    let obs = Observation {
        infinities_ignored: infs,
        all_ignored: all,
    };
    Ok(((!all).then_some((lo, hi)), obs))
}

/// Per-channel extrema (`None` for a channel with no finite value) and what was skipped.
pub(crate) type ChannelExtrema = (Vec<Option<(f32, f32)>>, Observation);

/// Per-channel min and max along `ch_axis` over finite values; a channel whose values were all
/// infinite gets `None`. Errors on an empty input, NaN, or `ch_axis >= rank`.
pub(crate) fn per_channel_min_max(
    x: &ArrayViewD<'_, f32>,
    ch_axis: usize,
    observer: &'static str,
) -> Result<ChannelExtrema, QuantError> {
    if ch_axis >= x.ndim() {
        return Err(QuantError::ChAxisOutOfRange {
            observer,
            ch_axis,
            rank: x.ndim(),
        });
    }
    if x.is_empty() {
        return Err(QuantError::Empty { observer });
    }
    let mut out = Vec::with_capacity(x.len_of(Axis(ch_axis)));
    let mut obs = Observation::default();
    let mut any = false;
    for lane in x.axis_iter(Axis(ch_axis)) {
        let (mut lo, mut hi, mut nan, mut infs) = (f32::INFINITY, f32::NEG_INFINITY, false, 0usize);
        for &v in lane.iter() {
            nan |= v.is_nan();
            if v.is_infinite() {
                infs += 1;
            } else {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if nan {
            return Err(QuantError::NaN { observer });
        }
        obs.infinities_ignored += infs;
        let seen = infs < lane.len();
        any |= seen;
        out.push(seen.then_some((lo, hi)));
    }
    obs.all_ignored = !any;
    Ok((out, obs))
}
