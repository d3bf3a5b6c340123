//! A one-entry memo: the value computed for the last key, reused while calls repeat it (the
//! indirection buffer of a convolution shape, the folded bias and scales of a quantized GEMM
//! for given input and output parameters), shared safely between threads.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The last `(key, value)` computed, behind a lock.
pub(crate) struct Memo<K, V>(Mutex<Option<(K, Arc<V>)>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(Mutex::new(None))
    }
}

impl<K: Clone, V> Clone for Memo<K, V> {
    fn clone(&self) -> Self {
        Memo(Mutex::new(self.lock().clone()))
    }
}

impl<K, V> fmt::Debug for Memo<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let filled = self.lock().is_some();
        write!(f, "Memo({})", if filled { "filled" } else { "empty" })
    }
}

impl<K, V> Memo<K, V> {
    fn lock(&self) -> MutexGuard<'_, Option<(K, Arc<V>)>> {
        // The entry is replaced whole, so a panic elsewhere cannot leave it half-made.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<K: PartialEq + Clone, V> Memo<K, V> {
    /// The value for `key`: the memoized one if the key repeats, else `make()` (remembered
    /// when it succeeds). The lock is not held while `make` runs.
    pub fn get_or_try<E>(&self, key: &K, make: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        if let Some((k, v)) = &*self.lock() {
            if k == key {
                return Ok(Arc::clone(v));
            }
        }
        let v = Arc::new(make()?);
        *self.lock() = Some((key.clone(), Arc::clone(&v)));
        Ok(v)
    }
}
