//! The workspace's worker threads (`torch.set_num_threads`): one fork-join pool, used by the
//! int8 kernels and the float layers alike, in which the calling thread takes part and idle
//! workers spin briefly before they sleep.
//!
//! Kernels split work into tasks whose results do not depend on which thread computes them,
//! so outputs are identical for any thread count. A kernel call hands work to the workers and
//! waits for them about a microsecond each way while they spin (as OpenMP's workers do under
//! PyTorch); a rayon pool's hand-off costs 10-20 us here, more than a small convolution takes.
//! Calls made while the pool is busy (from a task, or from a second user thread) run on the
//! calling thread alone.
//!
//! This module holds the crate's only `unsafe`: handing a borrowed job to the workers (the
//! caller waits until every worker has left it) and splitting one buffer into disjoint chunks.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long an idle worker spins for the next job before it sleeps; after the first
/// [`SPIN_HOT`] it yields between checks, so other runnable threads get the core.
const SPIN: Duration = Duration::from_micros(200);
const SPIN_HOT: Duration = Duration::from_micros(20);

/// The pool's threads could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("thread pool: {0}")]
pub struct ThreadPoolError(pub String);

type Result<T> = std::result::Result<T, ThreadPoolError>;

/// Job state word: `epoch << 32 | CLOSED | joined workers`.
const CLOSED: u64 = 1 << 31;
const REFS: u64 = CLOSED - 1;

/// One parallel loop: `tasks` calls of `f`, indices handed out by `next`.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    panicked: AtomicBool,
    next: TaskCounter,
}

/// The task counter, alone on its cache line: every claim writes it, and the read-only fields
/// of the job stay shared.
#[repr(align(64))]
struct TaskCounter(AtomicUsize);

impl Job<'_> {
    /// Runs tasks until none is left; records (instead of unwinding) a panic.
    fn work(&self) {
        let run = || loop {
            let i = self.next.0.fetch_add(1, Ordering::Relaxed);
            if i >= self.tasks {
                break;
            }
            (self.f)(i);
        };
        if catch_unwind(AssertUnwindSafe(run)).is_err() {
            self.panicked.store(true, Ordering::Relaxed);
            // Stop handing out tasks: the call will panic anyway.
            self.next.0.store(self.tasks, Ordering::Relaxed);
        }
    }
}

/// What the caller and the workers share.
struct Shared {
    /// See [`CLOSED`]: a worker joins the current epoch's job only while it is open.
    state: AtomicU64,
    /// The current job (valid while a worker is joined).
    job: AtomicPtr<Job<'static>>,
    /// Held by the thread whose job is running.
    busy: AtomicBool,
    shutdown: AtomicBool,
}

/// What a caller needs: the shared state and the workers to wake.
struct Handle {
    shared: Arc<Shared>,
    workers: Vec<thread::Thread>,
}

struct Pool {
    threads: usize,
    handle: Arc<Handle>,
    joins: Vec<JoinHandle<()>>,
}

impl Pool {
    fn new(threads: usize) -> Result<Pool> {
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            busy: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(threads.saturating_sub(1));
        for i in 1..threads {
            let s = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("qtensor-worker-{i}"))
                .spawn(move || worker(&s));
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    stop(&shared, workers);
                    return Err(ThreadPoolError(e.to_string()));
                }
            }
        }
        let handle = Arc::new(Handle {
            shared,
            workers: workers.iter().map(|w| w.thread().clone()).collect(),
        });
        Ok(Pool {
            threads,
            handle,
            joins: workers,
        })
    }
}

/// Asks the workers to exit and waits for them.
fn stop(shared: &Shared, workers: Vec<JoinHandle<()>>) {
    shared.shutdown.store(true, Ordering::Release);
    for w in &workers {
        w.thread().unpark();
    }
    for w in workers {
        let _ = w.join();
    }
}

/// A worker: waits for each new job, joins it while it is open, works, leaves.
fn worker(s: &Shared) {
    let mut seen = s.state.load(Ordering::Acquire) >> 32;
    while let Some(state) = next_epoch(s, seen) {
        seen = state >> 32;
        if join(s, state) {
            // SAFETY: the caller keeps the job alive until every joined worker has left.
            let job = unsafe { &*s.job.load(Ordering::Acquire) };
            job.work();
            s.state.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Spins, then sleeps, until the state's epoch differs from `seen`; `None` on shutdown.
fn next_epoch(s: &Shared, seen: u64) -> Option<u64> {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        if s.shutdown.load(Ordering::Acquire) {
            return None;
        }
        let state = s.state.load(Ordering::Acquire);
        if state >> 32 != seen {
            return Some(state);
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(256) {
            let idle = start.elapsed();
            if idle > SPIN {
                // A publish after the check above leaves the unpark token set: no lost wake-up.
                thread::park();
            } else if idle > SPIN_HOT {
                thread::yield_now();
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Counts this worker into the job of `state`'s epoch unless it was closed or replaced.
fn join(s: &Shared, mut state: u64) -> bool {
    let epoch = state >> 32;
    while state >> 32 == epoch && state & CLOSED == 0 {
        match s
            .state
            .compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return true,
            Err(now) => state = now,
        }
    }
    false
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn default_threads() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Sets the number of threads the kernels use (>= 1, the calling thread included).
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(ThreadPoolError("number of threads must be >= 1".into()));
    }
    let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.as_ref().is_some_and(|p| p.threads == n) {
        return Ok(());
    }
    if let Some(old) = guard.take() {
        // Waits for a job in flight: its caller holds `busy` until the workers left.
        while old
            .handle
            .shared
            .busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            thread::yield_now();
        }
        stop(&old.handle.shared, old.joins);
    }
    *guard = Some(Pool::new(n)?);
    Ok(())
}

/// The number of threads the kernels use (defaults to the available parallelism).
pub fn num_threads() -> usize {
    let guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    guard.as_ref().map_or_else(default_threads, |p| p.threads)
}

/// The pool's handle (the pool is built on first use).
fn pool() -> Option<Arc<Handle>> {
    let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        *guard = Pool::new(default_threads()).ok();
    }
    guard.as_ref().map(|p| Arc::clone(&p.handle))
}

/// Calls `f(i)` for every `i < tasks`, on the pool's threads and the calling thread, and returns
/// when all are done (a panic in any task is re-raised here).
pub fn parallel_for(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    if tasks <= 1 {
        (0..tasks).for_each(f);
        return;
    }
    let Some(handle) = pool().filter(|h| !h.workers.is_empty()) else {
        (0..tasks).for_each(f);
        return;
    };
    let shared = &handle.shared;
    if shared
        .busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        (0..tasks).for_each(f);
        return;
    }
    let job = Job {
        f,
        tasks,
        next: TaskCounter(AtomicUsize::new(0)),
        panicked: AtomicBool::new(false),
    };
    // SAFETY: the lifetime is erased only for workers, which touch the job while joined; the
    // job is not dropped before the wait below sees every joined worker leave.
    let ptr = unsafe { std::mem::transmute::<*const Job<'_>, *mut Job<'static>>(&job) };
    shared.job.store(ptr, Ordering::Relaxed);
    let epoch = (shared.state.load(Ordering::Relaxed) >> 32).wrapping_add(1) & 0xffff_ffff;
    shared.state.store(epoch << 32, Ordering::Release);
    for w in &handle.workers {
        w.unpark();
    }
    job.work();
    // Close the job and wait for the workers inside it.
    shared.state.fetch_or(CLOSED, Ordering::AcqRel);
    while shared.state.load(Ordering::Acquire) & REFS != 0 {
        std::hint::spin_loop();
    }
    shared.busy.store(false, Ordering::Release);
    if job.panicked.load(Ordering::Relaxed) {
        resume_unwind(Box::new("a kernel task panicked"));
    }
}

/// Splits `data` into chunks of `chunk` elements (the last may be shorter) and calls
/// `f(index, chunk)` on each, in parallel, each thread on one contiguous run of chunks.
pub fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    chunk: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    if data.is_empty() || chunk == 0 {
        return;
    }
    let len = data.len();
    let base = SendPtr(data.as_mut_ptr());
    parallel_for_runs(len.div_ceil(chunk), &|i| {
        let start = i * chunk;
        let n = chunk.min(len - start);
        let base = &base;
        // SAFETY: chunk `i` covers `start..start + n` of `data`, disjoint from every other
        // chunk, and `data` is borrowed mutably for the whole call.
        let part = unsafe { std::slice::from_raw_parts_mut(base.0.add(start), n) };
        f(i, part);
    });
}

/// [`parallel_for`] with each thread taking one contiguous run of task indices: neighbouring
/// tasks usually write neighbouring memory, and threads interleaving small pieces of one
/// buffer share its cache lines (they ran at half speed here).
pub fn parallel_for_runs(tasks: usize, f: &(dyn Fn(usize) + Sync)) {
    let runs = num_threads().min(tasks).max(1);
    let per_run = tasks.div_ceil(runs);
    parallel_for(runs, &|r| {
        (r * per_run..((r + 1) * per_run).min(tasks)).for_each(f);
    });
}

/// A pointer handed to tasks that write disjoint parts of one buffer.
struct SendPtr<T>(*mut T);
// SAFETY: tasks derive disjoint slices from the pointer (see `for_each_chunk_mut`).
unsafe impl<T: Send> Sync for SendPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serialises the tests that change the global thread count.
    static LOCK: Mutex<()> = Mutex::new(());

    #[test]
    fn every_task_runs_once_for_any_thread_count() {
        let _l = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        for threads in [1, 2, 3, 5] {
            set_num_threads(threads).unwrap();
            for tasks in [0, 1, 2, 3, 7, 64, 1000] {
                let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
                parallel_for(tasks, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                parallel_for_runs(tasks, &|i| {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 2));
            }
        }
    }

    #[test]
    fn chunks_cover_the_slice_disjointly() {
        let _l = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        set_num_threads(2).unwrap();
        for (len, chunk) in [(0, 3), (1, 3), (10, 3), (64, 8), (1000, 7)] {
            let mut v = vec![0usize; len];
            for_each_chunk_mut(&mut v, chunk, |i, c| {
                for (j, x) in c.iter_mut().enumerate() {
                    *x += i * chunk + j + 1;
                }
            });
            assert!(v.iter().enumerate().all(|(i, &x)| x == i + 1));
        }
    }

    #[test]
    fn nested_calls_and_panics_leave_the_pool_usable() {
        let _l = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        set_num_threads(2).unwrap();
        let total = AtomicUsize::new(0);
        parallel_for(4, &|_| {
            parallel_for(5, &|_| {
                total.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(total.load(Ordering::Relaxed), 20);
        let r = catch_unwind(|| parallel_for(8, &|i| assert!(i != 3, "task 3 fails")));
        assert!(r.is_err());
        let after = AtomicUsize::new(0);
        parallel_for(16, &|_| {
            after.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(after.load(Ordering::Relaxed), 16);
    }
}
