//! The ratio report: one JSON object per line, `{"name", "ours", "baseline", "ratio", "unit"}`,
//! ours and the baseline measured side by side in the same run.
//!
//! `cargo run --release -p syncshell-benches --bin ratios`

fn main() {
    // The child process of the peak-memory line: measure only that, in a fresh process.
    if std::env::args().any(|a| a == syncshell_benches::stream::PEAK_RSS_CHILD_ARG) {
        syncshell_benches::stream::peak_rss_1gib().emit();
        return;
    }
    for ratio in syncshell_benches::identity::ratios() {
        ratio.emit();
    }
    for ratio in syncshell_benches::phonebook::ratios() {
        ratio.emit();
    }
    for ratio in syncshell_benches::reconnect::ratios() {
        ratio.emit();
    }
    for ratio in syncshell_benches::stream::ratios() {
        ratio.emit();
    }
    for ratio in syncshell_benches::transport::ratios() {
        ratio.emit();
    }
}
