//! Huge pages for the large tables that are read or written at random.
//!
//! The walk build steps from node to node through the graph projection (16 bytes per link),
//! the visit fill scatters ids into a buffer of up to the import's memory budget, and push
//! reads the projection wherever the residual goes. With 4 KiB pages, a table of gigabytes
//! has page tables of megabytes: past the caches, so each random read costs a page walk of
//! its own misses before the read's miss. Backed by 2 MiB pages, the same table needs 512x
//! fewer translations. Linux gives huge pages to anonymous memory in `madvise` mode (the
//! usual default) only where asked: [`prefer_huge_pages`] asks, right after a table's
//! allocation and before its pages are touched, so they fault in huge.
//!
//! This is the second module with `unsafe`, beside the file maps of `backend::fs`: the
//! `madvise` call of the same mmap family (memmap2 advises only its own maps).
#![allow(unsafe_code)]

/// Huge page size on x86-64 and aarch64 with 4 KiB base pages.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// Tables smaller than this are left alone: a few huge pages gain nothing measurable and
/// cost a 2 MiB clear at the first touch of each.
#[cfg(target_os = "linux")]
const MIN_BYTES: usize = 16 << 20;

/// Asks the kernel to back `table`'s allocation (its whole capacity) with huge pages where
/// it can. A hint: without transparent huge pages (another OS, `never` mode, an allocation
/// not from `mmap`) nothing changes, and the table works the same. Call it right after the
/// allocation: pages already touched stay small until the kernel's background collapse.
pub(crate) fn prefer_huge_pages<T>(table: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        let bytes = table.capacity().saturating_mul(size_of::<T>());
        if bytes < MIN_BYTES {
            return;
        }
        let start = table.as_mut_ptr() as usize;
        let (Some(lo), Some(end)) = (
            start.checked_next_multiple_of(HUGE_PAGE),
            start.checked_add(bytes),
        ) else {
            return;
        };
        let hi = end / HUGE_PAGE * HUGE_PAGE;
        if hi <= lo {
            return;
        }
        // SAFETY: [lo, hi) lies inside `table`'s allocation (its capacity's bytes from its
        // pointer, both ends rounded inwards to huge-page boundaries), memory this process
        // owns and keeps mapped while `table` lives. MADV_HUGEPAGE changes only which page
        // size the kernel may back the range with, never its contents (it is not one of the
        // destructive advices such as MADV_DONTNEED or MADV_FREE), so no Rust reference to the
        // table observes a change. The result is ignored on purpose: EINVAL (no transparent
        // huge pages) or EAGAIN leave the range as it was.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = table;
}

/// `len` zeros in a table that prefers huge pages ([`prefer_huge_pages`]). For the primitive
/// types it is used with, the allocation is a zeroed one (`calloc`), which for a table past
/// glibc's mmap threshold (at most 32 MiB) comes fresh from `mmap` and untouched, so the advice
/// reaches every page before its first use; a smaller table may come zeroed from the heap, and
/// then only pages the kernel collapses later turn huge (a hint either way).
pub(crate) fn zeroed_table<T: bytemuck::Zeroable + Clone>(len: usize) -> Vec<T> {
    let mut table = vec![T::zeroed(); len];
    prefer_huge_pages(&mut table);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advised_tables_keep_their_contents() {
        // The advice must not disturb contents already written, at any size or alignment.
        for len in [0usize, 1, 1000, (16 << 20) / 4 + 3, (40 << 20) / 4 + 1] {
            let mut table: Vec<u32> = (0..len as u32).collect();
            prefer_huge_pages(&mut table);
            assert!(table.iter().enumerate().all(|(i, &x)| x as usize == i));
            let zeros: Vec<u64> = zeroed_table(len);
            assert_eq!(zeros.len(), len);
            assert!(zeros.iter().all(|&x| x == 0));
        }
    }
}
