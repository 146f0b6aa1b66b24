//! The reference axis's own store (issue 3; being written).
