//! Top-k selection of attributions (being written).
