//! A forked process is a snapshot restored twice: both copies hold the same generator state.
//! Without a reseed they produce the same next id; after `reseed_ids` they do not — which is
//! what a platform's restore hook relies on.

use opentelemetry_sdk::trace::IdGenerator as _;
use otel_faas_core::ids::{FreshIds, reseed_ids};

/// The next span id in this process and in a forked copy of it, each reseeding first when
/// `reseed` (as every environment restored from one snapshot would).
fn next_ids_in_two_copies(reseed: bool) -> (u64, u64) {
    let ids = FreshIds::random();
    // Seed this thread's generator before the "snapshot".
    let _ = ids.new_span_id();
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // The child: only an atomic, the thread-local generator, getrandom and write.
        if reseed {
            reseed_ids();
        }
        let id = u64::from_be_bytes(ids.new_span_id().to_bytes());
        let bytes = id.to_ne_bytes();
        unsafe {
            libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0);
        }
    }
    if reseed {
        reseed_ids();
    }
    let parent = u64::from_be_bytes(ids.new_span_id().to_bytes());
    let mut bytes = [0u8; 8];
    let read = unsafe { libc::read(fds[0], bytes.as_mut_ptr().cast(), bytes.len()) };
    assert_eq!(read, 8, "the child's id");
    let mut status = 0;
    unsafe {
        libc::waitpid(pid, &mut status, 0);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    (parent, u64::from_ne_bytes(bytes))
}

#[test]
fn restored_copies_share_ids_until_they_reseed() {
    let (parent, child) = next_ids_in_two_copies(false);
    assert_eq!(
        parent, child,
        "without a reseed both copies continue the same sequence"
    );
    let (parent, child) = next_ids_in_two_copies(true);
    assert_ne!(
        parent, child,
        "after reseed_ids each copy draws from the OS"
    );
}
