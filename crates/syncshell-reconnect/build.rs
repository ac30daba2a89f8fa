//! Compiles `proto/reconnect.proto` with protox (no system `protoc`) and generates prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/reconnect.proto");
    let fds = protox::compile(["proto/reconnect.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
