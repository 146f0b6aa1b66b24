//! The PKCS#11 token worker: one thread owns the module and the session.
