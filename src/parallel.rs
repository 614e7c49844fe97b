//! Work spread over the cores, and large files read a block at a time: a lock or manifest of
//! 100,000 domains is parsed in pieces on every core, and its text is never in memory whole.

use std::io::Read;

/// Maps `f` over `items` on up to 8 threads (contiguous runs, one per thread), in order.
pub(crate) fn on_threads<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads();
    if items.len() < 2 || threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let run = items.len().div_ceil(threads);
    let mut runs: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let next: Vec<T> = items.by_ref().take(run).collect();
        if next.is_empty() {
            break;
        }
        runs.push(next);
    }
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = runs
            .into_iter()
            .map(|run| s.spawn(move || run.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// How many threads `on_threads` uses.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

/// Sorts `items` stably, each half on its own thread and then the two sorted halves merged.
pub(crate) fn sort_by<T: Send>(items: &mut [T], cmp: impl Fn(&T, &T) -> std::cmp::Ordering + Sync) {
    if items.len() < 10_000 || threads() == 1 {
        items.sort_by(cmp);
        return;
    }
    let (front, back) = items.split_at_mut(items.len() / 2);
    std::thread::scope(|s| {
        s.spawn(|| front.sort_by(&cmp));
        back.sort_by(&cmp);
    });
    // Two runs: the stable sort finds them and merges them in one pass.
    items.sort_by(cmp);
}

/// Reads `file` about `block` bytes at a time and hands `each` the text up to where `cut` says
/// the last whole record in it ends (a block without one is read on until it has one), then
/// what is left at the end. `None` when reading fails, the text is not UTF-8 or `each`
/// refuses.
pub(crate) fn read_in_blocks(
    mut file: impl Read,
    block: usize,
    cut: impl Fn(&str) -> Option<usize>,
    mut each: impl FnMut(&str) -> Option<()>,
) -> Option<()> {
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let start = pending.len();
        pending.resize(start + block, 0);
        let mut filled = start;
        while filled < pending.len() {
            match file.read(&mut pending[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        let eof = filled < pending.len();
        pending.truncate(filled);
        // A block may end inside a UTF-8 sequence; the cut is made in the valid part before it.
        let text = match std::str::from_utf8(&pending) {
            Ok(text) => text,
            Err(e) if !eof && e.error_len().is_none() => {
                std::str::from_utf8(&pending[..e.valid_up_to()]).ok()?
            }
            Err(_) => return None,
        };
        let end = if eof {
            text.len()
        } else {
            match cut(text) {
                Some(end) => end,
                None => continue,
            }
        };
        each(&text[..end])?;
        pending.drain(..end);
        if eof {
            return Some(());
        }
    }
}

/// `text` cut after a newline into about `n` pieces of at least `min` bytes each.
pub(crate) fn pieces(text: &str, n: usize, min: usize) -> Vec<&str> {
    let size = text.len().div_ceil(n.max(1)).max(min);
    let mut pieces = Vec::with_capacity(n);
    let mut rest = text;
    while !rest.is_empty() {
        let end = match rest.get(size..).and_then(|after| after.find('\n')) {
            Some(i) => size + i + 1,
            None => rest.len(),
        };
        pieces.push(&rest[..end]);
        rest = &rest[end..];
    }
    pieces
}

/// Maps `f` over `items` on up to `workers` threads, each taking the next item when it is done
/// (for network work, where items take uneven time), in order.
pub(crate) fn pool<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_threads_keeps_order() {
        let squares = on_threads((0..1000u64).collect(), |i| i * i);
        assert_eq!(squares, (0..1000u64).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn sort_by_sorts_stably_whatever_the_size() {
        for n in [0, 5, 9_999, 25_001] {
            let items: Vec<(u32, usize)> = (0..n).map(|i| ((i * 7919 % 1000) as u32, i)).collect();
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std = items;
            std.sort_by_key(|a| a.0);
            assert_eq!(ours, std, "{n}");
        }
    }

    #[test]
    fn blocks_end_where_cut_says_and_join_into_the_text() {
        let text = "line one\nlíne twö\n\nthree\n".repeat(50);
        for block in [1, 3, 7, 64, 1000, text.len() + 1] {
            let mut seen = Vec::new();
            read_in_blocks(
                text.as_bytes(),
                block,
                |t| t.rfind('\n').map(|i| i + 1),
                |t| {
                    seen.push(t.to_string());
                    Some(())
                },
            )
            .unwrap();
            assert_eq!(seen.concat(), text, "block {block}");
            assert!(
                seen.iter().all(|t| t.is_empty() || t.ends_with('\n')),
                "block {block}"
            );
        }
        assert_eq!(
            read_in_blocks(&b"a\n\xff\n"[..], 2, |_| Some(1), |_| Some(())),
            None
        );
        assert_eq!(
            read_in_blocks(&b"a\nb\n"[..], 2, |_| Some(2), |_| None),
            None
        );
    }

    #[test]
    fn pieces_end_after_newlines_and_join_into_the_text() {
        let text = "ab\ncdef\ng\n\nhij\n".repeat(20);
        for (n, min) in [(1, 0), (2, 0), (3, 5), (8, 1), (2, 1 << 20)] {
            let p = pieces(&text, n, min);
            assert_eq!(p.concat(), text);
            assert!(p.iter().all(|p| p.ends_with('\n') && !p.is_empty()));
            assert!(p.len() <= n.max(1), "{n} {min}: {}", p.len());
        }
        assert!(pieces("", 2, 0).is_empty());
        assert_eq!(pieces("no newline", 4, 0), ["no newline"]);
    }
}
