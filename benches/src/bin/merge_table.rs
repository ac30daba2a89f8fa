//! Prints the phonebook merge-time table of docs/performance.md (cold merge of 1k, 10k and
//! 100k entries: decode, verify signature and token chain, insert).
//!
//! `cargo run --release -p syncshell-benches --bin merge_table`
#![allow(clippy::print_stdout)]

fn main() {
    println!("| entries | cold merge | per entry | snapshot |");
    println!("|---:|---:|---:|---:|");
    for n in [1_000usize, 10_000, 100_000] {
        let (took, bytes) = syncshell_benches::phonebook::cold_merge_time(n);
        println!(
            "| {n} | {:.2} s | {:.1} µs | {:.1} MiB |",
            took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / n as f64,
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
}
