//! The crate's own thread pool (like `torch.set_num_threads`).
//!
//! Kernels split work into tiles whose results do not depend on which thread
//! computes them, so outputs are identical for any thread count.

use crate::error::{KernelError, Result};
use std::sync::{Arc, RwLock};

struct Pool {
    threads: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

static POOL: RwLock<Pool> = RwLock::new(Pool {
    threads: 0,
    pool: None,
});

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Sets the number of threads the kernels use (>= 1). Builds a new crate-owned pool.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(KernelError::ThreadPool(
            "number of threads must be >= 1".into(),
        ));
    }
    let pool = if n == 1 {
        None
    } else {
        let built = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("qkernels-x86-{i}"))
            .build()
            .map_err(|e| KernelError::ThreadPool(e.to_string()))?;
        Some(Arc::new(built))
    };
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    *guard = Pool { threads: n, pool };
    Ok(())
}

/// The number of threads the kernels use (defaults to the available parallelism).
pub fn num_threads() -> usize {
    let threads = POOL.read().unwrap_or_else(|e| e.into_inner()).threads;
    if threads == 0 {
        default_threads()
    } else {
        threads
    }
}

/// Runs `f(n_threads)` inside the crate's pool (`f` may use rayon's parallel iterators).
pub(crate) fn run<R: Send>(f: impl FnOnce(usize) -> R + Send) -> R {
    let pool = {
        let guard = POOL.read().unwrap_or_else(|e| e.into_inner());
        if guard.threads == 0 {
            None
        } else {
            Some((guard.threads, guard.pool.clone()))
        }
    };
    match pool {
        Some((1, _)) => f(1),
        Some((n, Some(pool))) => pool.install(|| f(n)),
        Some((n, None)) => f(n),
        None => {
            // Lazily build the default pool once.
            let n = default_threads();
            if n <= 1 {
                return f(1);
            }
            if set_num_threads(n).is_err() {
                return f(1);
            }
            run(f)
        }
    }
}
