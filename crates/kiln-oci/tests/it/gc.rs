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

/// Sets the modification time of `path` to `ago` before now.
fn age(path: &std::path::Path, ago: std::time::Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    let then = std::time::SystemTime::now() - ago;
    file.set_modified(then).expect("set mtime");
}

#[test]
fn cache_files_go_with_all_or_when_older_than_until_and_dead_writers_temps_always() {
    use kiln_oci::store::CacheArea;
    use std::time::Duration;
    let env = Env::new();
    let hour = Duration::from_secs(3600);
    env.store
        .write_cache_file(CacheArea::ContextStat, "v2-ctx", b"stat lines")
        .expect("write");
    env.store
        .write_cache_file(CacheArea::CompressedLayers, "layer-gzip", b"digest")
        .expect("write");
    let stat = env.store.root().join("cache/stat");
    let (stat_file, compressed) = (
        stat.join("v2-ctx"),
        env.store.root().join("cache/compressed/layer-gzip"),
    );
    let (dead, live) = (stat.join(".tmp-dead"), stat.join(".tmp-live"));
    std::fs::write(&dead, b"half written").expect("write");
    std::fs::write(&live, b"being written").expect("write");
    age(&dead, 2 * hour);

    // Always: only a temp file whose writer is long gone.
    let pruned = env.store.prune(&PruneOptions::default()).expect("prune");
    assert_eq!(pruned.cache_files, vec![(dead.clone(), 12)], "{pruned:?}");
    assert!(stat_file.exists() && compressed.exists() && live.exists());

    // --until: the cache files written before then.
    age(&stat_file, 2 * hour);
    let until = PruneOptions {
        until: Some(hour),
        ..PruneOptions::default()
    };
    let pruned = env.store.prune(&until).expect("prune");
    assert_eq!(
        pruned.cache_files,
        vec![(stat_file.clone(), 10)],
        "{pruned:?}"
    );
    assert!(compressed.exists() && live.exists());

    // --all: every cache file, except what a running process wrote since it started.
    let all = PruneOptions {
        all: true,
        ..PruneOptions::default()
    };
    // Lease times have whole seconds: start the other process's one a second later.
    std::thread::sleep(Duration::from_millis(1100));
    let running = Store::open(env.store.root()).expect("open");
    running.take_lease().expect("lease");
    std::thread::sleep(Duration::from_millis(1100));
    running
        .write_cache_file(CacheArea::ContextStat, "v2-new", b"new")
        .expect("write");
    let pruned = env.store.prune(&all).expect("prune");
    let mut gone: Vec<_> = pruned.cache_files.iter().map(|(p, _)| p.clone()).collect();
    gone.sort();
    assert_eq!(gone, vec![compressed.clone(), live.clone()], "{pruned:?}");
    assert!(stat.join("v2-new").exists(), "a running build's file stays");
    assert_eq!(pruned.reclaimed(), 6 + 13);
    drop(running);
    let pruned = env.store.prune(&all).expect("prune");
    assert_eq!(pruned.cache_files.len(), 1, "{pruned:?}");
}
