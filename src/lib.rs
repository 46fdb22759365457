//! gko: admission webhook and operator for Gravitee API Management.

pub mod admission;
pub mod apim;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod crd;
pub mod gko_env;
pub mod kube_client;
pub mod manifests;
pub mod model;
pub mod offline;
pub mod reconcile;
pub mod serve;
pub mod server;
pub mod telemetry;
pub mod tls;

/// Every gko binary (and the benches' bare TLS endpoint) allocates with mimalloc: an AdmissionReview
/// is parsed into a few hundred small objects, and glibc malloc took a quarter of the webhook's CPU
/// on them, with arena lock contention between the runtime's worker threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands memory freed after start-up (CRD schemas compiled, manifests parsed, caches filled) back to
/// the operating system, so that the idle footprint is what gko holds, not what it once parsed.
pub fn release_unused_memory() {
    extern "C" {
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect only frees mimalloc's own unused pages; it has no preconditions.
    unsafe { mi_collect(true) }
}
