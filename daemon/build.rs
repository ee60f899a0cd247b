//! Generates the access-notification gRPC code from its .proto: the
//! messages and the server for the daemon, and a client (in `client/`)
//! for the integration tests, which subscribe as a connector would.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "proto/access_notification_service.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .build_client(false)
        .compile_protos(&[PROTO], &["proto"])?;
    let client = out.join("client");
    std::fs::create_dir_all(&client)?;
    tonic_prost_build::configure()
        .build_server(false)
        .out_dir(client)
        .compile_protos(&[PROTO], &["proto"])?;
    Ok(())
}
