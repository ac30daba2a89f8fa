//! The ratio report: one JSON object per line, `{"name", "ours", "baseline", "ratio", "unit"}`,
//! ours and the baseline measured side by side in the same run.
//!
//! `cargo run --release -p syncshell-benches --bin ratios`

fn main() {
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
