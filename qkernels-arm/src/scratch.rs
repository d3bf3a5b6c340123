//! Per-thread byte buffers reused for the per-call temporaries of the convolutions (the NHWC
//! copy of the input, the NHWC result before it is copied back to NCHW): allocating and
//! freeing them on every call makes the allocator hand the pages back to the OS and the next
//! call fault them in again, which costs more than many of the kernels.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Buffers kept per thread (more are dropped when returned).
const KEEP: usize = 4;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty byte buffer from this thread's pool (with the capacity of an earlier use),
/// returned to the pool when dropped.
pub(crate) struct Scratch(Vec<u8>);

impl Scratch {
    /// Takes a buffer (empty, possibly with capacity) from the pool.
    pub fn take() -> Scratch {
        let mut v = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        v.clear();
        Scratch(v)
    }
}

impl Deref for Scratch {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        // During thread teardown the pool may be gone: the buffer is then simply freed.
        let _ = POOL.try_with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < KEEP {
                p.push(v);
            }
        });
    }
}
