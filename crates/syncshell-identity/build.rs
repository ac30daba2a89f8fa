//! Compiles `proto/*.proto` with protox (no system `protoc`) and generates prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/identity.proto");
    let fds = protox::compile(["proto/identity.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
