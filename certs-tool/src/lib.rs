//! certs-tool: the gko webhook's CA and serving certificate.
//!
//! * [`ensure`] makes the cluster right: a CA and a serving certificate for the webhook Service in a
//!   `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, `ca.crt`, `ca.key`, and `ca-previous.crt`
//!   during a CA change), and the caBundle of every webhook of the named
//!   Validating/MutatingWebhookConfigurations. Idempotent; renews the serving certificate when less
//!   than a third of its life is left or its SANs changed; rotates the CA the same way, trusting
//!   old and new CA in the caBundle until the new serving certificate has been in use for
//!   [`CertConfig::ca_overlap`].
//! * [`check`] reads and plans without writing.
//! * [`plan()`] is the pure decision function behind both; [`Plan::materialize`] generates keys;
//!   [`apply`] writes.
//! * [`generate_self_signed`] / [`write_self_signed`] make certificates with no cluster.
//!
//! Private keys are held in [`PrivateKeyPem`], whose `Debug` is redacted; nothing here logs them.

pub mod cluster;
pub mod duration;
pub mod error;
pub mod pki;
pub mod plan;

pub use cluster::{
    apply, check, check_at, ensure, ensure_at, read_state, ClusterState, EnsureConfig,
    EnsureOutcome, DEFAULT_FIELD_MANAGER, SECRET_TYPE_TLS,
};
pub use duration::{format_duration, parse_duration};
pub use error::{Error, Result};
pub use pki::{
    generate_ca, generate_self_signed, issue_serving, parse_pem_bundle, pem_bundle, service_sans,
    write_self_signed, CertAndKey, CertInfo, Lifetime, PrivateKeyPem, San, SelfSigned,
};
pub use plan::{
    plan, webhook_patches, BundleEntry, CaAction, CertConfig, DroppedCa, Materialized, Plan,
    SecretMaterial, SecretWrite, ServingAction, WebhookConfigState, WebhookKind, WebhookPatch,
    WebhookState, CA_CRT, CA_KEY, CA_PREVIOUS, DEFAULT_BACKDATE, DEFAULT_CA_OVERLAP,
    DEFAULT_CA_VALIDITY, DEFAULT_SERVING_VALIDITY, TLS_CRT, TLS_KEY,
};
