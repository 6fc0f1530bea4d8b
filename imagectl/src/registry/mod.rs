//! Registry transfers (OCI distribution v2): pull, push, auth, catalog.
