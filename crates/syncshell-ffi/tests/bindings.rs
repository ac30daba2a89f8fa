//! The committed C header and C# bindings are what the code generates: regenerating them
//! changes nothing. Set `SYNCSHELL_WRITE_BINDINGS=1` to rewrite them after changing the ABI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/csharp_gen.rs"]
mod csharp_gen;

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn header() -> String {
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(crate_dir).join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not read the crate")
        .write(&mut out);
    String::from_utf8(out).unwrap()
}

fn check(path: &Path, generated: &str) {
    if std::env::var_os("SYNCSHELL_WRITE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}); regenerate it", path.display()));
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "{} is out of date (first difference at {line}); regenerate with \
             SYNCSHELL_WRITE_BINDINGS=1 cargo test -p syncshell-ffi --test bindings",
            path.display()
        );
    }
}

#[test]
fn c_header_is_up_to_date() {
    check(&root().join("include/syncshell.h"), &header());
}

#[test]
fn csharp_bindings_are_up_to_date() {
    let path = root().join("bindings/csharp/Syncshell.cs");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = csharp_gen::splice(&committed, &csharp_gen::native_methods(&header()));
    check(&path, &generated);
}

#[test]
fn every_export_is_in_the_header_and_the_bindings() {
    let header = header();
    let functions = csharp_gen::functions(&header);
    assert!(
        functions.len() > 80,
        "only {} functions parsed",
        functions.len()
    );
    let source: String = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let exported = source.matches("#[no_mangle]").count();
    assert_eq!(
        exported,
        functions.len(),
        "every #[no_mangle] export appears in the header"
    );
    let cs = csharp_gen::native_methods(&header);
    for f in &functions {
        assert!(
            cs.contains(&format!(" {}(", f.name)),
            "{} missing from C#",
            f.name
        );
    }
}

#[test]
fn every_function_is_in_the_ownership_table_of_docs_ffi() {
    let doc = std::fs::read_to_string(root().join("docs/ffi.md")).unwrap();
    for f in csharp_gen::functions(&header()) {
        assert!(
            doc.contains(&format!("| `{}` |", f.name)),
            "docs/ffi.md has no ownership row for {}",
            f.name
        );
    }
}
