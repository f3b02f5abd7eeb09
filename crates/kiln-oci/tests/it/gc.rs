//! Garbage collection next to running processes: leases protect what a running
//! process wrote or reused; once it ends, the same prune collects it.

use kiln_oci::store::PruneOptions;
use kiln_oci::Store;

use crate::common::Env;

#[test]
fn prune_keeps_what_a_running_process_wrote_until_it_ends() {
    let env = Env::new();
    // Another "process": a second handle on the store with its own lease.
    let builder = Store::open(env.store.root()).expect("open");
    let (written, _) = builder.put_blob(b"layer being built").expect("put");
    let pruned = env.store.prune(&PruneOptions::default()).expect("prune");
    assert!(pruned.blobs.is_empty(), "{pruned:?}");
    assert!(env.store.has_blob(&written));

    // Reusing an old unreferenced blob marks it used, so it is kept too.
    let (old, _) = env.store.put_blob(b"old content").expect("put");
    drop(builder);
    let pruned = env.store.prune(&PruneOptions::default()).expect("prune");
    let gone: Vec<_> = pruned.blobs.iter().map(|(d, _)| *d).collect();
    assert!(gone.contains(&written) && gone.contains(&old), "{pruned:?}");

    let (old, _) = env.store.put_blob(b"old content").expect("put");
    let builder = Store::open(env.store.root()).expect("open");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(builder.retain_blob(&old).expect("retain"));
    let pruned = env.store.prune(&PruneOptions::default()).expect("prune");
    assert!(pruned.blobs.is_empty(), "{pruned:?}");
    drop(builder);
    let pruned = env.store.prune(&PruneOptions::default()).expect("prune");
    assert_eq!(pruned.blobs.len(), 1, "{pruned:?}");
    env.assert_contained(&[]);
}

#[test]
fn temp_dirs_belong_to_leases_and_go_with_them() {
    let env = Env::new();
    let other = Store::open(env.store.root()).expect("open");
    let work = other.temp_dir().expect("temp dir");
    std::fs::write(work.path().join("f"), b"x").expect("write");
    let usage = env.store.usage().expect("usage");
    assert_eq!(
        usage.temp.reclaimable, 0,
        "a live process's temp is not reclaimable"
    );
    let report = env.store.prune(&PruneOptions::default()).expect("prune");
    assert!(report.temps.is_empty());
    assert!(work.path().join("f").is_file());
    // A process that ends normally removes its own temp dir and lease.
    drop(work);
    drop(other);
    let leases = std::fs::read_dir(env.store.root().join("leases"))
        .expect("leases")
        .count();
    assert_eq!(leases, 1, "only this test's own lease remains");
}
