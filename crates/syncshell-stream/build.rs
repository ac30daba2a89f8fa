//! Compiles `proto/*.proto` with protox (no system `protoc`) and generates prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/stream.proto");
    let fds = protox::compile(["proto/stream.proto"], ["proto"])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;
    Ok(())
}
