//! PDF structure for signatures: reading a PDF's cross-reference chain and the few objects
//! a signature needs, on demand; appending a signature as an incremental update; finding
//! the signatures already in a file.
