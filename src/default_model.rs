//! The models shipped inside the crate.
//!
//! - [`synthetic`]: the tutorial architecture (5 × GraphConv, width 32, add
//!   pooling) trained by `scripts/make_fixtures.py` on the built-in synthetic
//!   molecules ([`crate::synthetic`]).
//! - [`mutagenicity`]: the same architecture trained by the same script on TU
//!   Mutagenicity (14 one-hot atom features, 2 classes).

use crate::{Error, GraphConvNet, Result};

static SYNTHETIC: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/synthetic_graphconv.safetensors"));
static MUTAGENICITY: &[u8] = include_bytes!(concat!(
    env!("OUT_DIR"),
    "/mutagenicity_graphconv.safetensors"
));

fn load(bytes: &[u8], name: &str) -> Result<GraphConvNet> {
    if bytes.is_empty() {
        return Err(Error::model(
            format!("<built-in {name}>"),
            "this build has no embedded model (models/ was missing at build time); run scripts/make_fixtures.py or pass --model",
        ));
    }
    GraphConvNet::from_safetensors_bytes(bytes, format!("<built-in {name}>"))
}

/// The model trained on the built-in synthetic dataset.
pub fn synthetic() -> Result<GraphConvNet> {
    load(SYNTHETIC, "models/synthetic_graphconv.safetensors")
}

/// The tutorial model trained on TU Mutagenicity.
pub fn mutagenicity() -> Result<GraphConvNet> {
    load(MUTAGENICITY, "models/mutagenicity_graphconv.safetensors")
}

/// The raw safetensors bytes of a built-in model (for hashing into output metadata).
pub fn bytes(name: &str) -> Option<&'static [u8]> {
    match name {
        "synthetic" => Some(SYNTHETIC),
        "mutagenicity" => Some(MUTAGENICITY),
        _ => None,
    }
}
