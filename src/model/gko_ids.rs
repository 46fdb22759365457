//! The ids Gravitee's own operator (GKO) derives, so that gko can find again the APIs and plans GKO
//! created in APIM (see README, "Which ids gko uses"). Pure functions, no I/O.
//!
//! GKO writes no derived id into `spec`: it computes them on each reconcile from a seed `U(seed)`, the seed
//! being the UTF-8 bytes of concatenated strings (`namespace/name` for an API crossId,
//! `apiId/planName` for a plan crossId). Two derivations exist:
//! - [`Derivation::Xxh3`] (GKO 0.12.1 and later, all of 4.x): XXH3-128 of the seed, canonical big-endian,
//!   printed as a UUID (no version or variant bits are set);
//! - [`Derivation::V3`] (GKO 0.3.0 to 0.12.0): a name-based UUIDv3 in the URL namespace of the seed
//!   encoded as standard base64 without padding.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use uuid::Uuid;
use xxhash_rust::xxh3::xxh3_128;

/// Which GKO line derived an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derivation {
    /// GKO 0.12.1 and later, all of 4.x.
    Xxh3,
    /// GKO 0.3.0 to 0.12.0.
    V3,
}

impl Derivation {
    /// Both derivations, newest first: the order gko looks for an existing API in.
    pub const ALL: [Derivation; 2] = [Derivation::Xxh3, Derivation::V3];

    /// `U(seed)` for this derivation.
    pub fn derive(self, seed: &str) -> String {
        match self {
            Derivation::Xxh3 => xxh3_uuid(seed),
            Derivation::V3 => v3_uuid(seed),
        }
    }

    /// The GKO versions that used this derivation, for messages.
    pub fn versions(self) -> &'static str {
        match self {
            Derivation::Xxh3 => "GKO 0.12.1+ / 4.x",
            Derivation::V3 => "GKO 0.3.0-0.12.0",
        }
    }
}

/// `U(seed)` of GKO 0.12.1+ and 4.x: XXH3-128, high 64 bits first, as a lowercase 8-4-4-4-12 UUID.
pub fn xxh3_uuid(seed: &str) -> String {
    Uuid::from_u128(xxh3_128(seed.as_bytes())).to_string()
}

/// `U(seed)` of GKO 0.3.0-0.12.0: UUIDv3 (URL namespace) of the seed in standard base64 without padding.
pub fn v3_uuid(seed: &str) -> String {
    let encoded = STANDARD_NO_PAD.encode(seed.as_bytes());
    Uuid::new_v3(&Uuid::NAMESPACE_URL, encoded.as_bytes()).to_string()
}

/// GKO's API crossId for an ApiDefinition without one in status or spec: `U(namespace/name)`.
pub fn api_cross_id(derivation: Derivation, namespace: &str, name: &str) -> String {
    derivation.derive(&format!("{namespace}/{name}"))
}

/// GKO's plan crossId for a plan without one in spec: `U(apiId/planName)`.
pub fn plan_cross_id(derivation: Derivation, api_id: &str, plan_name: &str) -> String {
    derivation.derive(&format!("{api_id}/{plan_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's test vectors: seed, 4.x / 0.12.1+, 0.3.0-0.12.0.
    const VECTORS: [(&str, &str, &str); 5] = [
        (
            "default/my-api",
            "3d7306da-8a12-9e6b-9749-deaab5bcf711",
            "14b2e18f-dae3-3098-88a6-916acdd2c24f",
        ),
        (
            "payments/ledger",
            "8a95100c-7ffe-df42-98ab-0885989ffefe",
            "3a8d271e-05ac-3ccc-939c-555741a7d438",
        ),
        (
            "foobar",
            "3c9e1026-2899-7f44-ac87-b0b131c6992d",
            "076c4f02-25a8-3c21-be56-e849ca4f5560",
        ),
        (
            "3d7306da-8a12-9e6b-9749-deaab5bcf711/free",
            "51e65178-e7b0-3d3d-8cea-27f979ded5f7",
            "a65b2179-0996-3f0a-96ef-ff1426167bcb",
        ),
        (
            "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10/KEY_LESS",
            "d79d501b-71cd-6f71-4c13-958b6bc58081",
            "55813342-a2f4-3871-aedc-40176f3d42b6",
        ),
    ];

    #[test]
    fn xxh3_matches_every_reference_vector() {
        for (seed, xxh3, _) in VECTORS {
            assert_eq!(xxh3_uuid(seed), xxh3, "seed {seed}");
            assert_eq!(Derivation::Xxh3.derive(seed), xxh3, "seed {seed}");
        }
    }

    #[test]
    fn v3_matches_every_reference_vector() {
        for (seed, _, v3) in VECTORS {
            assert_eq!(v3_uuid(seed), v3, "seed {seed}");
            assert_eq!(Derivation::V3.derive(seed), v3, "seed {seed}");
        }
    }

    #[test]
    fn api_and_plan_seeds_join_with_a_slash() {
        assert_eq!(
            api_cross_id(Derivation::Xxh3, "default", "my-api"),
            "3d7306da-8a12-9e6b-9749-deaab5bcf711"
        );
        assert_eq!(
            api_cross_id(Derivation::V3, "payments", "ledger"),
            "3a8d271e-05ac-3ccc-939c-555741a7d438"
        );
        assert_eq!(
            plan_cross_id(
                Derivation::Xxh3,
                "3d7306da-8a12-9e6b-9749-deaab5bcf711",
                "free"
            ),
            "51e65178-e7b0-3d3d-8cea-27f979ded5f7"
        );
        assert_eq!(
            plan_cross_id(
                Derivation::V3,
                "6c1d9d0e-2f5e-4c1f-9a0e-6b2f0f6f2f10",
                "KEY_LESS"
            ),
            "55813342-a2f4-3871-aedc-40176f3d42b6"
        );
    }

    #[test]
    fn the_two_derivations_differ_and_v3_sets_version_bits() {
        let x = xxh3_uuid("team/orders");
        let v = v3_uuid("team/orders");
        assert_ne!(x, v);
        assert_eq!(
            Uuid::parse_str(&v).map(|u| u.get_version_num()).ok(),
            Some(3)
        );
    }
}
