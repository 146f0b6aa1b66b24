//! The sync engine: axis client adapters and the scheduler (issue 3; being written).
