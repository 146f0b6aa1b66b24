//! The reference provincial axis (issue 3; being written).
