//! SVG pictures of explanations (being written).
