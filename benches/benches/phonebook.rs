//! Criterion benches of syncshell-phonebook: cold and warm merges, a delta sync.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{criterion_group, criterion_main, Criterion};
use syncshell_benches::phonebook::{book_fixture, changed, cold_merge};
use syncshell_phonebook::sync_in_memory;

fn merges(c: &mut Criterion) {
    let f = book_fixture(1_000, 5);
    let a = cold_merge(&f.genesis, &f.first);
    let changed = changed(&f, 100);
    let b = cold_merge(&f.genesis, &changed);
    let mut g = c.benchmark_group("phonebook_1k");
    g.sample_size(10);
    g.bench_function("cold_merge", |bench| {
        bench.iter(|| cold_merge(&f.genesis, &f.first))
    });
    g.bench_function("warm_merge_1pct", |bench| {
        bench.iter(|| {
            let mut book = a.clone();
            for e in changed.iter().step_by(100) {
                let _ = book.insert_encoded(e);
            }
            book
        })
    });
    g.bench_function("delta_sync_1pct", |bench| {
        bench.iter(|| {
            let (mut x, mut y) = (a.clone(), b.clone());
            sync_in_memory(&mut x, &mut y)
        })
    });
    g.finish();
}

criterion_group!(benches, merges);
criterion_main!(benches);
