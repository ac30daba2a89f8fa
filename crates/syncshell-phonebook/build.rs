//! Compiles `proto/phonebook.proto` with protox (no system `protoc`) and generates prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/phonebook.proto");
    let fds = protox::compile(["proto/phonebook.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
