//! The project's Management API STAND-IN (not Gravitee APIM): the in-process fake the tests use,
//! served on 127.0.0.1 so `examples/quickstart.sh` can show gko pushing APIs without an APIM.
//! Prints its base URL and bearer token, then serves until killed.
//!
//! `cargo run --example apim_standin`

#[path = "../tests/support/apim.rs"]
mod apim;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let standin = apim::ApimStandIn::start_v4().await;
    println!("{} {}", standin.base_url(), apim::TEST_TOKEN);
    eprintln!(
        "Management API STAND-IN (a test fake, not Gravitee APIM) on {}, organization DEFAULT, environment DEFAULT",
        standin.base_url()
    );
    // Serves until the process is killed.
    std::future::pending::<()>().await;
}
