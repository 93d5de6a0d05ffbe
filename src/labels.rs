//! Label maps of TU datasets (being written).
