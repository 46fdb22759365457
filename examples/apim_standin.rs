//! The project's Management API STAND-IN (not Gravitee APIM): the in-process fake the tests use,
//! served on 127.0.0.1 so `examples/quickstart.sh` can show gko pushing APIs without an APIM.
//! Prints its base URL and bearer token, then serves until killed.
//!
//! `cargo run --example apim_standin` (`GKO_STANDIN_NO_AUTOMATION=1`: no Automation API, as APIM 4.2 – 4.7)

#[path = "../tests/support/apim.rs"]
mod apim;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // GKO_STANDIN_NO_AUTOMATION=1 plays an APIM 4.x older than 4.8: v4 APIs only through `_import/crd`.
    let mut config = apim::StandInConfig::v4();
    if std::env::var("GKO_STANDIN_NO_AUTOMATION").is_ok_and(|v| v == "1" || v == "true") {
        config = config.without_automation();
    }
    let standin = apim::ApimStandIn::start(config).await;
    println!("{} {}", standin.base_url(), apim::TEST_TOKEN);
    eprintln!(
        "Management API STAND-IN (a test fake, not Gravitee APIM) on {}, organization DEFAULT, environment DEFAULT",
        standin.base_url()
    );
    // Serves until the process is killed.
    std::future::pending::<()>().await;
}
