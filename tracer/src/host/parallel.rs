//! Reading `/proc` for many processes over several CPUs.
//!
//! A scan of a few thousand processes is bound by the kernel's work of generating each file
//! (open, read, close: about 7 µs a file here), which runs in the calling thread: split over
//! the CPUs the process may use, it ends sooner. Results keep their input order, so a scan in
//! parallel gives the same answer as one in sequence.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Below this many items per thread, another thread costs more than it saves.
const MIN_PER_THREAD: usize = 256;
/// More threads than this gain little: the CPUs of a small host are shared with other work.
const MAX_THREADS: usize = 4;

/// How many threads to split `items` work items over (1: do them in this thread).
pub fn threads_for(items: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    cpus.min(MAX_THREADS).min(items / MIN_PER_THREAD).max(1)
}

/// Items a thread takes at a time: small enough to balance the threads (processes differ in
/// cost: a kernel thread's files are quick, a large process's slow), large enough that taking
/// them costs nothing.
const BLOCK: usize = 64;

/// `f` over contiguous chunks of `items`, split over [`threads_for`] threads (this one
/// included), each taking the next chunk as it finishes one; the outputs concatenated in input
/// order. `f` gets a chunk and returns its outputs (any number per item).
pub fn map_chunks<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&[T]) -> Vec<R> + Sync,
{
    let threads = threads_for(items.len());
    if threads <= 1 {
        return f(items);
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(1, Ordering::Relaxed) * BLOCK;
            if start >= items.len() {
                return done;
            }
            let chunk = &items[start..(start + BLOCK).min(items.len())];
            done.push((start, f(chunk)));
        }
    };
    std::thread::scope(|scope| {
        // A thread that cannot be started leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("tracer-scan".into())
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut parts = work();
        for helper in helpers {
            match helper.join() {
                Ok(done) => parts.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts.sort_unstable_by_key(|(start, _)| *start);
        let mut out = Vec::with_capacity(parts.iter().map(|(_, part)| part.len()).sum());
        for (_, part) in parts {
            out.extend(part);
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_input_order() {
        let items: Vec<u32> = (0..5_000).collect();
        let out = super::map_chunks(&items, |chunk| chunk.iter().map(|i| i * 2).collect());
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let some = super::map_chunks(&items, |chunk| {
            chunk.iter().filter(|i| *i % 3 == 0).copied().collect()
        });
        assert_eq!(
            some,
            items
                .iter()
                .filter(|i| *i % 3 == 0)
                .copied()
                .collect::<Vec<_>>()
        );
        assert!(super::map_chunks(&[] as &[u32], |chunk| chunk.to_vec()).is_empty());
    }
}
