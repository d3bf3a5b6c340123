//! All-or-nothing forward: a failing forward leaves the model's buffers as they were.

use std::cell::Cell;

use super::{Module, Value};
use crate::error::Result;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

struct DepthGuard;

impl DepthGuard {
    fn enter() -> (DepthGuard, bool) {
        let outermost = DEPTH.with(|d| {
            let v = d.get();
            d.set(v + 1);
            v == 0
        });
        (DepthGuard, outermost)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `f` on `m`; if it fails, every buffer of `m`'s tree (running statistics, observer
/// state, counters) is put back as it was before. Nested calls snapshot only once, at the
/// outermost one. Containers and derived models run their forward through this.
pub fn transactional<M: Module + ?Sized>(
    m: &mut M,
    f: impl FnOnce(&mut M) -> Result<Value>,
) -> Result<Value> {
    let (_guard, outermost) = DepthGuard::enter();
    if !outermost {
        return f(m);
    }
    let snapshot: Vec<_> = m
        .as_module()
        .named_buffers()
        .iter()
        .map(|(_, b)| b.snapshot())
        .collect();
    let result = f(m);
    if result.is_err() {
        for s in snapshot {
            s.restore();
        }
    }
    result
}
